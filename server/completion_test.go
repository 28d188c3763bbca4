package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func recvCompletion(n int) *sockdv1.EventsResponse {
	return &sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_Completion{Completion: &sockdv1.CompletionEvent{
		Status: &sockdv1.CompletionEvent_Recv{Recv: &sockdv1.RecvResponse{Data: make([]byte, n)}}}}}
}

// The log counts the received bytes it holds for the client until they are
// sent, as the ring drops sent events and grows to keep unsent ones.
func TestEventLogCountsUnsentPayload(t *testing.T) {
	l := newEventLog(3)
	l.append(recvCompletion(100))
	l.append(&sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_Select{Select: &sockdv1.SelectEvent{}}})
	l.append(recvCompletion(10))
	if l.unsentBytes != 110 {
		t.Fatalf("unsentBytes = %d, want 110", l.unsentBytes)
	}
	l.markSent(1)
	if l.unsentBytes != 10 {
		t.Fatalf("after sending 1: unsentBytes = %d, want 10", l.unsentBytes)
	}
	l.markSent(1) // a replay sends it again: nothing changes
	if l.unsentBytes != 10 {
		t.Fatalf("after resending 1: unsentBytes = %d, want 10", l.unsentBytes)
	}
	l.append(recvCompletion(1000)) // pushes out 1, already sent
	l.append(recvCompletion(5))    // 2 is unsent: the ring grows instead
	l.append(recvCompletion(7))
	if l.unsentBytes != 1022 {
		t.Fatalf("after growing: unsentBytes = %d, want 1022", l.unsentBytes)
	}
	l.markSent(l.last())
	if l.unsentBytes != 0 {
		t.Fatalf("all sent: unsentBytes = %d, want 0", l.unsentBytes)
	}
}

// Each operation's result comes out as the response its call would give.
func TestCompletionEventEncoding(t *testing.T) {
	sa := &engine.SockAddr{Family: engine.FamilyUnspec}
	cases := []struct {
		op   engine.Op
		c    engine.Completion
		want func(*sockdv1.CompletionEvent) bool
	}{
		{engine.OpConnect, engine.Completion{Connect: &engine.ConnectResult{Err: unix.ECONNREFUSED}}, func(e *sockdv1.CompletionEvent) bool {
			return e.GetConnect().GetError().GetReason() == "econnrefused"
		}},
		{engine.OpSendTo, engine.Completion{Send: &engine.SendResult{Sent: 3, Unsent: 2, Err: engine.ErrClosed}}, func(e *sockdv1.CompletionEvent) bool {
			s := e.GetSend()
			return s.GetBytesSent() == 3 && s.GetBytesUnsent() == 2 && s.GetError().GetKind() == sockdv1.SocketError_KIND_CLOSED
		}},
		{engine.OpRecv, engine.Completion{Recv: &engine.RecvResult{Data: []byte("ab")}}, func(e *sockdv1.CompletionEvent) bool {
			return string(e.GetRecv().GetData()) == "ab" && e.GetRecv().GetError() == nil
		}},
		{engine.OpRecvFrom, engine.Completion{Recv: &engine.RecvResult{Data: []byte("x"), From: sa}}, func(e *sockdv1.CompletionEvent) bool {
			return string(e.GetRecvfrom().GetData()) == "x" && e.GetRecvfrom().GetSource() != nil
		}},
		{engine.OpRecvMsg, engine.Completion{Recv: &engine.RecvResult{Data: []byte("m"), Flags: unix.MSG_TRUNC}}, func(e *sockdv1.CompletionEvent) bool {
			m := e.GetRecvmsg()
			return len(m.GetIov()) == 1 && string(m.GetIov()[0]) == "m" && len(m.GetFlags()) == 1 && m.GetFlags()[0] == sockdv1.MsgFlag_MSG_FLAG_TRUNC
		}},
		{engine.OpAccept, engine.Completion{Accept: &engine.AcceptResult{Err: unix.EMFILE}}, func(e *sockdv1.CompletionEvent) bool {
			return e.GetAccept().GetSocketId() == "" && e.GetAccept().GetError().GetReason() == "emfile"
		}},
	}
	for _, c := range cases {
		got := completionEvent(engine.Event{Kind: engine.EventCompletion, Op: c.op, Handle: 9, Completion: &c.c})
		if got.GetHandle() != 9 || got.GetOperation() != encodeOp(c.op) || !c.want(got) {
			t.Errorf("op %v: encoded %v", c.op, got)
		}
	}
}

// Once a session holds MaxCompletionBytes of received data that its stream
// has not sent, new completion-mode calls are refused with
// RESOURCE_EXHAUSTED; select mode, which holds no data, is not.
func TestAdmissionBoundsCompletionBytes(t *testing.T) {
	svc := New(Config{Limits: Limits{MaxCompletionBytes: 100}})
	sess, _, err := svc.sessions.create(Principal{Kind: "uid", UID: 1}, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.sessions.end(sess)
	completion := engine.Timeout{Kind: engine.WaitNowait, Completion: true}
	selectMode := engine.Timeout{Kind: engine.WaitNowait}
	admit := func(t engine.Timeout, reserve int) error {
		reserved, err := svc.admitNowait(sess, t, func() int { return reserve })
		if err == nil {
			sess.Hold(-reserved)
		}
		return err
	}
	if err := admit(completion, 10); err != nil {
		t.Fatalf("empty session refused: %v", err)
	}
	sess.mu.Lock()
	sess.events.append(recvCompletion(100))
	sess.mu.Unlock()
	if code := status.Code(admit(completion, 10)); code != codes.ResourceExhausted {
		t.Fatalf("completion over the bound: %v, want RESOURCE_EXHAUSTED", code)
	}
	if err := admit(selectMode, 10); err != nil {
		t.Fatalf("select mode refused: %v", err)
	}
	sess.mu.Lock()
	sess.events.markSent(sess.events.last())
	sess.mu.Unlock()
	if err := admit(completion, 10); err != nil {
		t.Fatalf("refused after the stream sent the data: %v", err)
	}

	// Calls admitted together see each other's reservations: of ten calls
	// of 30 bytes taken at once, four fit under 100 (0, 30, 60, 90 held
	// when each was admitted) and the fifth is refused.
	var reservations []int
	for range 10 {
		if reserved, err := svc.admitNowait(sess, completion, func() int { return 30 }); err == nil {
			reservations = append(reservations, reserved)
		}
	}
	if len(reservations) != 4 {
		t.Fatalf("%d of 10 concurrent 30-byte calls admitted under a bound of 100, want 4", len(reservations))
	}
	for _, reserved := range reservations {
		sess.Hold(-reserved)
	}
	if held := sess.heldPayload(); held != 0 {
		t.Fatalf("held %d after every release, want 0", held)
	}
}

// What waiting completions keep counts against MaxCompletionBytes too: a
// completion-mode stream recv(N) holds up to N bytes until it completes, so
// a session cannot post one on every socket it has. Cancelling or closing
// gives the bytes back.
func TestAdmissionCountsWaitingCompletions(t *testing.T) {
	l := newLive(t, Limits{MaxCompletionBytes: 1 << 20})
	svc, sess, ctx := l.svc, l.sess, l.ctx
	connected := func() *engine.Socket { s, _ := l.connected(t); return s }
	completionRecv := func(s *engine.Socket, n int64) (*sockdv1.RecvResponse, error) {
		return svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: s.ID(), Length: n, Timeout: &sockdv1.Timeout{
			Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION}}}})
	}
	a, b, c := connected(), connected(), connected()
	first, err := completionRecv(a, 768<<10)
	if err != nil || first.GetAsync() == nil {
		t.Fatalf("first completion recv: %v %v", first, err)
	}
	if r, err := completionRecv(b, 768<<10); err != nil || r.GetAsync() == nil {
		t.Fatalf("second completion recv (768 KiB held, under 1 MiB): %v %v", r, err)
	}
	if held := sess.heldPayload(); held != 1536<<10 {
		t.Fatalf("held %d bytes, want the two lengths", held)
	}
	if _, err := completionRecv(c, 1); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third completion recv over the bound: %v, want RESOURCE_EXHAUSTED", err)
	}
	if _, err := svc.Cancel(ctx, &sockdv1.CancelRequest{SocketId: a.ID(), Info: first.GetAsync()}); err != nil {
		t.Fatal(err)
	}
	if r, err := completionRecv(c, 1); err != nil || r.GetAsync() == nil {
		t.Fatalf("completion recv after a cancel gave bytes back: %v %v", r, err)
	}
	b.Close()
	c.Close()
	if held := sess.heldPayload(); held != 0 {
		t.Fatalf("held %d bytes after cancel and close, want 0", held)
	}

	// A recvfrom keeps no buffer while it waits, but its completion will
	// carry up to its buffer: pending ones count, or a session could post
	// recvfrom(8 MiB) on every socket and have them all complete at once.
	completionRecvFrom := func(s *engine.Socket, n int64) (*sockdv1.RecvFromResponse, error) {
		return svc.RecvFrom(ctx, &sockdv1.RecvFromRequest{SocketId: s.ID(), BufferSize: n, Timeout: &sockdv1.Timeout{
			Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION}}}})
	}
	if r, err := completionRecvFrom(connected(), 1<<20); err != nil || r.GetAsync() == nil {
		t.Fatalf("completion recvfrom: %v %v", r, err)
	}
	if held := sess.heldPayload(); held != 1<<20 {
		t.Fatalf("held %d bytes with a recvfrom(1 MiB) pending, want 1 MiB", held)
	}
	if _, err := completionRecvFrom(connected(), 1); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("completion recvfrom over the bound: %v, want RESOURCE_EXHAUSTED", err)
	}
}

// A select taken back by a cancel owes the client nothing: a session no
// stream reads can go on waiting, being told, cancelling and reading far
// past its backlog of undelivered events (it was refused from the backlog's
// half on), and holds no more events than its ring. Behind an event it
// does owe, the ones taken back keep their places until a stream passes
// them, so that there they count towards the whole backlog.
func TestCancelledSelectsAreNotOwed(t *testing.T) {
	const backlog = 4
	l := newLiveWith(t, Config{Sessions: SessionLimits{EventBacklog: backlog}})
	lastEvent := func() uint64 {
		l.sess.mu.Lock()
		defer l.sess.mu.Unlock()
		return l.sess.events.last()
	}
	heldEvents := func() int {
		l.sess.mu.Lock()
		defer l.sess.mu.Unlock()
		return l.sess.events.count
	}
	nowaitRecv := func(s *engine.Socket) (*sockdv1.RecvResponse, error) {
		return l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: s.ID(), Length: 1, Timeout: &sockdv1.Timeout{
			Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{}}}})
	}
	s, peer := l.connected(t)
	// round waits, is told, cancels and reads; it reports the nowait
	// call's refusal.
	round := func(i int) error {
		t.Helper()
		r, err := nowaitRecv(s)
		if err != nil {
			return err
		}
		if r.GetAsync() == nil {
			t.Fatalf("round %d: nowait recv answered %v", i, r)
		}
		before := lastEvent()
		if _, err := peer.Write([]byte{'x'}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the select", func() bool { return lastEvent() > before })
		if c, err := l.svc.Cancel(l.ctx, &sockdv1.CancelRequest{SocketId: s.ID(), Info: r.GetAsync()}); err != nil || c.GetError() != nil {
			t.Fatalf("round %d: cancel: %v %v", i, c, err)
		}
		if d, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: s.ID(), Length: 1}); err != nil || len(d.GetData()) != 1 {
			t.Fatalf("round %d: recv: %v %v", i, d, err)
		}
		return nil
	}
	for i := range 10 * backlog {
		if err := round(i); err != nil {
			t.Fatalf("round %d with nothing owed: %v", i, err)
		}
	}
	if held := heldEvents(); held > backlog {
		t.Fatalf("%d events held after %d withdrawn selects, want at most the backlog %d", held, 10*backlog, backlog)
	}

	// One select the session does owe: the ones taken back after it wait
	// for a stream to pass them, up to the backlog in all.
	owed, owedPeer := l.connected(t)
	if r, err := nowaitRecv(owed); err != nil || r.GetAsync() == nil {
		t.Fatalf("nowait recv: %v %v", r, err)
	}
	owedSeq := lastEvent() + 1
	if _, err := owedPeer.Write([]byte{'x'}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the owed select", func() bool { return lastEvent() == owedSeq })
	for i := range backlog - 1 {
		if err := round(i); err != nil {
			t.Fatalf("round %d behind an owed event: %v", i, err)
		}
	}
	if err := round(backlog); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("with the backlog of %d unsent (one owed): %v, want RESOURCE_EXHAUSTED", backlog, err)
	}

	// A stream sends the owed select alone and passes the ones taken back,
	// which are then trimmed as sent events; a stream resuming after the
	// select is told of no gap, as it missed nothing.
	replay := func(after uint64) (got []*sockdv1.EventsResponse) {
		t.Helper()
		stream := &scriptedStream{ctx: l.ctx, send: func(_ int32, ev *sockdv1.EventsResponse) error {
			got = append(got, ev)
			return nil
		}}
		if err := l.svc.Events(&sockdv1.EventsRequest{SessionId: l.sess.id, AfterSequence: after, NoFollow: true}, stream); err != nil {
			t.Fatalf("Events after %d: %v", after, err)
		}
		return got
	}
	if got := replay(0); len(got) != 2 || got[0].GetSequence() != owedSeq || got[0].GetSelect() == nil || got[1].GetCaughtUp() == nil {
		t.Fatalf("events after 0 = %v, want the owed select (%d), then caught_up", got, owedSeq)
	}
	if held := heldEvents(); held > backlog {
		t.Fatalf("%d events held once a stream passed them, want at most the backlog %d", held, backlog)
	}
	if got := replay(owedSeq); len(got) != 1 || got[0].GetCaughtUp() == nil {
		t.Fatalf("events after %d = %v, want caught_up alone", owedSeq, got)
	}
	if err := round(0); err != nil {
		t.Fatalf("a round once the stream passed them: %v", err)
	}
}

// A client that stops reading its event stream loses nothing: completions
// of operations admitted before it stopped (here far more than the event
// backlog) are all held, in order, with their bytes, which are no longer in
// the sockets; only new nowait calls are refused.
func TestStalledStreamLosesNoCompletion(t *testing.T) {
	const backlog, sockets = 4, 100 // the ring once stopped growing at 16 times its backlog
	l := newLiveWith(t, Config{Sessions: SessionLimits{EventBacklog: backlog}})
	type pair struct {
		s    *engine.Socket
		peer net.Conn
	}
	var pairs []pair
	for range sockets {
		s, peer := l.connected(t)
		r, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: s.ID(), Length: 8, Timeout: &sockdv1.Timeout{
			Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION}}}})
		if err != nil || r.GetAsync() == nil {
			t.Fatalf("completion recv: %v %v", r, err)
		}
		pairs = append(pairs, pair{s, peer})
	}
	for i, p := range pairs {
		if _, err := fmt.Fprintf(p.peer, "data%04d", i); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		l.sess.mu.Lock()
		defer l.sess.mu.Unlock()
		return l.sess.events.count
	}
	eventually(t, "every completion", func() bool { return count() == sockets })
	l.sess.mu.Lock()
	held := l.sess.events.after(0, 2*sockets)
	first := l.sess.events.firstHeld()
	l.sess.mu.Unlock()
	if first != 1 || len(held) != sockets {
		t.Fatalf("held %d events from sequence %d, want all %d from 1", len(held), first, sockets)
	}
	got := map[string]string{}
	for _, ev := range held {
		got[ev.GetSocketId()] = string(ev.GetCompletion().GetRecv().GetData())
	}
	for i, p := range pairs {
		if want := fmt.Sprintf("data%04d", i); got[p.s.ID()] != want {
			t.Errorf("socket %d: completion data %q, want %q", i, got[p.s.ID()], want)
		}
	}
	s, _ := l.connected(t)
	if _, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: s.ID(), Length: 8, Timeout: &sockdv1.Timeout{
		Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{}}}}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("nowait recv with %d events unsent: %v, want RESOURCE_EXHAUSTED", sockets, err)
	}
}

// heldPayload is heldLocked under the session's lock.
func (s *Session) heldPayload() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heldLocked()
}

// Cancel takes back the events of its handle that the session holds and
// has not sent: a select logged just before the cancel never reaches the
// client, and a completion logged just before it is answered by the cancel
// instead of an event. A completion recv cut short answers with its bytes.
func TestCancelWithdrawsHeldEventsAndKeepsResults(t *testing.T) {
	l := newLive(t, Limits{})
	svc, sess, ctx := l.svc, l.sess, l.ctx
	nowait := func(mode sockdv1.AsyncMode) *sockdv1.Timeout {
		return &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Mode: mode}}}
	}
	held := func() []*sockdv1.EventsResponse {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		var out []*sockdv1.EventsResponse
		for _, ev := range sess.events.after(0, 1000) {
			if ev.Event != nil {
				out = append(out, ev)
			}
		}
		return out
	}

	sock, peerConn := l.connected(t)
	sel, err := svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Timeout: nowait(sockdv1.AsyncMode_ASYNC_MODE_SELECT)})
	if err != nil || sel.GetAsync() == nil {
		t.Fatal(sel, err)
	}
	peerConn.Write([]byte("x"))
	eventually(t, "the select logged", func() bool { return len(held()) == 1 })
	resp, err := svc.Cancel(ctx, &sockdv1.CancelRequest{SocketId: sock.ID(), Info: sel.GetAsync()})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(held()); n != 0 {
		t.Fatalf("%d events still held after the cancel", n)
	}
	if resp.GetFlushedThrough() != 1 {
		t.Fatalf("flushed_through %d, want 1", resp.GetFlushedThrough())
	}

	// The "x" is still in the socket; a completion recv(3) gathers it.
	rc, err := svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Length: 3, Timeout: nowait(sockdv1.AsyncMode_ASYNC_MODE_COMPLETION)})
	if err != nil || rc.GetAsync() == nil {
		t.Fatal(rc, err)
	}
	eventually(t, "x gathered", func() bool { return sock.Info().Counters.ReadByte == 1 })
	resp, err = svc.Cancel(ctx, &sockdv1.CancelRequest{SocketId: sock.ID(), Info: rc.GetAsync()})
	if err != nil || resp.GetError() != nil {
		t.Fatal(resp, err)
	}
	if got := resp.GetCompletion().GetRecv(); string(got.GetData()) != "x" || got.GetError().GetReason() != "cancelled" {
		t.Fatalf("cancel of a recv that had gathered x: %v", resp.GetCompletion())
	}

	// A completion already logged, not yet sent: the cancel is too late
	// (invalid) and answers with it; the stream never sees it.
	rc, err = svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Length: 2, Timeout: nowait(sockdv1.AsyncMode_ASYNC_MODE_COMPLETION)})
	if err != nil || rc.GetAsync() == nil {
		t.Fatal(rc, err)
	}
	peerConn.Write([]byte("yz"))
	eventually(t, "the completion logged", func() bool { return len(held()) == 1 })
	resp, err = svc.Cancel(ctx, &sockdv1.CancelRequest{SocketId: sock.ID(), Info: rc.GetAsync()})
	if err != nil || resp.GetError().GetInvalid() != "completion_info" {
		t.Fatal(resp, err)
	}
	if got := resp.GetCompletion().GetRecv(); string(got.GetData()) != "yz" || got.GetError() != nil {
		t.Fatalf("late cancel answered %v", resp.GetCompletion())
	}
	if n := len(held()); n != 0 {
		t.Fatalf("%d events still held", n)
	}
	if h := sess.heldPayload(); h != 0 {
		t.Fatalf("%d payload bytes counted for withdrawn events", h)
	}
}

// What a principal's sessions hold is bounded over all of them: a second
// session cannot add another session's worth of completion bytes past the
// principal's bound, and a session that dies takes what it held with it.
func TestPrincipalBoundsBytesAndMonitorsOverItsSessions(t *testing.T) {
	l := newLive(t, Limits{MaxCompletionBytes: 1 << 20, MaxPrincipalBytes: 1 << 20, MaxMonitors: 3})
	svc, sess, ctx := l.svc, l.sess, l.ctx
	other, _, err := svc.sessions.create(sess.principal, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCtx := metadata.NewIncomingContext(l.ctx, metadata.Pairs(SessionMetadataKey, other.id))
	completionRecv := func(ctx context.Context, s *engine.Socket, n int64) (*sockdv1.RecvResponse, error) {
		return svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: s.ID(), Length: n, Timeout: &sockdv1.Timeout{
			Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION}}}})
	}
	a, _ := l.connected(t)
	b, _ := l.connected(t)
	if err := b.SetOwner(sess, other); err != nil { // b outlives the first session
		t.Fatal(err)
	}
	sess.disown(b)
	other.adopt(b)
	first, err := completionRecv(ctx, a, 1<<20) // admitted below the bound; reaches it
	if err != nil || first.GetAsync() == nil {
		t.Fatal(first, err)
	}
	if _, err := completionRecv(otherCtx, b, 768<<10); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("another session of the principal past its bound: %v, want RESOURCE_EXHAUSTED", err)
	}
	svc.sessions.end(sess) // its pending recv is dropped, its bytes given back
	eventually(t, "the dead session's bytes uncounted", func() bool { return other.load.bytes.Load() == 0 })
	if r, err := completionRecv(otherCtx, b, 768<<10); err != nil || r.GetAsync() == nil {
		t.Fatalf("after the first session died: %v %v", r, err)
	}

	for i := range 3 {
		if _, err := svc.Monitor(otherCtx, &sockdv1.MonitorRequest{SocketId: b.ID()}); err != nil {
			t.Fatalf("monitor %d: %v", i, err)
		}
	}
	third, _, err := svc.sessions.create(sess.principal, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	thirdCtx := metadata.NewIncomingContext(l.ctx, metadata.Pairs(SessionMetadataKey, third.id))
	if _, err := svc.Monitor(thirdCtx, &sockdv1.MonitorRequest{SocketId: b.ID()}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a fourth monitor from another session: %v, want RESOURCE_EXHAUSTED", err)
	}
}

// A cancel does not take back what a stream has taken to send (it would
// arrive twice), nor a result it cannot answer with (a reused handle's
// earlier completion): those are delivered.
func TestCancelLeavesTakenAndUnanswerableResults(t *testing.T) {
	l := newLive(t, Limits{})
	svc, sess, ctx := l.svc, l.sess, l.ctx
	completion := func(h uint64) *sockdv1.Timeout {
		return &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION, Handle: h}}}
	}
	logged := func() int {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		n := 0
		for _, ev := range sess.events.after(0, 1000) {
			if ev.Event != nil {
				n++
			}
		}
		return n
	}
	sock, peerConn := l.connected(t)

	// Handle 77 completes with "ab"; a second recv reuses 77 and gathers "c".
	r, err := svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Length: 2, Timeout: completion(77)})
	if err != nil || r.GetAsync() == nil {
		t.Fatal(r, err)
	}
	peerConn.Write([]byte("ab"))
	eventually(t, "the first completion logged", func() bool { return logged() == 1 })
	r, err = svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Length: 2, Timeout: completion(77)})
	if err != nil || r.GetAsync() == nil {
		t.Fatal(r, err)
	}
	peerConn.Write([]byte("c"))
	eventually(t, "c gathered", func() bool { return sock.Info().Counters.ReadByte == 3 })
	resp, err := svc.Cancel(ctx, &sockdv1.CancelRequest{SocketId: sock.ID(), Info: r.GetAsync()})
	if err != nil || resp.GetError() != nil {
		t.Fatal(resp, err)
	}
	if got := string(resp.GetCompletion().GetRecv().GetData()); got != "c" {
		t.Fatalf("cancel answered %q, want the cancelled recv's c", got)
	}
	if n := logged(); n != 1 {
		t.Fatalf("%d events logged, want the earlier completion (ab) kept", n)
	}

	// A completion a stream has taken stays, and the cancel does not
	// answer it again.
	sess.mu.Lock()
	sess.events.take(0, 1000)
	sess.mu.Unlock()
	r, err = svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Length: 1, Timeout: completion(78)})
	if err != nil || r.GetAsync() == nil {
		t.Fatal(r, err)
	}
	peerConn.Write([]byte("d"))
	eventually(t, "the second completion logged", func() bool { return logged() == 2 })
	sess.mu.Lock()
	sess.events.take(0, 1000)
	sess.mu.Unlock()
	resp, err = svc.Cancel(ctx, &sockdv1.CancelRequest{SocketId: sock.ID(), Info: r.GetAsync()})
	if err != nil || resp.GetError().GetInvalid() != "completion_info" || resp.GetCompletion() != nil {
		t.Fatalf("cancel of a completion a stream has taken: %v %v", resp, err)
	}
	if n := logged(); n != 2 {
		t.Fatalf("%d events logged, want both", n)
	}
}

// A select a stream has already taken is not replayed after the cancel of
// its handle, as Erlang's cancel flushes it from the mailbox: a client
// resuming from an earlier sequence (sockctl events) does not see it.
func TestCancelVoidsTakenSelectsForReplay(t *testing.T) {
	l := newLive(t, Limits{})
	sock, peerConn := l.connected(t)
	nowait := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Handle: 90}}}
	r, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Timeout: nowait})
	if err != nil || r.GetAsync() == nil {
		t.Fatal(r, err)
	}
	peerConn.Write([]byte("x"))
	selects := func() int {
		l.sess.mu.Lock()
		defer l.sess.mu.Unlock()
		n := 0
		for _, ev := range l.sess.events.after(0, 1000) {
			if ev.GetSelect().GetHandle() == 90 {
				n++
			}
		}
		return n
	}
	eventually(t, "the select logged", func() bool { return selects() == 1 })
	l.sess.mu.Lock()
	taken := l.sess.events.take(0, 1000)
	l.sess.events.markSent(taken[len(taken)-1].GetSequence())
	l.sess.mu.Unlock()
	if resp, err := l.svc.Cancel(l.ctx, &sockdv1.CancelRequest{SocketId: sock.ID(), Info: r.GetAsync()}); err != nil || resp.GetError() != nil {
		t.Fatal(resp, err)
	}
	if n := selects(); n != 0 {
		t.Fatalf("%d selects of the cancelled handle held for replay, want none", n)
	}
}

// Bytes kept only for replay do not hold admission back: a principal
// whose sessions owe nothing may start a completion whatever they keep
// for a resume (the log gives those up first).
func TestReplayBytesDoNotBlockAdmission(t *testing.T) {
	l := newLive(t, Limits{MaxPrincipalBytes: 64 << 10})
	sock, _ := l.connected(t)
	l.sess.load.replay.Add(64 << 10) // as if a 64 KiB completion had been sent and kept
	defer l.sess.load.replay.Add(-64 << 10)
	r, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Length: 1, Timeout: &sockdv1.Timeout{
		Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION}}}})
	if err != nil || r.GetAsync() == nil {
		t.Fatalf("a completion recv with 64 KiB kept for replay: %v %v", r, err)
	}
}

// A cancel without an operation withdraws only the events of the lane it
// found the handle in: another operation's select of a reused handle stays
// (its operation is still pending and would never hear it could go on).
// One that found a pending request answers nothing from the log: a result
// there is an earlier operation's, of a reused handle.
func TestOplessCancelKeepsOtherLanes(t *testing.T) {
	l := newLive(t, Limits{})
	svc, sess, ctx := l.svc, l.sess, l.ctx
	sock, peerConn := l.connected(t)
	logged := func(op sockdv1.Operation) bool {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		for _, ev := range sess.events.after(0, 1000) {
			if ev.GetSelect().GetOperation() == op {
				return true
			}
		}
		return false
	}
	// A send's select of handle 555, logged (fired) but not taken.
	sess.mu.Lock()
	sess.events.append(&sockdv1.EventsResponse{SocketId: sock.ID(), Event: &sockdv1.EventsResponse_Select{
		Select: &sockdv1.SelectEvent{Handle: 555, Operation: sockdv1.Operation_OPERATION_SEND}}})
	sess.mu.Unlock()
	nowait := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Handle: 555}}}
	if r, err := svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Timeout: nowait}); err != nil || r.GetAsync() == nil {
		t.Fatal(r, err)
	}
	resp, err := svc.Cancel(ctx, &sockdv1.CancelRequest{SocketId: sock.ID(), Info: &sockdv1.AsyncInfo{Handle: 555}})
	if err != nil || resp.GetError() != nil || resp.GetOperation() != sockdv1.Operation_OPERATION_RECV {
		t.Fatalf("cancel of handle 555: %v %v, want ok and operation recv", resp, err)
	}
	if !logged(sockdv1.Operation_OPERATION_SEND) {
		t.Fatal("a cancel that found the recv withdrew the send's select of the same handle")
	}

	// Handle 78 completes with "xy" (logged, not taken); a recv reusing 78
	// then waits with nothing gathered and is cancelled: ok, and "xy" stays
	// for the stream rather than pass for the cancelled call's answer.
	completion := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION, Handle: 78}}}
	r, err := svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Length: 2, Timeout: completion})
	if err != nil || r.GetAsync() == nil {
		t.Fatal(r, err)
	}
	peerConn.Write([]byte("xy"))
	resultLogged := func() bool {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		for _, ev := range sess.events.after(0, 1000) {
			if string(ev.GetCompletion().GetRecv().GetData()) == "xy" {
				return true
			}
		}
		return false
	}
	eventually(t, "the completion logged", resultLogged)
	if r, err = svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Length: 2, Timeout: completion}); err != nil || r.GetAsync() == nil {
		t.Fatal(r, err)
	}
	resp, err = svc.Cancel(ctx, &sockdv1.CancelRequest{SocketId: sock.ID(), Info: r.GetAsync()})
	if err != nil || resp.GetError() != nil || resp.GetCompletion() != nil {
		t.Fatalf("cancel of a recv that had nothing: %v %v, want ok and no result", resp, err)
	}
	if !resultLogged() {
		t.Fatal("the earlier completion of the reused handle was taken from the log")
	}
}

// What waiting blocking calls keep, a send's data and a recv's buffer, is
// counted among the principal's bytes while they wait: a call past the
// bound is refused, and the bytes are given back when the calls end.
func TestWaitingCallsCountTheirBytes(t *testing.T) {
	l := newLive(t, Limits{MaxPrincipalBytes: 1 << 20})
	svc, ctx := l.svc, l.ctx
	infinity := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}
	endRecv := waitingRecv(t, l, 1<<20)
	eventually(t, "the waiting recv's buffer counted", func() bool { return l.sess.load.bytes.Load() == 1<<20 })

	sendSock, _ := l.connected(t)
	if _, err := svc.Send(ctx, &sockdv1.SendRequest{SocketId: sendSock.ID(), Data: make([]byte, 4096), Timeout: infinity}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a blocking send past the principal's bytes: %v, want RESOURCE_EXHAUSTED", err)
	}
	// A send that cannot wait keeps its bytes only for the syscall.
	zero := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: 0}}
	if r, err := svc.Send(ctx, &sockdv1.SendRequest{SocketId: sendSock.ID(), Data: []byte("x"), Timeout: zero}); err != nil || r.GetError() != nil {
		t.Fatalf("send with timeout 0: %v %v", r, err)
	}
	// A recv that cannot wait keeps its buffer while it runs, as its answer
	// will hold it: past the bound it is refused too.
	for _, to := range []*sockdv1.Timeout{zero, {Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{}}}} {
		if _, err := svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: sendSock.ID(), Length: 4096, Timeout: to}); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("a recv (timeout %v) past the principal's bytes: %v, want RESOURCE_EXHAUSTED", to, err)
		}
	}
	if err := endRecv(); status.Code(err) != codes.Canceled {
		t.Fatalf("the cancelled recv: %v", err)
	}
	eventually(t, "the recv's bytes given back", func() bool { return l.sess.load.bytes.Load() == 0 })
	if r, err := svc.Send(ctx, &sockdv1.SendRequest{SocketId: sendSock.ID(), Data: make([]byte, 4096), Timeout: infinity}); err != nil || r.GetError() != nil {
		t.Fatalf("a blocking send within the bound: %v %v", r, err)
	}
}

// waitingRecv starts a blocking recv of length on a fresh connected socket
// of l's, its data never coming; end cancels it and returns its error.
func waitingRecv(t *testing.T, l *live, length int64) (end func() error) {
	sock, _ := l.connected(t)
	ctx, cancel := context.WithCancel(l.ctx)
	done := make(chan error, 1)
	go func() {
		_, err := l.svc.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Length: length,
			Timeout: &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}})
		done <- err
	}()
	return func() error {
		cancel()
		return <-done
	}
}

// What all principals hold together is bounded too (MaxDaemonBytes): a
// principal within its own bound is refused what the daemon has no room
// for while another's waiting call holds it, and admitted again once that
// call ends.
func TestDaemonBoundsAllPrincipalsBytes(t *testing.T) {
	l := newLive(t, Limits{MaxPrincipalBytes: 4 << 20, MaxDaemonBytes: 1 << 20})
	svc := l.svc
	infinity := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}
	endRecv := waitingRecv(t, l, 1<<20)
	eventually(t, "the waiting recv's buffer counted", func() bool { return svc.sessions.daemonLoad.bytes.Load() == 1<<20 })

	other := Principal{Kind: "uid", UID: 1001}
	sess, _, err := svc.sessions.create(other, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer svc.sessions.end(sess)
	call := metadata.NewIncomingContext(peer.NewContext(context.Background(), &peer.Peer{AuthInfo: peerAuth{principal: other}}),
		metadata.Pairs(SessionMetadataKey, sess.id))
	opened, err := svc.Open(call, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_DGRAM})
	if err != nil || opened.GetError() != nil {
		t.Fatalf("open: %v %v", opened, err)
	}
	udp := opened.GetSocketId()
	defer svc.Close(call, &sockdv1.CloseRequest{SocketId: udp})
	_, err = svc.Recv(call, &sockdv1.RecvRequest{SocketId: udp, Length: 4096, Timeout: infinity})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "all principals") {
		t.Fatalf("another principal's blocking recv while the daemon's bytes are full: %v, want RESOURCE_EXHAUSTED naming the daemon's bound", err)
	}
	if _, err := svc.Monitor(call, &sockdv1.MonitorRequest{SocketId: udp}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a call owing an event while the daemon's bytes are full: %v, want RESOURCE_EXHAUSTED", err)
	}
	if sess.load.bytes.Load() != 0 {
		t.Fatalf("a refused call left %d bytes counted", sess.load.bytes.Load())
	}
	if err := endRecv(); status.Code(err) != codes.Canceled {
		t.Fatalf("the cancelled recv: %v", err)
	}
	eventually(t, "the daemon's bytes given back", func() bool { return svc.sessions.daemonLoad.bytes.Load() == 0 })
	short := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: 10}}
	if r, err := svc.Recv(call, &sockdv1.RecvRequest{SocketId: udp, Length: 4096, Timeout: short}); err != nil || r.GetError().GetReason() != "timeout" {
		t.Fatalf("the other principal's recv once there is room: %v %v, want timeout", r, err)
	}
}

// Only root and the daemon's user may take the last sixteenth of the
// daemon's bound: other principals filling the rest do not lock them out.
func TestDaemonBoundKeepsAShareForAdmins(t *testing.T) {
	const limit = 1 << 20
	l := newLive(t, Limits{MaxPrincipalBytes: 4 << 20, MaxDaemonBytes: limit})
	if l.sess.load.admin() {
		t.Fatal("the live test's principal is an admin")
	}
	if err := l.sess.load.hold(limit-limit/adminReserve, 4<<20); err != nil {
		t.Fatalf("a principal's hold up to the admins' share: %v", err)
	}
	defer l.sess.load.release(limit - limit/adminReserve)
	if err := l.sess.load.hold(1, 4<<20); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a principal's hold into the admins' share: %v, want RESOURCE_EXHAUSTED", err)
	}
	root, _, err := l.svc.sessions.create(Principal{Kind: "uid", UID: 0}, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer l.svc.sessions.end(root)
	if err := root.load.hold(4096, 4<<20); err != nil {
		t.Fatalf("root's hold in the admins' share: %v", err)
	}
	root.load.release(4096)
}

// Sent events kept for replay are given up, by every session, once the
// daemon holds more than its bound: an idle session's replay does not
// stay beside other principals' calls filling the bound.
func TestDaemonBoundShedsIdleReplay(t *testing.T) {
	const limit = 1 << 20
	l := newLive(t, Limits{MaxPrincipalBytes: 4 << 20, MaxDaemonBytes: limit})
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	fast := &scriptedStream{ctx: ctx, send: func(int32, *sockdv1.EventsResponse) error { return nil }}
	done := runEvents(l, ctx, cancel, fast)
	eventually(t, "caught up", func() bool { return fast.sends.Load() >= 1 })
	l.sess.mu.Lock()
	for range 10 {
		l.sess.appendLocked(recvCompletion(64 << 10))
	}
	l.sess.mu.Unlock()
	daemon := l.svc.sessions.daemonLoad
	eventually(t, "the events sent and kept for replay", func() bool { return daemon.replay.Load() >= 640<<10 })

	other := Principal{Kind: "uid", UID: 1001}
	sess, _, err := l.svc.sessions.create(other, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer l.svc.sessions.end(sess)
	if err := sess.load.hold(512<<10, 4<<20); err != nil {
		t.Fatalf("another principal's hold within the bound: %v", err)
	}
	defer sess.load.release(512 << 10)
	eventually(t, "the idle session's replay shed", func() bool {
		return daemon.bytes.Load()+daemon.replay.Load() <= limit
	})
	cancel()
	<-done
}

// A bind's unlink_on_close is kept only where the removal has rights the
// caller has itself: a socket that acts as its user, or root's and the
// daemon's own user's; a TCP client's socket, which has the daemon's,
// leaves its file.
func TestUnlinkOnCloseNeedsTheCallersRights(t *testing.T) {
	l := newLive(t, Limits{})
	callAs := func(p Principal) context.Context {
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: peerAuth{principal: p}})
	}
	plain, err := l.svc.engine.Open(l.sess, unix.AF_UNIX, unix.SOCK_STREAM, 0, engine.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	user, err := l.svc.engine.Open(l.sess, unix.AF_UNIX, unix.SOCK_STREAM, 0, engine.OpenOptions{Creds: &engine.Creds{UID: 1000, GID: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close()
	for _, c := range []struct {
		who  Principal
		sock *engine.Socket
		want bool
	}{
		{Principal{Kind: "tcp"}, plain, false},
		{Principal{Kind: "x509", Name: "client"}, plain, false},
		{Principal{Kind: "uid", UID: 0}, plain, true},
		{Principal{Kind: "uid", UID: uint32(os.Geteuid())}, plain, true},
		{Principal{Kind: "uid", UID: 1000}, user, true},
		{Principal{Kind: "uid", UID: 1000}, plain, os.Geteuid() == 1000},
	} {
		if got := l.svc.mayUnlink(callAs(c.who), c.sock); got != c.want {
			t.Errorf("%v: mayUnlink %v, want %v", c.who, got, c.want)
		}
	}
}
