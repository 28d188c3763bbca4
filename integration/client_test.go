package integration

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
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
