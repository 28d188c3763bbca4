package server

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// newTestSession starts an engine and a session manager with one session
// of uid 1000; the test's cleanup ends both.
func newTestSession(t *testing.T) (*engine.Engine, *sessionManager, *Session) {
	t.Helper()
	e, err := engine.New(engine.Config{Loops: 1, MaxTombstones: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	m := newSessionManager(e, SessionLimits{})
	sess, _, err := m.create(Principal{Kind: "uid", UID: 1000}, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.end(sess) })
	return e, m, sess
}

func sequences(evs []*sockdv1.EventsResponse) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Sequence
	}
	return out
}

// selectEvent is an event a stream sends (one without an event is a
// withdrawn event's placeholder).
func selectEvent() *sockdv1.EventsResponse {
	return &sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_Select{Select: &sockdv1.SelectEvent{}}}
}

func TestEventLogReplayAndOverflow(t *testing.T) {
	l := newEventLog(4)
	if got := l.firstHeld(); got != 1 {
		t.Fatalf("empty firstHeld = %d, want 1", got)
	}
	for range 3 {
		l.append(selectEvent())
	}
	if got := sequences(l.after(0, 10)); len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("after(0) = %v", got)
	}
	if got := sequences(l.after(2, 10)); len(got) != 1 || got[0] != 3 {
		t.Fatalf("after(2) = %v", got)
	}
	if l.unsent() != 3 {
		t.Fatalf("unsent = %d", l.unsent())
	}
	l.markSent(2)
	if l.unsent() != 1 {
		t.Fatalf("unsent after markSent(2) = %d", l.unsent())
	}
	for range 3 { // 4, 5, 6: pushes out 1 and 2
		l.append(selectEvent())
	}
	if got := l.firstHeld(); got != 3 {
		t.Fatalf("firstHeld = %d, want 3", got)
	}
	if got := sequences(l.after(0, 10)); len(got) != 4 || got[0] != 3 || got[3] != 6 {
		t.Fatalf("after(0) = %v, want 3..6", got)
	}
	if got := sequences(l.after(4, 1)); len(got) != 1 || got[0] != 5 {
		t.Fatalf("after(4, max 1) = %v, want [5]", got)
	}
	if got := l.after(6, 10); got != nil {
		t.Fatalf("after(last) = %v, want nil", got)
	}
}

// A long-lived session that opens, waits on and closes sockets must not hold
// every socket it ever touched: closed ones the engine no longer keeps are
// dropped as the session's maps grow.
func TestSessionDropsGoneSockets(t *testing.T) {
	e, _, sess := newTestSession(t)
	for range 1000 {
		sock, err := e.Open(sess, unix.AF_INET, unix.SOCK_DGRAM, 0, engine.OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !sess.adopt(sock) {
			t.Fatal("adopt refused")
		}
		sess.noteWaiting(sock)
		if err := sock.Close(); err != nil {
			t.Fatal(err)
		}
	}
	sess.mu.Lock()
	owned, waiting := len(sess.owned), len(sess.waiting)
	sess.mu.Unlock()
	if owned > 128 || waiting > 128 {
		t.Fatalf("session holds %d owned and %d waiting sockets after 1000 closed ones", owned, waiting)
	}
}

// TestEventLogKeepsUnsentEvents: an unsent event is owed to a waiter, or
// carries bytes already taken from a socket, so a full ring grows rather
// than drop it, however far.
func TestEventLogKeepsUnsentEvents(t *testing.T) {
	l := newEventLog(2)
	const n = 1000
	for range n {
		l.append(selectEvent())
	}
	if got := l.firstHeld(); got != 1 {
		t.Fatalf("firstHeld = %d after %d unsent events in a ring of 2: events were dropped", got, n)
	}
	if got := len(l.after(0, 2*n)); got != n {
		t.Fatalf("held %d events, want %d", got, n)
	}
	// Once sent, events make room again without growing.
	l.markSent(l.last())
	size := len(l.ring)
	l.append(selectEvent())
	if len(l.ring) != size {
		t.Fatalf("ring grew from %d to %d although its oldest event was sent", size, len(l.ring))
	}
}

// A withdrawn event owes the client nothing: it does not count among the
// undelivered events that admission bounds, and with no stream reading, the
// placeholders right after what was sent count as sent, so that they are
// trimmed as sent events are instead of growing the ring. Dropping them is
// no gap.
func TestEventLogPassesWithdrawnEvents(t *testing.T) {
	l := newEventLog(4)
	withdrawAll := func(*sockdv1.EventsResponse) bool { return true }
	for range 100 { // nowait, the select fires, cancel: no stream attached
		l.append(selectEvent())
		l.withdraw(withdrawAll)
	}
	if l.owed() != 0 || l.unsent() != 0 || l.count > 4 || len(l.ring) != 4 {
		t.Fatalf("after 100 withdrawn events: %d owed, %d unsent, %d held in a ring of %d; want 0, 0, at most 4 in 4", l.owed(), l.unsent(), l.count, len(l.ring))
	}
	if l.lost != 0 {
		t.Fatalf("dropping withdrawn events counts as lost through %d", l.lost)
	}
	// Behind an event still owed, withdrawn ones stay held but are not owed.
	l.append(selectEvent())
	for range 10 {
		l.append(selectEvent())
		l.withdraw(func(ev *sockdv1.EventsResponse) bool { return ev.Sequence > 101 })
	}
	if l.owed() != 1 || l.unsent() != 11 {
		t.Fatalf("one owed event and 10 withdrawn after it: %d owed, %d unsent; want 1, 11", l.owed(), l.unsent())
	}
	l.markSent(101) // the stream sends the owed one and passes the rest
	if l.owed() != 0 || l.unsent() != 0 || l.voids != 0 {
		t.Fatalf("after the owed event was sent: %d owed, %d unsent, %d voids; want none", l.owed(), l.unsent(), l.voids)
	}
	if l.lost == 0 {
		t.Fatalf("the sent event 101 trimmed from replay is not counted as lost")
	}
}

// A ring that a burst grew goes back to its base size once the stream has
// caught up, keeping the newest events for replay.
func TestEventLogShrinksAfterABurst(t *testing.T) {
	l := newEventLog(4)
	for range 20 {
		l.append(selectEvent())
	}
	if len(l.ring) <= 4 {
		t.Fatalf("ring of %d after 20 unsent events, want it grown", len(l.ring))
	}
	l.markSent(l.last())
	if len(l.ring) != 4 {
		t.Fatalf("ring of %d once every event was sent, want the base 4", len(l.ring))
	}
	if got := sequences(l.after(0, 100)); len(got) != 4 || got[0] != 17 || got[3] != 20 {
		t.Fatalf("held %v after the shrink, want 17..20", got)
	}
}

// Sent events are kept for replay only up to the ring's base capacity and
// maxSentBytes of payload: a ring grown by a burst, or a run of large
// completions, does not keep them all once they are sent.
func TestEventLogBoundsReplay(t *testing.T) {
	l := newEventLog(4)
	for range 20 { // a burst of unsent events grows the ring
		l.append(selectEvent())
	}
	l.markSent(l.last())
	if l.count != 4 || l.firstHeld() != 17 {
		t.Fatalf("after sending a burst: %d held from %d, want 4 from 17", l.count, l.firstHeld())
	}
	l = newEventLog(4)
	l.maxSentBytes = 250
	for range 4 {
		l.append(recvCompletion(100))
	}
	l.markSent(l.last())
	if l.count != 2 || l.sentBytes != 200 || l.unsentBytes != 0 {
		t.Fatalf("after sending 4 × 100 B with 250 B for replay: %d held, %d sent bytes, %d unsent", l.count, l.sentBytes, l.unsentBytes)
	}
}

// A session that dies takes its waits on another session's socket with it:
// a blocking call it had in flight returns cancelled, and a nowait call
// that was answered select only after the session died (die had passed the
// socket by) still leaves the lane. Either way the owner's next recv gets
// the data.
func TestDeathWithdrawsWaitsOnOthersSockets(t *testing.T) {
	l := newLive(t, Limits{})
	sock, peerConn := l.connected(t)
	other, _, err := l.svc.sessions.create(l.sess.principal, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	blocked := make(chan error, 1)
	go func() {
		blocked <- sock.Recv(context.Background(), other, 0, 0, engine.Timeout{Kind: engine.WaitInfinity}).Err
	}()
	eventually(t, "the other session's blocking recv", func() bool { return sock.Info().NumReaders == 1 })
	l.svc.sessions.end(other)
	if err := <-blocked; !errors.Is(err, engine.ErrCallerGone) {
		t.Fatalf("blocking recv of a dead session: %v", err)
	}

	late, _, err := l.svc.sessions.create(l.sess.principal, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := sock.Recv(context.Background(), late, 0, 0, engine.Timeout{Kind: engine.WaitNowait})
	if r.Select == nil {
		t.Fatalf("nowait recv: %+v", r)
	}
	l.svc.sessions.end(late) // dies before its call records the wait
	finishWait(late, sock, r.Select, r.Err)
	if n := sock.Info().NumReaders; n != 0 {
		t.Fatalf("num_readers %d after both sessions died", n)
	}

	if _, err := peerConn.Write([]byte("for the owner")); err != nil {
		t.Fatal(err)
	}
	got := sock.Recv(context.Background(), l.sess, 0, 0, engine.Timeout{Kind: engine.WaitFor, D: 5 * time.Second})
	if got.Err != nil || string(got.Data) != "for the owner" {
		t.Fatalf("owner's recv: %q %v", got.Data, got.Err)
	}
}

// A log's events are part of its principal's count, each its payload and
// eventCost: it keeps no sent events for replay while the principal is over
// its bound, and gives back all it holds when its session dies.
func TestEventLogCountsForItsPrincipal(t *testing.T) {
	const c = eventCost
	var load principalLoad
	l := newEventLog(8)
	l.load, l.loadMax = &load, 150+2*c
	l.append(recvCompletion(100))
	l.append(recvCompletion(40))
	if load.bytes.Load() != 140+2*c || load.replay.Load() != 0 {
		t.Fatalf("principal counts %d unsent, %d replay; want %d, 0", load.bytes.Load(), load.replay.Load(), 140+2*c)
	}
	l.markSent(2) // both sent, kept for replay: within the bound
	if l.count != 2 || load.bytes.Load() != 0 || load.replay.Load() != 140+2*c {
		t.Fatalf("after sending: held %d, counts %d and %d; want 2 held, 0 unsent, %d replay", l.count, load.bytes.Load(), load.replay.Load(), 140+2*c)
	}
	load.bytes.Add(100) // another session of the principal owes 100
	l.append(recvCompletion(10))
	// Past the bound: sent events go, oldest first, until the counts are
	// back within it; the unsent one stays.
	if l.count != 2 || load.bytes.Load()+load.replay.Load() != 150+2*c {
		t.Fatalf("over the bound: held %d events, counts %d+%d; want 2 and %d", l.count, load.bytes.Load(), load.replay.Load(), 150+2*c)
	}
	l.detachLoad()
	if load.bytes.Load() != 100 || load.replay.Load() != 0 {
		t.Fatalf("after the session died: %d, %d; want the other session's 100, 0", load.bytes.Load(), load.replay.Load())
	}
}

// Events without a payload count too: a principal whose sessions hold as
// many undelivered events as its bytes allow is refused the calls that
// would owe more (a monitor of an unknown id: a down at once).
func TestUndeliveredEventsCountForThePrincipal(t *testing.T) {
	const limit = 64 << 10
	l := newLive(t, Limits{MaxPrincipalBytes: limit})
	id := strings.Repeat("x", 32)
	var owed int
	for owed = 0; owed < 2*limit/eventCost; owed++ {
		if _, err := l.svc.Monitor(l.ctx, &sockdv1.MonitorRequest{SocketId: id}); err != nil {
			if status.Code(err) != codes.ResourceExhausted || reasonOf(err) != reasons.QuotaExceeded {
				t.Fatalf("monitor %d: %v, want QUOTA_EXCEEDED", owed, err)
			}
			break
		}
	}
	if owed != limit/eventCost {
		t.Fatalf("%d down events owed before the refusal, want %d (%d bytes at %d each)", owed, limit/eventCost, limit, eventCost)
	}
}

// failingStream is an Events stream whose Send fails from the failAt-th call.
type failingStream struct {
	sockdv1.SocketService_EventsServer
	sends, failAt int
}

func (f *failingStream) Send(*sockdv1.EventsResponse) error {
	f.sends++
	if f.sends >= f.failAt {
		return errors.New("broken")
	}
	return nil
}

// A stream that breaks in the middle of a batch leaves what it did send
// marked sent: a later cancel must not withdraw and answer it again.
// Withdrawal matches a handle's lane: a recvfrom's select goes with a
// cancel of the recv.
func TestEventsSentBeforeABreakStaySent(t *testing.T) {
	_, _, sess := newTestSession(t)
	sess.mu.Lock()
	for h := range uint64(3) {
		ev := recvCompletion(10)
		ev.SocketId = "s"
		ev.GetCompletion().Handle = h + 1
		ev.GetCompletion().Operation = sockdv1.Operation_OPERATION_RECV
		sess.events.append(ev)
	}
	sess.events.append(&sockdv1.EventsResponse{SocketId: "s", Event: &sockdv1.EventsResponse_Select{
		Select: &sockdv1.SelectEvent{Handle: 9, Operation: sockdv1.Operation_OPERATION_RECVFROM}}})
	sess.mu.Unlock()

	if _, err := sendHeld(sess, &failingStream{failAt: 2}, 0, newEventSender()); err == nil {
		t.Fatal("sendHeld on a broken stream answered no error")
	}
	sess.mu.Lock()
	sent := sess.events.sent
	sess.events.taken = sess.events.sent // as detach does
	sess.mu.Unlock()
	if sent != 1 {
		t.Fatalf("sent %d after the first send went out, want 1", sent)
	}
	if got, _, _ := sess.withdrawEvents("s", engine.OpRecv, 1, true, true); got != nil {
		t.Fatalf("a cancel took back a completion already sent: %v", got)
	}
	if got, _, _ := sess.withdrawEvents("s", engine.OpRecv, 2, true, true); got == nil {
		t.Fatal("a cancel did not take back a completion never sent")
	}
	sess.withdrawEvents("s", engine.OpRecv, 9, false, true)
	sess.mu.Lock()
	defer sess.mu.Unlock()
	for _, ev := range sess.events.after(0, 10) {
		if ev.GetSelect().GetHandle() == 9 {
			t.Fatal("the recvfrom's select survived a cancel of the recv lane")
		}
	}
}

// A completion a stream took, when the client says what it read, is
// claimed by a cancel whose client had not read it: answered, with its
// sequence, replaced for replay, its bytes out of the counts. One read, or
// for a client that says nothing, stays.
func TestCancelClaimsATakenResultNotRead(t *testing.T) {
	_, _, sess := newTestSession(t)
	sess.mu.Lock()
	for h := range uint64(2) {
		ev := recvCompletion(10)
		ev.SocketId = "s"
		ev.GetCompletion().Handle = h + 1
		ev.GetCompletion().Operation = sockdv1.Operation_OPERATION_RECV
		sess.events.append(ev)
	}
	sess.mu.Unlock()
	if _, err := sendHeld(sess, &failingStream{failAt: 99}, 0, newEventSender()); err != nil {
		t.Fatal(err)
	}
	if got, claimed, _ := sess.withdrawEvents("s", engine.OpRecv, 2, true, true); got != nil || claimed != 0 {
		t.Fatalf("a client that says nothing of what it read: %v claimed (%d)", got, claimed)
	}
	sess.mu.Lock()
	sess.events.ack(1) // read the first
	bytesBefore := sess.load.bytes.Load() + sess.load.replay.Load()
	sess.mu.Unlock()
	if got, claimed, _ := sess.withdrawEvents("s", engine.OpRecv, 1, true, true); got != nil || claimed != 0 {
		t.Fatalf("a completion the client read: %v claimed (%d)", got, claimed)
	}
	got, claimed, _ := sess.withdrawEvents("s", engine.OpRecv, 2, true, true)
	if got.GetHandle() != 2 || claimed != 2 {
		t.Fatalf("a completion sent, not read: %v claimed (%d), want handle 2's, sequence 2", got, claimed)
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if held := sess.load.bytes.Load() + sess.load.replay.Load(); held != bytesBefore-10 {
		t.Errorf("held %d after the claim, want %d: its 10 bytes given back", held, bytesBefore-10)
	}
	for _, ev := range sess.events.after(0, 10) {
		if ev.GetCompletion().GetHandle() == 2 {
			t.Fatal("a replay would repeat the claimed completion")
		}
	}
}

// A socket handed from A to B and back to A before A's handler forgets it
// stays A's: A's late disown must not drop a socket it owns again, or A's
// death would leave it open.
func TestDisownKeepsASocketHandedBack(t *testing.T) {
	e, m, a := newTestSession(t)
	b, _, err := m.create(a.principal, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	sock, err := e.Open(a, unix.AF_INET, unix.SOCK_DGRAM, 0, engine.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.adopt(sock)
	if err := sock.SetOwner(a, b); err != nil { // A hands it to B ...
		t.Fatal(err)
	}
	b.adopt(sock)
	if err := sock.SetOwner(b, a); err != nil { // ... B hands it back ...
		t.Fatal(err)
	}
	a.adopt(sock)
	b.disown(sock)
	a.disown(sock) // ... and A's first handover only now forgets it
	m.end(a)
	if !sock.Closed() {
		t.Fatal("A died owning the socket, and it is still open")
	}
}

// Grace periods that end at once (a client may ask for 1 ns) expire their
// sessions, with no race between the timer and its callback.
func TestGraceExpiresAtOnce(t *testing.T) {
	_, m, _ := newTestSession(t)
	p := Principal{Kind: "uid", UID: 1000}
	var made []*Session
	for range 50 {
		s, _, err := m.create(p, "", time.Nanosecond)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, s)
	}
	eventually(t, "every 1 ns session to expire", func() bool {
		for _, s := range made {
			if !s.isDead() {
				return false
			}
		}
		return true
	})
}

// The table remembers the last endedMemory sessions that ended, no more:
// the oldest are forgotten first.
func TestEndedSessionsAreBounded(t *testing.T) {
	m := newSessionManager(nil, SessionLimits{MaxPerPrincipal: endedMemory + 100})
	p := Principal{Kind: "uid", UID: 1000}
	var ids []string
	for range endedMemory + 10 {
		s, _, err := m.create(p, "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.id)
		m.end(s)
	}
	if len(m.ended) != endedMemory {
		t.Fatalf("%d ended sessions remembered, want %d", len(m.ended), endedMemory)
	}
	if m.endedFor(p, ids[0]) || m.endedFor(p, ids[9]) {
		t.Error("the oldest ended sessions are still remembered")
	}
	if !m.endedFor(p, ids[10]) || !m.endedFor(p, ids[len(ids)-1]) {
		t.Error("a recent ended session is forgotten")
	}
	if m.endedFor(Principal{Kind: "uid", UID: 1001}, ids[len(ids)-1]) {
		t.Error("another principal's ended session counts as this one's")
	}
}

// While draining, the socket service refuses new calls with UNAVAILABLE;
// health and reflection still answer (health then says NOT_SERVING).
func TestDrainRefusesOnlyTheSocketService(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.draining.Store(true)
	defer l.svc.draining.Store(false)
	unary := l.svc.unaryInterceptor()
	served := func(context.Context, any) (any, error) { return "served", nil }
	if _, err := unary(l.ctx, &sockdv1.InfoRequest{}, &grpc.UnaryServerInfo{FullMethod: "/sockd.v1.SocketService/Info"}, served); status.Code(err) != codes.Unavailable {
		t.Errorf("a socket service call while draining: %v, want UNAVAILABLE", err)
	}
	if r, err := unary(l.ctx, &sockdv1.InfoRequest{}, &grpc.UnaryServerInfo{FullMethod: "/grpc.health.v1.Health/Check"}, served); err != nil || r != "served" {
		t.Errorf("a health check while draining: %v %v, want it served", r, err)
	}
	stream := l.svc.streamInterceptor()
	handled := func(any, grpc.ServerStream) error { return nil }
	if err := stream(nil, nil, &grpc.StreamServerInfo{FullMethod: "/sockd.v1.SocketService/Events"}, handled); status.Code(err) != codes.Unavailable {
		t.Errorf("an event stream while draining: %v, want UNAVAILABLE", err)
	}
	// A health Watch runs until the socket service has drained, then its
	// context ends: it would never end by itself.
	watching := make(chan context.Context, 1)
	watchEnded := make(chan error, 1)
	go func() {
		watchEnded <- stream(nil, ctxStream{ctx: l.ctx}, &grpc.StreamServerInfo{FullMethod: "/grpc.health.v1.Health/Watch"},
			func(_ any, ss grpc.ServerStream) error {
				watching <- ss.Context()
				<-ss.Context().Done()
				return nil
			})
	}()
	ctx := <-watching
	select {
	case <-ctx.Done():
		t.Fatal("a health watch ended before the drain did")
	case <-time.After(50 * time.Millisecond):
	}
	l.svc.endOtherStreams()
	select {
	case err := <-watchEnded:
		if err != nil {
			t.Errorf("the health watch: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the health watch goes on after the drain")
	}
}

// ctxStream is a server stream with a context and nothing else.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s ctxStream) Context() context.Context { return s.ctx }

// A finished nowait request's place becomes its event (waiting to unsent
// bytes), and a sent event moves from unsent bytes to replay: a reader of
// the counts never sees the load hold nothing meanwhile, since a drained
// principal's load is forgotten only when it is idle.
func TestSentEventNeverLooksIdle(t *testing.T) {
	var (
		cur  atomic.Pointer[principalLoad]
		seen atomic.Int64
		stop atomic.Bool
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			if l := cur.Load(); l != nil && l.idle() {
				seen.Add(1)
			}
		}
	}()
	for range 200_000 {
		load := new(principalLoad)
		load.waiting.Store(1)
		l := newEventLog(16)
		l.load, l.loadMax = load, 1<<20
		cur.Store(load)
		l.append(selectEvent()) // the engine delivers, then retires the request
		load.releaseWaiting()
		l.markSent(1)
	}
	stop.Store(true)
	<-done
	if n := seen.Load(); n != 0 {
		t.Fatalf("a load holding one event looked idle %d times", n)
	}
}

// Once the client says which events it read, sent events it has not read
// are kept as unsent ones are (not pushed out past the backlog), and count
// with them toward the half-backlog bound on calls that owe events; what
// it says it read goes back to being replay.
func TestEventLogKeepsWhatTheClientHasNotRead(t *testing.T) {
	l := newEventLog(4)
	for range 4 {
		l.append(selectEvent())
	}
	l.markSent(4) // the transport took them all
	if l.owed() != 0 || l.unreadSent() != 0 {
		t.Fatalf("owed %d, unread %d before the client says anything", l.owed(), l.unreadSent())
	}
	l.ack(1)
	if l.unreadSent() != 3 {
		t.Fatalf("unread %d after the client read 1 of 4 sent, want 3", l.unreadSent())
	}
	for range 4 { // 5..8: without acks they would push out 1..4
		l.append(selectEvent())
	}
	l.markSent(8)
	if got := sequences(l.after(1, 10)); len(got) != 7 || got[0] != 2 || got[6] != 8 {
		t.Fatalf("after(1) = %v, want 2..8 kept for the client that read 1", got)
	}
	l.ack(100) // past what was sent: as far as sent
	if l.acked != 8 || l.unreadSent() != 0 {
		t.Fatalf("acked %d, unread %d after the client read all", l.acked, l.unreadSent())
	}
	l.append(selectEvent())
	if got := l.firstHeld(); got < 6 {
		t.Fatalf("firstHeld = %d: read events are trimmed to the backlog again", got)
	}
}

// What the client can never say it read does not count as unread: events a
// cancel withdrew (placeholders, which streams skip) and events no longer
// held (a resume reports a gap). Counted, they refused the session's calls
// owing events for good.
func TestEventLogCountsNoUnreadableEvent(t *testing.T) {
	l := newEventLog(16)
	l.append(selectEvent())
	l.markSent(1)
	l.ack(1)
	for range 40 { // each a select, withdrawn before any stream took it
		l.append(selectEvent())
		l.withdraw(func(*sockdv1.EventsResponse) bool { return true })
		if n := l.unreadSent(); n != 0 {
			t.Fatalf("%d unread after withdrawn events", n)
		}
	}
	// Sent, unread, then no longer held: the principal's bytes shed them.
	l = newEventLog(16)
	l.ack(0)
	l.append(selectEvent())
	l.append(selectEvent())
	l.markSent(l.last())
	if l.unreadSent() != 2 {
		t.Fatalf("%d unread, want 2", l.unreadSent())
	}
	l.dropOldest()
	l.dropOldest()
	l.trimSent()
	if n := l.unreadSent(); n != 0 {
		t.Fatalf("%d unread after they were dropped", n)
	}
}

// A session's event ring starts small and grows as events come, up to its
// backlog before it drops sent ones: a ring made whole at once cost each
// idle session its backlog's slots (a reviewer's 1,024 sessions at a
// backlog of 65,536: 539 MB, uncounted).
func TestEventRingGrowsAsEventsCome(t *testing.T) {
	l := newEventLog(65536)
	if len(l.ring) > initialRing {
		t.Fatalf("a new log's ring has %d slots", len(l.ring))
	}
	for range 1000 {
		l.append(&sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_CaughtUp{CaughtUp: &sockdv1.CaughtUpEvent{}}})
	}
	if l.count != 1000 || len(l.ring) > 2048 {
		t.Fatalf("after 1,000 events: %d held in a ring of %d", l.count, len(l.ring))
	}
	for i, ev := range l.after(0, 2000) {
		if ev.GetSequence() != uint64(i+1) {
			t.Fatalf("event %d has sequence %d", i+1, ev.GetSequence())
		}
	}
}

// The daemon's last sixteenth of sockets is kept for root, its own user
// and the policy's admins: another uid's opens are refused past the rest
// (a reviewer's uid took a small daemon's every socket, and root's opens
// were refused).
func TestSocketCapKeepsAnAdminReserve(t *testing.T) {
	e, err := engine.New(engine.Config{Loops: 1, MaxTombstones: -1, MaxSockets: 32})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	m := newSessionManager(e, SessionLimits{})
	open := func(p Principal) (n int, err error) {
		sess, _, err := m.create(p, "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.end(sess) })
		for {
			if _, err := e.Open(sess, unix.AF_INET, unix.SOCK_DGRAM, 0, engine.OpenOptions{}); err != nil {
				return n, err
			}
			n++
		}
	}
	n, err := open(Principal{Kind: "uid", UID: 1000})
	var quota *engine.QuotaError
	if !errors.As(err, &quota) || n != 32-32/adminReserve {
		t.Fatalf("another uid opened %d of 32 sockets, then %v; want %d, then the sockets quota", n, err, 32-32/adminReserve)
	}
	if n, err := open(Principal{Kind: "uid", UID: 0}); n != 32/adminReserve || !errors.As(err, &quota) {
		t.Fatalf("root opened %d sockets in the reserve, then %v; want %d", n, err, 32/adminReserve)
	}
}
