package integration

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// TestCancelledCompletionsLoseNothingOverGRPC: through the daemon, its
// event stream and the client library, completion recvs cancelled at
// random while data trickles in lose and repeat nothing: each recv's bytes
// come once, from its answer, its cancel's answer or its event, and a
// cancelled recv's never from an event (none follows its Cancel): a result
// on its way on the stream is its Cancel's answer.
func TestCancelledCompletionsLoseNothingOverGRPC(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*callTimeout)
	defer cancel()
	id, peer := connectedStream(ctx, t, s)
	const total = 64 << 10
	sent := make([]byte, total)
	for i := range sent {
		sent[i] = byte(i*131 + i>>9)
	}
	go func() {
		for off := 0; off < total; {
			n := min(1+off%499, total-off)
			if _, err := peer.Write(sent[off : off+n]); err != nil {
				return
			}
			off += n
			time.Sleep(time.Millisecond) // slower than a call: recvs wait and gather
		}
	}()
	events := s.Events(ctx, s.LastSequence())
	defer events.Close()

	var got []byte
	var partial, late int
	for i := 0; len(got) < total; i++ {
		want := min(int64(500+i*7%3000), int64(total-len(got)))
		r, err := s.Recv(ctx, id, want, client.NowaitCompletion(0))
		if err != nil {
			t.Fatalf("recv %d: %v", i, err)
		}
		if r.GetAsync() == nil {
			got = append(got, r.GetData()...)
			continue
		}
		handle := r.GetAsync().GetHandle()
		if i%3 != 0 {
			time.Sleep(time.Duration(i%4) * time.Millisecond)
			resp, err := s.Cancel(ctx, id, r.GetAsync())
			var se *client.SocketError
			if err != nil && !errors.As(err, &se) {
				t.Fatalf("cancel %d: %v", i, err)
			}
			if c := resp.GetCompletion(); c != nil {
				got = append(got, c.GetRecv().GetData()...)
				partial++
				continue
			}
			if resp.GetError() == nil {
				continue // cancelled before it read anything
			}
			late++ // too late: the completion is on the stream
			t.Errorf("cancel %d answered %v without the result, which was not taken: it would come as an event after the cancel", i, resp.GetError())
		}
		for answered := false; !answered; {
			select {
			case ev, ok := <-events.C():
				if !ok {
					t.Fatalf("event stream ended: %v", events.Err())
				}
				if c := ev.GetCompletion(); c != nil && c.GetHandle() == handle {
					got = append(got, c.GetRecv().GetData()...)
					answered = true
				}
			case <-ctx.Done():
				t.Fatalf("recv %d: no completion", i)
			}
		}
	}
	t.Logf("%d cancels answered partial work or a result on its way", partial)
	if partial == 0 {
		t.Error("no cancel answered partial work: the test did not exercise it")
	}
	if !bytes.Equal(got, sent) {
		n := 0
		for n < min(len(got), len(sent)) && got[n] == sent[n] {
			n++
		}
		t.Fatalf("got %d bytes, sent %d; first difference at %d", len(got), len(sent), n)
	}
}

// TestCancelAnswersACompletionTheStreamHolds: a completion the client
// library has received but the caller not yet taken from C is the answer
// of a Cancel of its operation, and no event follows the Cancel, as none
// follows Erlang's; one the caller took first is not answered again.
func TestCancelAnswersACompletionTheStreamHolds(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer cancel()
	id, peer := connectedStream(ctx, t, s)
	events := s.Events(ctx, s.LastSequence())
	defer events.Close()
	next := func(wait time.Duration) *sockdv1.EventsResponse {
		t.Helper()
		select {
		case ev, ok := <-events.C():
			if !ok {
				t.Fatalf("event stream ended: %v", events.Err())
			}
			return ev
		case <-time.After(wait):
			return nil
		}
	}
	if ev := next(callTimeout); ev.GetCaughtUp() == nil {
		t.Fatalf("first event %v, want caught_up", ev)
	}

	r, err := s.Recv(ctx, id, 5, client.NowaitCompletion(42))
	if err != nil || r.GetAsync() == nil {
		t.Fatalf("completion recv: %v %v", r, err)
	}
	peer.Write([]byte("hello"))
	time.Sleep(300 * time.Millisecond) // its completion reaches the library, which offers it on C
	resp, err := s.Cancel(ctx, id, r.GetAsync())
	if got := resp.GetCompletion().GetRecv().GetData(); string(got) != "hello" {
		t.Fatalf("cancel answered %v (%v), want the completion with \"hello\"", resp, err)
	}
	if ev := next(300 * time.Millisecond); ev != nil {
		t.Fatalf("an event after Cancel returned: %v", ev)
	}

	// Taken first: the event, and not the cancel's answer.
	r, err = s.Recv(ctx, id, 5, client.NowaitCompletion(43))
	if err != nil || r.GetAsync() == nil {
		t.Fatalf("completion recv: %v %v", r, err)
	}
	peer.Write([]byte("world"))
	ev := next(callTimeout)
	if string(ev.GetCompletion().GetRecv().GetData()) != "world" {
		t.Fatalf("event %v, want the completion with \"world\"", ev)
	}
	resp, err = s.Cancel(ctx, id, r.GetAsync())
	var se *client.SocketError
	if !errors.As(err, &se) || resp.GetCompletion() != nil {
		t.Fatalf("cancel of a completion taken: %v, %v; want invalid and no result", resp, err)
	}

	// Taken, and cancelled through another handle of the session, which
	// says nothing of what the stream's reader took: not answered again.
	r, err = s.Recv(ctx, id, 5, client.NowaitCompletion(44))
	if err != nil || r.GetAsync() == nil {
		t.Fatalf("completion recv: %v %v", r, err)
	}
	peer.Write([]byte("again"))
	if ev := next(callTimeout); string(ev.GetCompletion().GetRecv().GetData()) != "again" {
		t.Fatalf("event %v, want the completion with \"again\"", ev)
	}
	resp, err = s.Client().ResumeSession(s.ID()).Cancel(ctx, id, r.GetAsync())
	if !errors.As(err, &se) || resp.GetCompletion() != nil {
		t.Fatalf("another handle's cancel of a completion taken: %v, %v; want invalid and no result", resp, err)
	}
}

// TestCancelDropsAReceivedSelect: a select the client library has received
// but the caller not yet taken from C is void once Cancel returns, as one
// still on its way is (Erlang's cancel flushes the mailbox): the next event
// the caller takes is the one after it.
func TestCancelDropsAReceivedSelect(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer cancel()
	id, peer := connectedStream(ctx, t, s)
	events := s.Events(ctx, s.LastSequence())
	defer events.Close()
	next := func() *sockdv1.EventsResponse { t.Helper(); return nextEvent(ctx, t, events) }
	if ev := next(); ev.GetCaughtUp() == nil {
		t.Fatalf("first event %v, want caught_up", ev)
	}

	r, err := s.Recv(ctx, id, 0, client.Nowait(42))
	if err != nil || r.GetAsync() == nil {
		t.Fatalf("nowait recv: %v %v, want a select", r, err)
	}
	peer.Write([]byte("x"))
	time.Sleep(300 * time.Millisecond) // the select reaches the library, which offers it on C
	if _, err := s.Cancel(ctx, id, r.GetAsync()); err != nil {
		t.Fatal(err)
	}
	// Something after it: a nowait accept's select on another socket.
	lid := acceptSelectOnNewListener(ctx, t, s, 43)
	if ev := next(); ev.GetSocketId() != lid || ev.GetSelect().GetHandle() != 43 {
		t.Fatalf("after the cancel the caller took %v, want the accept's select (handle 43)", ev)
	}
}

// TestCancelDropsAReceivedAbort: an abort the client library has received
// but the caller not yet taken from C is void once Cancel of its handle
// returns, though the cancel answers invalid (the abort came first): a
// reviewer's queued reader, aborted by its peer's close, had its abort
// delivered after the Cancel.
func TestCancelDropsAReceivedAbort(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer cancel()
	id, peer := connectedStream(ctx, t, s)
	events := s.Events(ctx, s.LastSequence())
	defer events.Close()
	next := func() *sockdv1.EventsResponse { t.Helper(); return nextEvent(ctx, t, events) }
	if ev := next(); ev.GetCaughtUp() == nil {
		t.Fatalf("first event %v, want caught_up", ev)
	}

	go s.Recv(ctx, id, 0, client.Infinity) // the current reader
	eventually(t, "the current reader", func() bool {
		info, err := s.Info(ctx, id)
		return err == nil && info.GetNumReaders() == 1
	})
	r, err := s.Recv(ctx, id, 0, client.Nowait(77)) // queued
	if err != nil || r.GetAsync() == nil {
		t.Fatalf("queued nowait recv: %v %v, want a select", r, err)
	}
	peer.Close()                       // the queued reader's abort, closed
	time.Sleep(300 * time.Millisecond) // the abort reaches the library, which offers it on C
	if _, err := s.Cancel(ctx, id, r.GetAsync()); err != nil && !isInvalid(err) {
		t.Fatalf("cancel after the abort: %v, want ok or invalid", err)
	}
	// Something after it: a nowait accept's select on another socket.
	lid := acceptSelectOnNewListener(ctx, t, s, 43)
	if ev := next(); ev.GetSocketId() != lid || ev.GetSelect().GetHandle() != 43 {
		t.Fatalf("after the cancel the caller took %v, want the accept's select (handle 43)", ev)
	}
}

// isInvalid reports whether err is the in-band invalid of a socket call.
func isInvalid(err error) bool {
	var se *client.SocketError
	return errors.As(err, &se) && se.Kind() == sockdv1.SocketError_KIND_INVALID
}

// TestCancelVoidsASelectTwoStreamsHold: a select that a stream the daemon
// replaced (not closed by its caller) and the stream that replaced it both
// hold is void for both once Cancel returns: the one that looks first must
// not use the cancel up.
func TestCancelVoidsASelectTwoStreamsHold(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer cancel()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	id := boundOnLoopback(ctx, t, s, client.Dgram, client.UDP)
	name, err := s.SockName(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	to, err := net.ResolveUDPAddr("udp4", client.FormatAddr(name.GetAddress()))
	if err != nil {
		t.Fatal(err)
	}
	old := s.Events(ctx, s.LastSequence())
	defer old.Close()
	if ev := <-old.C(); ev.GetCaughtUp() == nil {
		t.Fatalf("first event %v, want caught_up", ev)
	}
	r, err := s.RecvFrom(ctx, id, 100, client.Nowait(7))
	if err != nil || r.GetAsync() == nil {
		t.Fatalf("nowait recvfrom: %v %v", r, err)
	}
	peer.WriteTo([]byte("x"), to)
	time.Sleep(100 * time.Millisecond) // the old stream holds the select, offering it
	current := s.Events(ctx, old.Last())
	defer current.Close()
	time.Sleep(100 * time.Millisecond) // the new one holds it too
	if _, err := s.Cancel(ctx, id, r.GetAsync()); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(300 * time.Millisecond)
	for {
		select {
		case ev := <-current.C():
			if ev.GetSelect() != nil {
				t.Fatalf("the cancelled select came after Cancel returned: %v", ev)
			}
		case <-deadline:
			return
		}
	}
}

// nextEvent is the next event the caller takes from events.
func nextEvent(ctx context.Context, t *testing.T, events *client.EventStream) *sockdv1.EventsResponse {
	t.Helper()
	select {
	case ev, ok := <-events.C():
		if !ok {
			t.Fatalf("event stream ended: %v", events.Err())
		}
		return ev
	case <-ctx.Done():
		t.Fatal("no event")
	}
	return nil
}

// boundOnLoopback opens an inet socket of typ and protocol bound to a port
// of 127.0.0.1 the kernel picks, and returns its id.
func boundOnLoopback(ctx context.Context, t *testing.T, s *client.Session, typ client.Type, protocol client.Protocol) string {
	t.Helper()
	open, err := s.Open(ctx, client.Inet, typ, protocol, client.OpenOpts{})
	if err != nil {
		t.Fatal(err)
	}
	id := open.GetSocketId()
	any4, _ := client.ParseAddr("127.0.0.1:0")
	if _, err := s.Bind(ctx, id, any4); err != nil {
		t.Fatal(err)
	}
	return id
}

// acceptSelectOnNewListener opens a listener, has a nowait accept with
// handle wait on it and a peer connect, so that its select comes next; it
// returns the listener's id.
func acceptSelectOnNewListener(ctx context.Context, t *testing.T, s *client.Session, handle uint64) string {
	t.Helper()
	lid := boundOnLoopback(ctx, t, s, client.Stream, client.TCP)
	if _, err := s.Listen(ctx, lid, 1); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Accept(ctx, lid, client.Nowait(handle)); err != nil || a.GetAsync() == nil {
		t.Fatalf("nowait accept: %v %v", a, err)
	}
	name, err := s.SockName(ctx, lid)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp4", client.FormatAddr(name.GetAddress()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return lid
}
