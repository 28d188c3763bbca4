package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestClientPackageScenario drives one full scenario through the Go client
// library instead of the raw stubs: open, bind, listen, a nowait accept
// answered by a select event on the session's EventStream, connect, accept,
// send, recv, the error forms (SocketError sentinels and errnos, status
// reasons), and the end of the session ending its stream.
func TestClientPackageScenario(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw := daemon.Dial(t) // to end the session even if the test fails half-way
	c, err := client.Dial(ctx, daemon.Addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	name := uniqueName(t)
	s, err := c.CreateSession(ctx, name, time.Minute)
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		raw.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: s.ID()})
	})
	if s.Existing() {
		t.Fatalf("a fresh name returned an existing session")
	}
	again, err := c.CreateSession(ctx, name, time.Minute)
	if err != nil || !again.Existing() || again.ID() != s.ID() {
		t.Fatalf("create session %q again: %v existing=%v, want the same session", name, err, again.Existing())
	}
	events := s.Events(ctx, s.LastSequence())
	defer events.Close()

	open := func(d client.Domain, ty client.Type, p client.Protocol) string {
		t.Helper()
		resp, err := s.Open(ctx, d, ty, p, client.OpenOpts{})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return resp.GetSocketId()
	}
	l := open(client.Inet, client.Stream, client.TCP)
	loopback, err := client.ParseAddr("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Bind(ctx, l, loopback); err != nil {
		t.Fatalf("bind: %v", err)
	}
	if _, err := s.Listen(ctx, l, client.DefaultBacklog); err != nil {
		t.Fatalf("listen: %v", err)
	}
	sockname, err := s.SockName(ctx, l)
	if err != nil {
		t.Fatalf("sockname: %v", err)
	}
	addr := sockname.GetAddress()

	pending, err := s.Accept(ctx, l, client.Nowait(7))
	if err != nil {
		t.Fatalf("nowait accept: %v", err)
	}
	if pending.GetAsync().GetHandle() != 7 {
		t.Fatalf("nowait accept: %v, want select with handle 7", pending)
	}

	conn := open(client.Inet, client.Stream, client.TCP)
	if _, err := s.Connect(ctx, conn, addr, client.Millis(5000)); err != nil {
		t.Fatalf("connect: %v", err)
	}
	ev := nextClientEvent(t, events)
	if ev.GetSelect().GetHandle() != 7 || ev.GetSocketId() != l {
		t.Fatalf("event %v, want select for handle 7 on the listener", ev)
	}
	acc, err := s.Accept(ctx, l, client.Nowait(7))
	if err != nil || acc.GetSocketId() == "" {
		t.Fatalf("accept after select: %v %v", acc, err)
	}
	srv := acc.GetSocketId()

	if _, err := s.Send(ctx, conn, []byte("via client"), client.Infinity); err != nil {
		t.Fatalf("send: %v", err)
	}
	got, err := s.Recv(ctx, srv, int64(len("via client")), client.Millis(5000))
	if err != nil || string(got.GetData()) != "via client" {
		t.Fatalf("recv: %q %v", got.GetData(), err)
	}

	// A timeout is a *SocketError matching ErrTimeout, with the response.
	idle, err := s.Recv(ctx, srv, 0, client.Millis(50))
	var se *client.SocketError
	if !errors.As(err, &se) || !errors.Is(err, client.ErrTimeout) || idle == nil {
		t.Fatalf("recv on an idle socket: %v %v, want a timeout SocketError with the response", idle, err)
	}
	// A POSIX outcome matches its errno.
	s.CloseSocket(ctx, l)
	refused := open(client.Inet, client.Stream, client.TCP)
	if _, err := s.Connect(ctx, refused, addr, client.Millis(5000)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect to a closed port: %v, want econnrefused", err)
	}
	// A failed call is a status error with the daemon's reason.
	if _, err := s.Info(ctx, "ffffffffffffffffffffffffffffffff"); client.ErrorReason(err) != "SOCKET_NOT_FOUND" {
		t.Fatalf("info of an unknown socket: %v, want SOCKET_NOT_FOUND", err)
	}

	if err := s.Close(ctx); err != nil {
		t.Fatalf("close session: %v", err)
	}
	for range events.C() {
	}
	if !errors.Is(events.Err(), client.ErrSessionEnded) {
		t.Fatalf("event stream of a closed session ended with %v, want ErrSessionEnded", events.Err())
	}
}

// nextClientEvent returns the next event of an EventStream, skipping markers.
func nextClientEvent(t testing.TB, es *client.EventStream) *sockdv1.EventsResponse {
	t.Helper()
	timeout := time.After(eventWait)
	for {
		select {
		case ev, ok := <-es.C():
			if !ok {
				t.Fatalf("event stream ended: %v", es.Err())
			}
			if !isMarker(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no event within %v", eventWait)
		}
	}
}

// TestClientSendsLargeDataInPieces: Session.Send of more than one call
// carries goes out in pieces, all of it in order, within its timeout as a
// whole; and an answer of the largest Recv fits gRPC's default 4 MiB limit.
func TestClientSendsLargeDataInPieces(t *testing.T) {
	t.Parallel()
	raw := newSession(t)
	c, srv := raw.pair(t, tcp4)
	// A bound on a hang only: on a loaded machine the 20 MiB alone took 19 s.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := client.Dial(ctx, daemon.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s, err := cl.CreateSession(ctx, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)

	data := payload("large", 20<<20+3)
	received := goCall(func() result[[]byte] {
		var got []byte
		for len(got) < len(data) {
			rctx, rcancel := raw.call()
			resp, err := raw.api.Recv(rctx, &sockdv1.RecvRequest{SocketId: srv, Timeout: millis(eventWait.Milliseconds())})
			rcancel()
			if err != nil || resp.GetError() != nil {
				return result[[]byte]{got, fmt.Errorf("recv: %v %v", err, resp.GetError())}
			}
			got = append(got, resp.GetData()...)
		}
		return result[[]byte]{got, nil}
	})
	resp, err := s.Send(ctx, c, data, client.Infinity)
	if err != nil || resp.GetBytesSent() != uint64(len(data)) {
		t.Fatalf("send of %d bytes: %v %v", len(data), resp, err)
	}
	r := await(t, "the peer reads it all", received)
	if r.err != nil || !bytes.Equal(r.resp, data) {
		t.Fatalf("peer got %d bytes (%v), want %d in order", len(r.resp), r.err, len(data))
	}

	// Nobody reads now: the pieces stop at the timeout, which bounds the
	// whole call, and the response says what went out.
	start := time.Now()
	resp, err = s.Send(ctx, c, data, client.Millis(300))
	if !errors.Is(err, client.ErrTimeout) || resp.GetError().GetReason() != "timeout" {
		t.Fatalf("send to a peer that does not read: %v %v, want timeout", resp, err)
	}
	if took := time.Since(start); took > 10*time.Second { // a hang; a loaded machine is slow
		t.Fatalf("a 300 ms send took %v", took)
	}
	if resp.GetBytesSent()+resp.GetBytesUnsent() != uint64(len(data)) || resp.GetBytesSent() < options.MaxRcvBufBytes {
		t.Fatalf("sent %d + unsent %d, want %d in all, at least %d sent", resp.GetBytesSent(), resp.GetBytesUnsent(), len(data), options.MaxRcvBufBytes)
	}

	// The largest recv answers within gRPC's default limit, which a stock
	// client (the raw stubs) keeps; more is refused. Its bytes are there:
	// the timeout only bounds a hang (gathering them took over 2 s on a
	// loaded machine).
	rctx, rcancel := raw.ctx(time.Minute)
	defer rcancel()
	big, err := raw.api.Recv(rctx, &sockdv1.RecvRequest{SocketId: srv, Length: options.MaxRcvBufBytes, Timeout: millis(30_000)})
	if err != nil || len(big.GetData()) != options.MaxRcvBufBytes {
		t.Fatalf("recv of %d bytes by a stock client: %d %v %v", options.MaxRcvBufBytes, len(big.GetData()), big.GetError(), err)
	}
	if _, err := s.Recv(ctx, srv, options.MaxRcvBufBytes+1, client.Millis(0)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("recv of more than the bound: %v, want INVALID_ARGUMENT", err)
	}

	// A seqpacket socket's record is not cut into pieces: the largest one
	// call carries goes whole, a larger one is refused before any call.
	c2, srv2 := raw.pair(t, seqpL)
	raw.mustSetOpt(t, c2, optKey(sockL, "sndbuf"), intValue(4<<20))
	raw.mustSetOpt(t, srv2, optKey(sockL, "rcvbuf"), intValue(4<<20))
	var tooLarge *client.DataTooLargeError
	if resp, err := s.Send(ctx, c2, payload("record", client.MaxCallData+1), client.Millis(5000)); !errors.As(err, &tooLarge) {
		t.Fatalf("send of a record past MaxCallData: %v %v, want DataTooLargeError", resp, err)
	}
	record := payload("record", client.MaxCallData)
	if resp, err := s.Send(ctx, c2, record, client.Millis(5000)); err != nil || resp.GetBytesSent() != uint64(len(record)) {
		t.Fatalf("send of a %d-byte record: %v %v", len(record), resp, err)
	}
	// One record arrives (larger than a recv takes: truncated), and no
	// second one that a cut would have made.
	if got, err := raw.api.RecvMsg(rctx, &sockdv1.RecvMsgRequest{SocketId: srv2, BufferSize: options.MaxRcvBufBytes, Timeout: millis(2000)}); err != nil || got.GetError() != nil {
		t.Fatalf("recvmsg of the record: %v %v", got, err)
	}
	if got, err := raw.api.RecvMsg(rctx, &sockdv1.RecvMsgRequest{SocketId: srv2, Timeout: millis(300)}); err != nil || got.GetError().GetReason() != "timeout" {
		t.Fatalf("a second record after the first: %d bytes %v %v, want none", len(bytes.Join(got.GetIov(), nil)), got.GetError(), err)
	}
}
