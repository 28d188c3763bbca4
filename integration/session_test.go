package integration

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Sessions are the Erlang processes of the model (DESIGN §2): when one dies
// (CloseSession, or its grace period expires with no Events stream) its
// sockets close as if its owner exited (reference §2.7), other sessions
// waiting on them get abort{Handle, closed}, and its own waits on other
// sessions' sockets are withdrawn so that the next waiter is activated.

// TestSessionDeath runs the death scenario for both ways a session dies.
func TestSessionDeath(t *testing.T) {
	t.Parallel()
	t.Run("CloseSession", func(t *testing.T) {
		t.Parallel()
		sessionDeathScenario(t, newSession(t), func(dying *rawSession) {
			closeSession(t, dying)
		})
	})
	t.Run("GraceExpiry", func(t *testing.T) {
		t.Parallel()
		dying := newRawSessionGrace(t, time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		stream, err := dying.api.Events(ctx, &sockdv1.EventsRequest{SessionId: dying.id})
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := stream.Recv(); err != nil || ev.GetCaughtUp() == nil {
			t.Fatalf("first message of a new stream: %v %v, want caught_up", ev, err)
		}
		sessionDeathScenario(t, dying, func(dying *rawSession) {
			cancel() // the stream drops; the 1 s grace starts
			// The session outlives its stream for the grace period: it can
			// still open a socket.
			in := dying.info(t, dying.open(t, udp4))
			if in.GetOwner() != dying.id {
				t.Fatalf("session died at once when its stream dropped: %v", in)
			}
		})
	})
}

// sessionDeathScenario sets up the dying session's sockets and waits, kills it
// with kill, and checks what the other sessions see.
func sessionDeathScenario(t *testing.T, dying *rawSession, kill func(*rawSession)) {
	other := newSession(t)
	otherEv := other.events(t, 0)

	// The dying session owns a listener another session waits on, and a
	// connected pair with its own nowait recv pending.
	l, _ := dying.listener(t, tcp4)
	c, srv := dying.pair(t, tcp4)
	recv := dying.recv(t, srv, 0, nowait())
	requireAsync(t, "dying session's nowait recv", recv.GetAsync(), sockdv1.Operation_OPERATION_RECV)
	acc := other.acceptT(t, l, nowait())
	otherOnDying := requireAsync(t, "other's nowait accept on the dying session's listener", acc.GetAsync(), sockdv1.Operation_OPERATION_ACCEPT)

	// On the other session's listener, the dying session is the current
	// acceptor and the other session is queued behind it.
	ml, maddr := other.listener(t, tcp4)
	first := dying.acceptT(t, ml, nowait())
	requireAsync(t, "dying session's nowait accept", first.GetAsync(), sockdv1.Operation_OPERATION_ACCEPT)
	queued := other.acceptT(t, ml, nowait())
	otherQueued := requireAsync(t, "other's queued nowait accept", queued.GetAsync(), sockdv1.Operation_OPERATION_ACCEPT)
	if n := other.info(t, ml).GetNumAcceptors(); n != 2 {
		t.Fatalf("num_acceptors = %d, want 2", n)
	}

	kill(dying)

	// The other session's wait on the dead session's listener is aborted.
	otherEv.expectAbort(t, l, otherOnDying, sockdv1.SocketError_KIND_CLOSED)
	// Every socket of the dead session is closed, with no owner (Erlang's
	// owner undefined); its id still answers.
	for _, id := range []string{l, c, srv} {
		waitSocketDead(t, other, id)
	}
	// Its queued accept on the other's listener was withdrawn: the other
	// session is now current and is told when a connection arrives.
	other.waitAcceptors(t, ml, 1)
	other.connect(t, other.open(t, tcp4), maddr)
	otherEv.expectSelect(t, ml, otherQueued)

	// The dead session itself is unknown now.
	ctx, cancel := dying.call()
	defer cancel()
	_, err := dying.api.Open(ctx, &sockdv1.OpenRequest{Domain: tcp4.domain, Type: tcp4.typ})
	requireStatus(t, "open in a dead session", err, codes.NotFound, "SESSION_NOT_FOUND")
	_, err = dying.api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: dying.id})
	requireStatus(t, "close a dead session", err, codes.NotFound, "SESSION_NOT_FOUND")
}

// TestCloseSessionEndsItsBlockingCalls: a session's blocking call on
// another session's socket fails when it is closed as a call of an ended
// session does (NOT_FOUND, SESSION_NOT_FOUND): Erlang's process is dead and
// hears nothing, and the socket outcome cancelled, which it answered, reads
// as a cancel to retry (a reviewer). One on its own socket, which closes
// with it, may answer closed.
func TestCloseSessionEndsItsBlockingCalls(t *testing.T) {
	t.Parallel()
	dying, other := newSession(t), newSession(t)
	_, own := dying.pair(t, tcp4)
	_, others := other.pair(t, tcp4)
	type answer struct {
		resp *sockdv1.RecvResponse
		err  error
	}
	var blocked []<-chan answer
	for _, id := range []string{own, others} {
		blocked = append(blocked, goCall(func() answer {
			ctx, cancel := dying.call()
			defer cancel()
			resp, err := dying.api.Recv(ctx, &sockdv1.RecvRequest{SocketId: id, Timeout: infinity()})
			return answer{resp, err}
		}))
		other.waitInfo(t, id, "num_readers == 1", func(in *sockdv1.SocketInfo) bool { return in.GetNumReaders() == 1 })
	}
	closeSession(t, dying)
	if a := await(t, "the recv on its own socket", blocked[0]); a.err != nil {
		requireStatus(t, "a blocking recv on its own socket", a.err, codes.NotFound, "SESSION_NOT_FOUND")
	} else if a.resp.GetError().GetKind() != sockdv1.SocketError_KIND_CLOSED {
		t.Errorf("a blocking recv on its own socket answered %v, want closed or SESSION_NOT_FOUND", a.resp)
	}
	requireStatus(t, "a blocking recv on another's socket", await(t, "the recv", blocked[1]).err, codes.NotFound, "SESSION_NOT_FOUND")
}

// waitSocketDead polls Info of id until the socket is closed and has no
// owner, as a socket whose owner died.
func waitSocketDead(t testing.TB, s *rawSession, id string) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		in := s.info(t, id)
		if in.GetFd() < 0 && in.GetOwner() == "" && slices.Contains(in.GetRstates(), "closed") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket %s still open or owned %v after its session died: %v", id, eventWait, in)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCloseSessionEndsItsStream: the Events stream of a session that is
// closed ends cleanly, after delivering what the session held.
func TestCloseSessionEndsItsStream(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	ev := s.events(t, 0)
	l, _ := s.listener(t, tcp4)
	requireAsync(t, "nowait accept", s.acceptT(t, l, nowait()).GetAsync(), sockdv1.Operation_OPERATION_ACCEPT)
	closeSession(t, s)
	// Its own waiter is aborted as the socket closes; whether that abort
	// still reaches the ending stream is not specified, but the stream must
	// end cleanly.
	if err := ev.expectEnd(t); err != nil {
		t.Fatalf("stream of a closed session ended with %v, want a clean end", err)
	}
}

// produceEvents makes n events for s cheaply: each nowait accept on l
// replaces the previous one, whose handle gets abort{cancelled} (otp18635).
// The first call on a listener with no acceptor produces no event.
func produceEvents(t testing.TB, s *rawSession, l string, n int) {
	t.Helper()
	for range n {
		requireAsync(t, "nowait accept", s.acceptT(t, l, nowait()).GetAsync(), sockdv1.Operation_OPERATION_ACCEPT)
	}
}

// TestEventsResumeWithoutLoss: events produced while a stream is attached,
// while it is dropped, and after it is re-attached with after_sequence = the
// last sequence seen arrive exactly once, in order, with contiguous sequence
// numbers; the caught_up marker follows the replay; attaching a second stream
// ends the first with ABORTED.
func TestEventsResumeWithoutLoss(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	l, _ := s.listener(t, tcp4)
	produceEvents(t, s, l, 1) // the current acceptor; no event yet

	first := s.events(t, 0)
	if m := first.nextRaw(t); m.GetCaughtUp() == nil {
		t.Fatalf("first message of a stream on a quiet session: %v, want caught_up", m)
	}
	produceEvents(t, s, l, 10)
	var seen []uint64
	for range 5 { // read half, then drop the stream
		seen = append(seen, first.expectEvent(t).GetSequence())
	}
	first.cancel()
	if err := first.expectEnd(t); codeOf(err) != codes.Canceled {
		t.Fatalf("dropped stream ended with %v", err)
	}
	produceEvents(t, s, l, 10) // while detached

	second := s.events(t, seen[len(seen)-1])
	// Replay: the 5 unread events and the 10 produced while detached.
	for range 15 {
		m := second.nextRaw(t)
		if m.GetCaughtUp() != nil {
			t.Fatalf("caught_up after %d replayed events, want 15 first", len(seen)-5)
		}
		if m.GetAbort() == nil || m.GetSocketId() != l {
			t.Fatalf("replayed %v, want an abort{cancelled} of %s", m, l)
		}
		seen = append(seen, m.GetSequence())
	}
	if m := second.nextRaw(t); m.GetCaughtUp() == nil || m.GetSequence() != 0 {
		t.Fatalf("after the replay: %v, want the caught_up marker (sequence 0)", m)
	}
	produceEvents(t, s, l, 5) // live
	for range 5 {
		seen = append(seen, second.expectEvent(t).GetSequence())
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] != seen[i-1]+1 {
			t.Fatalf("sequences not contiguous: %v", seen)
		}
	}
	second.expectNoEvent(t)

	third := s.events(t, seen[len(seen)-1])
	if err := second.expectEnd(t); codeOf(err) != codes.Aborted {
		t.Fatalf("replaced stream ended with %v, want ABORTED", err)
	} else {
		requireStatus(t, "replaced stream", err, codes.Aborted, "EVENT_STREAM_REPLACED")
	}
	if m := third.nextRaw(t); m.GetCaughtUp() == nil {
		t.Fatalf("third stream resumed at the last sequence: %v, want only caught_up", m)
	}
	third.expectNoEvent(t)
}

// A reader that only follows the stream says what it read with its Events
// call, and never again: that alone does not make the session count the
// events it goes on reading as unread. (A reviewer's `sockctl events
// --follow --after 1` had the other processes' calls on its session
// refused once half the backlog of 16 had been sent, all of it read.)
func TestAFollowingReaderDoesNotStallOtherCallers(t *testing.T) {
	t.Parallel()
	d := dedicatedDaemon(t, filepath.Join(t.TempDir(), "d"), "--event-backlog", "16")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() *client.Client {
		c, err := client.Dial(ctx, d.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	caller, err := dial().CreateSession(ctx, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close(ctx)
	unknown := strings.Repeat("0", 32)
	if _, err := caller.Monitor(ctx, unknown); err != nil { // event 1
		t.Fatal(err)
	}
	reader := dial().ResumeSession(caller.ID()).Events(ctx, 1)
	defer reader.Close()
	go func() {
		for range reader.C() { // reads every event as it comes
		}
	}()
	const calls = 40
	for i := range calls {
		if _, err := caller.Monitor(ctx, unknown); err != nil {
			t.Fatalf("call %d, its events read as they come: %v", i, err)
		}
		time.Sleep(5 * time.Millisecond) // the reader keeps up
	}
}

// A no-follow read of the held events while another stream follows the
// session only reads: the follower goes on, and sends the same events and
// those after. (A reviewer's `sockctl events` ended a `sockctl events
// --follow` elsewhere, which then missed what came next.)
func TestHeldEventsLeaveAFollowerRunning(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer cancel()
	follower := s.Events(ctx, s.LastSequence())
	defer follower.Close()
	next := func() *sockdv1.EventsResponse {
		t.Helper()
		for {
			select {
			case ev, ok := <-follower.C():
				if !ok {
					t.Fatalf("the follower ended: %v", follower.Err())
				}
				if ev.GetDown() != nil {
					return ev
				}
			case <-ctx.Done():
				t.Fatal("no event")
			}
		}
	}
	unknown := strings.Repeat("0", 32)
	first, err := s.Monitor(ctx, unknown)
	if err != nil {
		t.Fatal(err)
	}
	if got := next().GetDown().GetMonitorId(); got != first {
		t.Fatalf("the follower's first down is monitor %s, want %s", got, first)
	}
	held, err := s.HeldEvents(ctx, 0)
	if err != nil || len(held) == 0 || held[len(held)-1].GetDown().GetMonitorId() != first {
		t.Fatalf("held events %v, %v; want the first monitor's down", held, err)
	}
	second, err := s.Monitor(ctx, unknown)
	if err != nil {
		t.Fatal(err)
	}
	if got := next().GetDown().GetMonitorId(); got != second {
		t.Fatalf("after a no-follow read the follower's next down is monitor %s, want %s", got, second)
	}
}

// A client that says which events it read (the client package does, with
// each call) has those it has not read kept and counted: a backlog of 16
// refuses calls that would owe an event once 8 are unread, though its
// stream's transport took them all, and a resume after the last it read
// replays every one, with no gap. (A reviewer's client that stopped
// reading had 1,534 calls accepted with such a backlog, and lost events on
// the resume.)
func TestEventsTheClientHasNotReadAreKept(t *testing.T) {
	t.Parallel()
	d := dedicatedDaemon(t, filepath.Join(t.TempDir(), "d"), "--event-backlog", "16")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, d.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.CreateSession(ctx, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	events := s.Events(ctx, 0)
	next := func(es *client.EventStream) *sockdv1.EventsResponse {
		t.Helper()
		for {
			select {
			case ev, ok := <-es.C():
				if !ok {
					t.Fatalf("the stream ended: %v", es.Err())
				}
				if ev.GetGap() != nil {
					t.Fatalf("a gap: %v", ev)
				}
				if ev.GetCaughtUp() == nil {
					return ev
				}
			case <-time.After(eventWait):
				return nil
			}
		}
	}
	unknown := strings.Repeat("0", 32)
	accepted := 0
	for ; ; accepted++ {
		_, err := s.Monitor(ctx, unknown) // a down event at once
		if status.Code(err) == codes.ResourceExhausted {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if accepted < 3 && next(events) == nil { // the client reads 3
			t.Fatal("no down event")
		}
		if accepted > 100 {
			t.Fatal("calls owing events are not refused while the client reads none of them")
		}
	}
	if accepted > 3+8+1 {
		t.Fatalf("%d calls accepted with 8 of a backlog of 16 for unread events, 3 read", accepted)
	}
	events.Close()
	resumed := s.Events(ctx, events.Last())
	defer resumed.Close()
	for i := 3; i < accepted; i++ {
		if next(resumed) == nil {
			t.Fatalf("the resume replayed %d of the %d unread events", i-3, accepted-3)
		}
	}
}
