package integration

import (
	"context"
	"errors"
	"io"
	"slices"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func dialConn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	return grpcConnTo(t, daemon.Addr)
}

// grpcConnTo is a plain gRPC connection to the daemon at addr.
func grpcConnTo(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestReflectionListsTheAPI is what `grpcurl -plaintext -unix PATH list` asks.
func TestReflectionListsTheAPI(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(dialConn(t)).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"sockd.v1.SocketService", "grpc.health.v1.Health"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != nil && !errors.Is(err, io.EOF) {
		t.Logf("closing reflection stream: %v", err)
	}
}

func TestHealthServing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	health := healthpb.NewHealthClient(dialConn(t))
	for _, svc := range []string{"", sockdv1.SocketService_ServiceDesc.ServiceName} {
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("health %q: %v", svc, err)
		}
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %q = %v", svc, resp.Status)
		}
	}
}

// TestShutdownDoesNotWaitForHealthWatchers: a health Watch and a reflection
// stream, which never end by themselves, end once the socket service has
// drained (the Watch told NOT_SERVING), rather than hold the daemon until
// --stop-timeout.
func TestShutdownDoesNotWaitForHealthWatchers(t *testing.T) {
	t.Parallel()
	d, err := StartDaemon(t.TempDir(), "--stop-timeout", "20s")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(d.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: sockdv1.SocketService_ServiceDesc.ServiceName})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := watch.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health status: %v %v", r, err)
	}
	// A reflection stream left open, as grpcui keeps one: it waits in
	// Recv and never looks at its context.
	refl, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := refl.Recv(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := d.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the daemon took %v to stop with a health watcher", took)
	}
	if r, err := watch.Recv(); err == nil && r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("the watcher heard %v, want NOT_SERVING or the end", r)
	}
	// Its end says the daemon went away, not that the client cancelled.
	for {
		if _, err := watch.Recv(); err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Errorf("the watch ended with %v, want UNAVAILABLE", err)
			}
			break
		}
	}
}

// TestShutdownDoesNotWaitForLingers: a daemon that stops closes as an
// exiting process does, without lingering: a Close call lingering on a TCP
// socket whose peer reads nothing is answered at once, and a background
// close lingering in the kernel (MPTCP's, where the kernel has it) does not
// hold the stop, though both lingers are 30 s and the stop timeout 20 s.
func TestShutdownDoesNotWaitForLingers(t *testing.T) {
	t.Parallel()
	d, err := StartDaemon(t.TempDir(), "--stop-timeout", "20s")
	if err != nil {
		t.Fatal(err)
	}
	peers := tcpListener(t) // accepts, and reads nothing
	go func() {
		for {
			c, err := peers.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	peer, err := client.ParseAddr(peers.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// lingering opens a socket of protocol p connected to a peer that reads
	// nothing, its buffers full and SO_LINGER 30 s.
	lingering := func(s *client.Session, p client.Protocol) (string, bool) {
		open, err := s.Open(ctx, client.Inet, client.Stream, p, client.OpenOpts{})
		if errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.ENOPROTOOPT) {
			return "", false
		}
		if err != nil {
			t.Fatal(err)
		}
		id := open.GetSocketId()
		if _, err := s.Connect(ctx, id, peer, client.Infinity); err != nil {
			t.Fatal(err)
		}
		for chunk := make([]byte, 1<<20); ; {
			if _, err := s.Send(ctx, id, chunk, client.Millis(100)); errors.Is(err, client.ErrTimeout) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		key := &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, Name: "linger"}
		if _, err := s.SetOpt(ctx, id, key, &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Linger{Linger: &sockdv1.Linger{Onoff: true, Linger: 30}}}); err != nil {
			t.Fatal(err)
		}
		return id, true
	}
	s := clientSessionOn(t, d.Addr, time.Minute)
	tcp, _ := lingering(s, client.TCP)
	closed := goCall(func() error { _, err := s.CloseSocket(context.Background(), tcp); return err })
	mptcpSession := clientSessionOn(t, d.Addr, time.Minute)
	if _, ok := lingering(mptcpSession, client.Protocol{Number: 262}); ok { // IPPROTO_MPTCP
		if err := mptcpSession.Close(ctx); err != nil { // its socket closes in the background
			t.Fatal(err)
		}
	} else {
		t.Log("no MPTCP in this kernel: only the TCP linger is tried")
	}
	time.Sleep(300 * time.Millisecond) // the closes linger
	start := time.Now()
	if err := d.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the daemon took %v to stop with lingering closes", took)
	}
	if err := await(t, "the lingering Close call", closed); err != nil {
		t.Errorf("the Close call lingering as the daemon stopped: %v, want ok", err)
	}
}

// TestSecondSignalEndsTheDrain: a drain held open by a client that does not
// read its events waits up to --stop-timeout, through a SIGHUP (a policy
// reload that a unit or an operator may send at any time); a second SIGTERM
// ends the daemon at once.
func TestSecondSignalEndsTheDrain(t *testing.T) {
	t.Parallel()
	d, err := StartDaemon(t.TempDir(), "--stop-timeout", "60s")
	if err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			d.Kill()
		}
	}()
	s := sessionOn(t, d)
	// An event stream nobody reads, and more events than its window holds.
	sctx, scancel := s.ctx(time.Minute)
	defer scancel()
	if _, err := s.api.Events(sctx, &sockdv1.EventsRequest{SessionId: s.id}); err != nil {
		t.Fatal(err)
	}
	id := s.open(t, udp4)
	for range 4000 {
		s.monitor(t, id)
	}
	s.close(t, id) // 4000 down events
	time.Sleep(200 * time.Millisecond)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		exited = true
		t.Fatalf("the drain did not wait for the unread events: exit %v", err)
	case <-time.After(time.Second):
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		exited = true
		t.Fatalf("a SIGHUP during the drain ended the daemon: exit %v", err)
	case <-time.After(time.Second):
	}
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
		exited = true
		d.stderr.Close()
		if took := time.Since(start); took > 3*time.Second {
			t.Fatalf("the second signal took %v", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a second SIGTERM did not end the drain")
	}
}

// TestShutdownFlushesEventsToASlowReader: a drain delivers every event a
// session holds to a client that reads them slowly, and then ends the
// stream cleanly, within --stop-timeout.
func TestShutdownFlushesEventsToASlowReader(t *testing.T) {
	t.Parallel()
	d, err := StartDaemon(t.TempDir(), "--stop-timeout", "30s")
	if err != nil {
		t.Fatal(err)
	}
	s := sessionOn(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	events, err := s.api.Events(metadata.AppendToOutgoingContext(ctx, "sockd-session", s.id), &sockdv1.EventsRequest{SessionId: s.id})
	if err != nil {
		t.Fatal(err)
	}
	id := s.open(t, udp4)
	const monitors = 3000
	for range monitors {
		s.monitor(t, id)
	}
	s.close(t, id) // one down event per monitor
	stopped := goCall(func() error { return d.Stop() })
	downs := 0
	for {
		ev, err := events.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("the stream ended with %v after %d down events", err, downs)
			}
			break
		}
		if ev.GetDown() != nil {
			downs++
			time.Sleep(300 * time.Microsecond) // a slow reader: the drain outlasts half a second
		}
	}
	if downs != monitors {
		t.Fatalf("%d down events delivered, want %d", downs, monitors)
	}
	if err := await(t, "the daemon stops", stopped); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestSocketCapLeavesTheListenersRoom: at the daemon's socket cap (by
// default its descriptor limit less a reserve; here --max-sockets) an open
// is refused with RESOURCE_EXHAUSTED, and a new client can still connect
// and be served, so that an administrator can come and close sockets.
func TestSocketCapLeavesTheListenersRoom(t *testing.T) {
	t.Parallel()
	d := dedicatedDaemon(t, t.TempDir(), "--max-sockets", "40")
	s := sessionOn(t, d)
	var ids []string
	for {
		sctx, scancel := s.call()
		r, err := s.api.Open(sctx, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_DGRAM})
		scancel()
		if err != nil {
			requireStatus(t, "an open past the socket cap", err, codes.ResourceExhausted, "QUOTA_EXCEEDED")
			break
		}
		ids = append(ids, r.GetSocketId())
		if len(ids) > 40 {
			t.Fatalf("%d sockets opened past a cap of 40", len(ids))
		}
	}
	if len(ids) != 40 {
		t.Fatalf("%d sockets opened before the cap of 40", len(ids))
	}
	other := d.Dial(t) // a new connection
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := other.GlobalInfo(ctx, &sockdv1.GlobalInfoRequest{}); err != nil {
		t.Fatalf("a new client at the socket cap: %v", err)
	}
	s.close(t, ids[0])
	s.open(t, udp4) // a place again
}

// TestStreamsPerConnectionAreBounded: --max-streams bounds the calls and
// streams one connection has in progress (each is a goroutine in the
// daemon, even one whose request never comes): past it a client's next call
// waits for one to end.
func TestStreamsPerConnectionAreBounded(t *testing.T) {
	t.Parallel()
	d := dedicatedDaemon(t, t.TempDir(), "--max-streams", "2")
	first := sessionOn(t, d)
	// A second session on the same connection.
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := first.api.CreateSession(ctx, &sockdv1.CreateSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	second := &rawSession{t: t, api: first.api, id: resp.GetSessionId()}
	// Two event streams, each in progress once its first marker arrives.
	streams := []*eventReader{first.events(t, 0), second.events(t, 0)}
	for _, r := range streams {
		if ev := r.nextRaw(t); !isMarker(ev) {
			t.Fatalf("first message of a new event stream: %v", ev)
		}
	}
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	if _, err := first.api.GlobalInfo(short, &sockdv1.GlobalInfoRequest{}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a third call with two streams in progress and --max-streams 2: %v, want it to wait (DEADLINE_EXCEEDED)", err)
	}
	streams[1].cancel()
	if _, err := first.api.GlobalInfo(ctx, &sockdv1.GlobalInfoRequest{}); err != nil {
		t.Fatalf("a call once a stream ended: %v", err)
	}
}

// TestConnectionsAreBounded: past --max-connections a new client's
// connection is closed at once, so it cannot reach the daemon, while the
// clients connected keep being served; a place given back is taken again.
func TestConnectionsAreBounded(t *testing.T) {
	t.Parallel()
	d := dedicatedDaemon(t, t.TempDir(), "--max-connections", "2")
	dial := func() (*client.Client, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return client.Dial(ctx, d.Addr)
	}
	// dialServed dials until a connection is served: the daemon's own
	// readiness probe may still hold a place for a moment.
	dialServed := func() *client.Client {
		t.Helper()
		deadline := time.Now().Add(callTimeout)
		for {
			c, err := dial()
			if err == nil {
				t.Cleanup(func() { c.Close() })
				return c
			}
			if time.Now().After(deadline) {
				t.Fatalf("no connection served within %v: %v", callTimeout, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	first, second := dialServed(), dialServed()
	if c, err := dial(); err == nil {
		c.Close()
		t.Fatal("a third connection past --max-connections 2 was served")
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	for _, c := range []*client.Client{first, second} {
		if _, err := c.GlobalInfo(ctx); err != nil {
			t.Fatalf("a client connected within the limit: %v", err)
		}
	}
	second.Close()
	if _, err := dialServed().GlobalInfo(ctx); err != nil {
		t.Fatalf("a client in the place given back: %v", err)
	}
}
