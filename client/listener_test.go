package client

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// refusingDaemon answers Accept, Close and Events UNAVAILABLE, with reason (none
// when empty), as a daemon that is shutting down does, over a connection
// that stays up; it counts the calls.
type refusingDaemon struct {
	sockdv1.UnimplementedSocketServiceServer
	reason                   string
	accepts, closes, streams atomic.Int32
	// closesFrom, if set, is when Close starts to succeed.
	closesFrom time.Time
	closed     atomic.Bool
}

func (d *refusingDaemon) refusal() error {
	st := status.New(codes.Unavailable, "refused")
	if d.reason != "" {
		st, _ = st.WithDetails(&errdetails.ErrorInfo{Reason: d.reason, Domain: "sockd"})
	}
	return st.Err()
}

func (d *refusingDaemon) Accept(context.Context, *sockdv1.AcceptRequest) (*sockdv1.AcceptResponse, error) {
	d.accepts.Add(1)
	return nil, d.refusal()
}

func (d *refusingDaemon) Close(context.Context, *sockdv1.CloseRequest) (*sockdv1.CloseResponse, error) {
	d.closes.Add(1)
	if !d.closesFrom.IsZero() && time.Now().After(d.closesFrom) {
		d.closed.Store(true)
		return &sockdv1.CloseResponse{}, nil
	}
	return nil, d.refusal()
}

func (d *refusingDaemon) Events(*sockdv1.EventsRequest, grpc.ServerStreamingServer[sockdv1.EventsResponse]) error {
	d.streams.Add(1)
	return d.refusal()
}

// listenerOn serves d on a unix socket and returns a Listener of socket
// "l" of session "s", of grace, on a Client dialled to it.
func listenerOn(t *testing.T, d sockdv1.SocketServiceServer, grace time.Duration) *Listener {
	t.Helper()
	c := dialFake(t, d)
	lctx, lcancel := context.WithCancel(context.Background())
	return &Listener{sess: &Session{client: c, id: "s", grace: grace}, id: "l", network: "tcp", ctx: lctx, cancel: lcancel}
}

// dialFake serves d on a unix socket and returns a Client dialled to it.
func dialFake(t *testing.T, d sockdv1.SocketServiceServer) *Client {
	t.Helper()
	c, _ := dialStoppableFake(t, d)
	return c
}

// dialStoppableFake is dialFake, with a stop that ends the server at once.
func dialStoppableFake(t *testing.T, d sockdv1.SocketServiceServer) (*Client, func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "d.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.MaxRecvMsgSize(32 << 20))
	sockdv1.RegisterSocketServiceServer(g, d)
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, "unix://"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, g.Stop
}

// waitDrained waits for the background closes of l's session.
func waitDrained(t *testing.T, l *Listener) {
	t.Helper()
	for _, ch := range l.sess.client.drained(l.sess.id) {
		select {
		case <-ch:
		case <-time.After(15 * time.Second):
			t.Fatal("a background close did not end")
		}
	}
}

// A daemon that is shutting down (UNAVAILABLE, DRAINING) is not called
// again: its sessions and sockets are gone with it. Accept's error is
// final at once, and a Listener's Close counts its socket closed.
func TestListenerGivesUpOnADrainingDaemon(t *testing.T) {
	d := &refusingDaemon{reason: ReasonDraining}
	l := listenerOn(t, d, 10*time.Second)
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept from a draining daemon succeeded")
	}
	if n := d.accepts.Load(); n != 1 {
		t.Errorf("Accept called a draining daemon %d times, want once", n)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close on a draining daemon: %v", err)
	}
	waitDrained(t, l)
	if n := d.closes.Load(); n != 1 {
		t.Errorf("Close called a draining daemon %d times, want once", n)
	}
	// So does an event stream.
	es := l.sess.Events(context.Background(), 0)
	defer es.Close()
	awaitStreamEnd(t, es, "an event stream of a draining daemon")
	if ErrorReason(es.Err()) != ReasonDraining || d.streams.Load() != 1 {
		t.Errorf("the event stream ended with %v after %d calls, want DRAINING after one", es.Err(), d.streams.Load())
	}
}

// A daemon that answers UNAVAILABLE over a connection that is up is called
// again at the outage's pace, not at once in a loop: with a 2 s grace, a
// second of it takes a handful of calls.
func TestListenerPacesRefusalsOverALiveConnection(t *testing.T) {
	defer func(d time.Duration) { closeTimeout = d }(closeTimeout)
	closeTimeout = 2 * time.Second
	d := &refusingDaemon{}
	l := listenerOn(t, d, 2*time.Second)
	accepted := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		accepted <- err
	}()
	time.Sleep(time.Second)
	if n := d.accepts.Load(); n > 20 {
		t.Errorf("Accept called %d times in a second", n)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept ended by Close: %v, want net.ErrClosed", err)
	}
	before := d.closes.Load()
	time.Sleep(time.Second)
	if n := d.closes.Load() - before; n > 20 {
		t.Errorf("the background close called %d times in a second", n)
	}
	waitDrained(t, l)
}

// A close that meets a daemon out of reach calls again for as long as the
// session's grace may keep the socket, not only for one call's time.
func TestCloseWaitsOutAnOutageLongerThanACall(t *testing.T) {
	defer func(d time.Duration) { closeTimeout = d }(closeTimeout)
	closeTimeout = 200 * time.Millisecond
	d := &refusingDaemon{closesFrom: time.Now().Add(time.Second)}
	l := listenerOn(t, d, 5*time.Second)
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitDrained(t, l)
	if !d.closed.Load() {
		t.Errorf("the close gave up after %d calls, before the daemon took it", d.closes.Load())
	}
}

// A connection that failed before NewConn could use it is skipped by
// Accept: a socket error (PeerName's enotconn), or a Pipe refused because
// the peer's reset came between PeerName and the Pipe; other refusals are
// not the connection's.
func TestFailedConnection(t *testing.T) {
	refused := func(code codes.Code, reason string) error {
		st, _ := status.New(code, "refused").WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "sockd"})
		return st.Err()
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&SocketError{Proto: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: "enotconn"}}, true},
		{refused(codes.FailedPrecondition, reasons.NotConnectedStream), true},
		{refused(codes.FailedPrecondition, reasons.SocketStreamed), true},
		{refused(codes.FailedPrecondition, reasons.SocketReadDiffers), true},
		{refused(codes.FailedPrecondition, reasons.PolicyDenied), false},
		{refused(codes.NotFound, reasons.SocketNotFound), false},
		{status.Error(codes.Unavailable, "gone"), false},
	} {
		if got := failedConnection(c.err); got != c.want {
			t.Errorf("failedConnection(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// While the daemon is out of reach, tries double their wait up to a
// quarter of the grace, but come closer as the grace ends.
func TestOutageTriesComeCloserAsTheGraceEnds(t *testing.T) {
	o := newOutage(3 * time.Second)
	o.wait = o.maxWait
	for _, c := range []struct{ left, want time.Duration }{
		{10 * time.Second, 750 * time.Millisecond},
		{800 * time.Millisecond, 400 * time.Millisecond},
		{100 * time.Millisecond, 50 * time.Millisecond},
		{5 * time.Millisecond, 10 * time.Millisecond},
	} {
		if got := o.pace(c.left); got != c.want {
			t.Errorf("%v of the grace left: wait %v, want %v", c.left, got, c.want)
		}
	}
}

// lostPipeDaemon is out of reach for the first Accept, and for the
// accepted socket's SockName (the Conn's first call) the first time, as a
// daemon that closed the client's connection under each; the second
// SockName finds the socket failed, and the next Accept answers
// CANCELLED, which ends the test's Accept.
type lostPipeDaemon struct {
	sockdv1.UnimplementedSocketServiceServer
	accepts, sockNames atomic.Int32
	mu                 sync.Mutex
	requestIDs         []string // of the Accepts
}

func (d *lostPipeDaemon) Accept(_ context.Context, r *sockdv1.AcceptRequest) (*sockdv1.AcceptResponse, error) {
	d.mu.Lock()
	d.requestIDs = append(d.requestIDs, r.GetRequestId())
	d.mu.Unlock()
	switch d.accepts.Add(1) {
	case 1:
		return nil, status.Error(codes.Unavailable, "error reading from server: EOF")
	case 2:
		return &sockdv1.AcceptResponse{SocketId: "a"}, nil
	}
	return nil, status.Error(codes.Canceled, "the test is over")
}

func (d *lostPipeDaemon) SockName(context.Context, *sockdv1.SockNameRequest) (*sockdv1.SockNameResponse, error) {
	if d.sockNames.Add(1) == 1 {
		return nil, status.Error(codes.Unavailable, "error reading from server: EOF")
	}
	return &sockdv1.SockNameResponse{Error: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: "enotconn"}}, nil
}

func (d *lostPipeDaemon) Close(context.Context, *sockdv1.CloseRequest) (*sockdv1.CloseResponse, error) {
	return &sockdv1.CloseResponse{}, nil
}

// A daemon out of reach under an accept is called again with the
// accept's request id (its answer would be the connection the first call
// took); between the accept and its Conn's pipe, the pipe is tried again,
// and a connection that failed meanwhile is skipped: Accept goes on to the
// next with a new id (a reviewer's http.Serve once ended for good).
func TestListenerOutlivesAnOutageAfterAnAccept(t *testing.T) {
	d := &lostPipeDaemon{}
	l := listenerOn(t, d, 2*time.Second)
	_, err := l.Accept()
	if status.Code(err) != codes.Canceled || d.accepts.Load() != 3 || d.sockNames.Load() != 2 {
		t.Fatalf("Accept = %v after %d accepts, %d SockNames; want the third accept's CANCELLED after 2 SockNames", err, d.accepts.Load(), d.sockNames.Load())
	}
	ids := d.requestIDs
	if ids[0] == "" || ids[1] != ids[0] || ids[2] == ids[0] {
		t.Errorf("the accepts' request ids %q: want one, the same again after the outage, then a new one", ids)
	}
}

// lateCloseDaemon answers the Listener's close after closePrompt, so that
// Close cancels the waiting accept; the accept made again with its request
// id answers the connection the daemon had taken meanwhile.
type lateCloseDaemon struct {
	sockdv1.UnimplementedSocketServiceServer
	mu         sync.Mutex
	requestIDs []string
	closed     []string
}

func (d *lateCloseDaemon) Accept(ctx context.Context, r *sockdv1.AcceptRequest) (*sockdv1.AcceptResponse, error) {
	d.mu.Lock()
	d.requestIDs = append(d.requestIDs, r.GetRequestId())
	first := len(d.requestIDs) == 1
	d.mu.Unlock()
	if first {
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return &sockdv1.AcceptResponse{SocketId: "taken"}, nil
}

func (d *lateCloseDaemon) Close(_ context.Context, r *sockdv1.CloseRequest) (*sockdv1.CloseResponse, error) {
	if r.GetSocketId() == "l" {
		time.Sleep(2 * closePrompt)
	}
	d.mu.Lock()
	d.closed = append(d.closed, r.GetSocketId())
	d.mu.Unlock()
	return &sockdv1.CloseResponse{}, nil
}

// An accept that Close cancels is made again with its request id, and the
// connection the daemon had taken as it was cancelled is closed, not left
// in the session with its peer waiting.
func TestListenerCloseCollectsACancelledAccept(t *testing.T) {
	d := &lateCloseDaemon{}
	l := listenerOn(t, d, 2*time.Second)
	accepted := make(chan error, 1)
	go func() { _, err := l.Accept(); accepted <- err }()
	time.Sleep(50 * time.Millisecond)
	l.Close()
	if err := <-accepted; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept ended by Close: %v, want net.ErrClosed", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		d.mu.Lock()
		ids, closed := slices.Clone(d.requestIDs), slices.Clone(d.closed)
		d.mu.Unlock()
		if slices.Contains(closed, "taken") {
			if len(ids) != 2 || ids[0] == "" || ids[1] != ids[0] {
				t.Errorf("the accepts' request ids %q, want the cancelled one's made again", ids)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the connection the cancelled accept took was not closed (accepts %q, closes %q)", ids, closed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readLostDaemon accepts one connection; its first Pipe answers ready,
// then ends UNAVAILABLE before the read reaches it, as a connection that
// breaks there; its second pipe takes the read.
type readLostDaemon struct {
	sockdv1.UnimplementedSocketServiceServer
	accepts, pipes, closes atomic.Int32
	sawRead                atomic.Bool
}

func (d *readLostDaemon) Accept(ctx context.Context, r *sockdv1.AcceptRequest) (*sockdv1.AcceptResponse, error) {
	if d.accepts.Add(1) == 1 {
		return &sockdv1.AcceptResponse{SocketId: "a"}, nil
	}
	<-ctx.Done()
	return nil, status.FromContextError(ctx.Err()).Err()
}
func (d *readLostDaemon) SockName(context.Context, *sockdv1.SockNameRequest) (*sockdv1.SockNameResponse, error) {
	return &sockdv1.SockNameResponse{Address: &sockdv1.SockAddr{}}, nil
}
func (d *readLostDaemon) PeerName(context.Context, *sockdv1.PeerNameRequest) (*sockdv1.PeerNameResponse, error) {
	return &sockdv1.PeerNameResponse{Address: &sockdv1.SockAddr{}}, nil
}
func (d *readLostDaemon) Close(context.Context, *sockdv1.CloseRequest) (*sockdv1.CloseResponse, error) {
	d.closes.Add(1)
	return &sockdv1.CloseResponse{}, nil
}
func (d *readLostDaemon) Pipe(s sockdv1.SocketService_PipeServer) error {
	if _, err := s.Recv(); err != nil {
		return err
	}
	s.Send(&sockdv1.PipeResponse{Ready: true})
	if d.pipes.Add(1) == 1 {
		return status.Error(codes.Unavailable, "error reading from server: EOF")
	}
	for {
		r, err := s.Recv()
		if err != nil {
			return nil
		}
		if r.GetRead() {
			d.sawRead.Store(true)
		}
		if r.GetClose() {
			return nil
		}
	}
}

// A pipe whose stream ends before its read is sent is bound again: held,
// it had read nothing (a send to an ended stream says only io.EOF; the
// stream's status says UNAVAILABLE), and the connection is not closed.
// Whether the client learns of the end before it sends the read is gRPC's
// race (most runs do): one that sends it first returns the Conn, whose
// Read then fails (PipeStart.hold_reads says so).
func TestListenerBindsAgainWhenTheReadIsLost(t *testing.T) {
	d := &readLostDaemon{}
	l := listenerOn(t, d, 2*time.Second)
	conn, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept = %v after %d pipes, %d closes; want the connection, bound again", err, d.pipes.Load(), d.closes.Load())
	}
	defer conn.Close()
	if d.closes.Load() != 0 {
		t.Fatalf("%d closes: want the connection not closed", d.closes.Load())
	}
	if d.pipes.Load() == 1 {
		t.Log("the read was sent before the stream's end came: the Conn of the first pipe")
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for !d.sawRead.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the second pipe was not told to read")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
