package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
	"github.com/sockd/sockd/registry"
)

// Session is the Erlang process of the model: it owns the sockets it opens or
// accepts, receives the events of the nowait operations it starts, and when it
// dies its sockets close and its waits elsewhere are withdrawn.
//
// A Session implements engine.Caller; the engine compares Callers by
// identity, so a *Session is never copied.
type Session struct {
	id        string
	name      string
	principal Principal
	grace     time.Duration
	manager   *sessionManager

	mu       sync.Mutex
	log      eventLog
	attached *attachment // the Events stream currently attached, if any
	timer    *time.Timer // grace timer while detached
	graces   uint64      // grace periods started; the last is timer's
	dead     bool
	gone     chan struct{}               // closed when it dies (engine.Mortal)
	owned    map[*engine.Socket]struct{} // open sockets it owns, and closed ones kept as tombstones
	waiting  map[*engine.Socket]struct{} // sockets where it may hold a lane entry
	// ownedSweep and waitingSweep are the sizes at which pruneLocked next
	// sweeps owned and waiting.
	ownedSweep, waitingSweep int

	// completionBytes bounds heldLocked: past it, completion-mode calls are
	// refused (Limits.MaxCompletionBytes, or its principal's quota).
	completionBytes int

	// pending is what its waiting completion-mode operations keep: send
	// data not yet written, the length stream recvs gather (engine.Holder).
	pending atomic.Int64

	// load is what all of its principal's live sessions hold together.
	load *principalLoad

	// A detached session lives on while its calls do (liveness.go): calls
	// that may wait, Pipes and Relays in flight, and the time of the last
	// call, noted only while detached.
	inCalls  atomic.Int64
	lastCall atomic.Int64 // clock()
	detached atomic.Bool
	// graceDeferred: the grace period ran out while calls ran, and no
	// timer is armed; leaveCall starts one after the last. Written under mu;
	// atomic so that leaveCall, on every waiting call's way out, looks
	// without the lock (expire and leaveCall each write one of inCalls and
	// graceDeferred, then read the other: one of them sees the other's).
	graceDeferred atomic.Bool
}

// principalLoad is what all of one principal's live sessions hold in the
// daemon together, so that a principal's bounds are not multiplied by its
// sessions: their monitors (the registry counts them with the load as
// their group) and the bytes of their completion mode and event logs.
type principalLoad struct {
	sessions int // live sessions; sessionManager.mu
	// bytes is what its sessions owe their clients, the payload of events
	// not yet sent and what waiting completions keep, and what its waiting
	// blocking calls keep (admitWaiting). Admission bounds it.
	bytes atomic.Int64
	// replay is the payload of sent events its sessions keep for a resume:
	// kept only while bytes and replay together stay within the bound.
	replay atomic.Int64
}

// WatcherGroup implements registry.GroupedWatcher: a principal's monitors
// are bounded together.
func (s *Session) WatcherGroup() any { return s.load }

var (
	_ engine.Holder = (*Session)(nil)
	_ engine.Mortal = (*Session)(nil)
)

// Gone implements engine.Mortal: its blocking calls end with it.
func (s *Session) Gone() <-chan struct{} { return s.gone }

// untilGone is ctx, ended also when the session dies (with the cause
// errSessionEnded), for a call that runs without a caller the engine
// knows (Relay): a dying Erlang process's calls do not outlive it. stop
// releases the watch.
func (s *Session) untilGone(ctx context.Context) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-s.gone:
			cancel(errSessionEnded)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Hold implements engine.Holder.
func (s *Session) Hold(delta int) {
	s.pending.Add(int64(delta))
	s.load.bytes.Add(int64(delta))
}

// holdWithin is Hold(n) for an admission: refused, holding nothing, when
// its principal already held limit bytes or more. The principal's count is
// shared by sessions admitting at the same moment under their own locks, so
// it is added to first and then looked at.
func (s *Session) holdWithin(n, limit int) bool {
	if !s.load.holdWithin(n, limit) {
		return false
	}
	s.pending.Add(int64(n))
	return true
}

// hold is holdWithin for a call that keeps n bytes while it waits (a
// blocking call's data or buffer, a pipe's upload): past the bound, the
// quota error; the caller gives them back with release.
func (l *principalLoad) hold(n, limit int) error {
	if !l.holdWithin(n, limit) {
		return quotaExceeded(principalBytes, limit)
	}
	return nil
}

// release gives back n bytes hold took.
func (l *principalLoad) release(n int) { l.bytes.Add(-int64(n)) }

// holdWithin adds n to the principal's bytes unless they were limit or more
// already (added to first, then looked at, as in Session.holdWithin).
func (l *principalLoad) holdWithin(n, limit int) bool {
	if l.bytes.Add(int64(n))-int64(n) >= int64(limit) {
		l.bytes.Add(-int64(n))
		return false
	}
	return true
}

// CallerID implements engine.Caller.
func (s *Session) CallerID() string { return s.id }

// Tenant implements engine.Tenant: a socket whose owner died stays its
// principal's.
func (s *Session) Tenant() any { return s.principal }

// Deliver implements engine.Caller: it appends the event to the session's log
// and wakes the attached stream. It never blocks.
func (s *Session) Deliver(ev engine.Event) {
	msg := eventMessage(ev)
	if msg == nil {
		return
	}
	// A connection accepted in completion mode is the session's from the
	// moment the event exists; a dead session's is closed, off this
	// goroutine, since Deliver must not call into the engine.
	accepted := acceptedBy(ev)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		if accepted != nil {
			go s.manager.discard(accepted)
		}
		return
	}
	if accepted != nil {
		s.ownLocked(accepted)
	}
	s.manager.events.count(ev.Kind)
	s.appendLocked(msg)
}

// SocketDown implements registry.Watcher: it appends the monitor's down
// event to the session's log and wakes the attached stream. It never blocks.
func (s *Session) SocketDown(d registry.Down) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return
	}
	s.manager.events.down.Add(1)
	s.appendLocked(&sockdv1.EventsResponse{
		SocketId: d.SocketID,
		Event:    &sockdv1.EventsResponse_Down{Down: &sockdv1.DownEvent{MonitorId: d.MonitorID, Reason: string(d.Reason)}},
	})
}

// appendLocked logs an event of a live session and wakes its stream.
func (s *Session) appendLocked(msg *sockdv1.EventsResponse) {
	s.log.append(msg)
	if s.attached != nil {
		s.attached.wake()
	}
}

// withdrawEvents takes back the events of socket's handle in op's lane (0:
// any lane) that are held and not yet handed to a stream (Cancel: none may
// reach the client after it): its selects, and aborts that carry nothing.
// A result (a completion, or an abort with partial work) is taken back only
// when takeResult says the cancel has none to answer with and it is the
// only one: it is then returned to be answered instead. Results it cannot
// return stay, to be delivered: a reused handle may have several. last is
// the newest sequence.
func (s *Session) withdrawEvents(socket string, op engine.Op, handle uint64, takeResult bool) (result *sockdv1.CompletionEvent, last uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Operations of one lane share their handles (a recvfrom cancelled as a
	// recv); no op (0) matches any, as Cancel then found none.
	anyOp := func(o sockdv1.Operation) bool {
		evOp, ok := decodeOp(o)
		return op == 0 || ok && evOp.SameLane(op)
	}
	mine := func(ev *sockdv1.EventsResponse) (isResult bool, ok bool) {
		if ev.GetSocketId() != socket {
			return false, false
		}
		switch e := ev.Event.(type) {
		case *sockdv1.EventsResponse_Select:
			return false, e.Select.GetHandle() == handle && anyOp(e.Select.GetOperation())
		case *sockdv1.EventsResponse_Abort:
			return e.Abort.GetPartial() != nil, e.Abort.GetHandle() == handle && anyOp(e.Abort.GetOperation())
		case *sockdv1.EventsResponse_Completion:
			return true, e.Completion.GetHandle() == handle && anyOp(e.Completion.GetOperation())
		}
		return false, false
	}
	results := 0
	s.log.each(func(ev *sockdv1.EventsResponse) {
		if isResult, ok := mine(ev); ok && isResult {
			results++
		}
	})
	takeResult = takeResult && results == 1
	s.log.withdraw(func(ev *sockdv1.EventsResponse) bool {
		isResult, ok := mine(ev)
		switch {
		case !ok:
			return false
		case !isResult:
			return true
		case !takeResult:
			return false
		}
		if c := ev.GetCompletion(); c != nil {
			result = c
		} else {
			result = ev.GetAbort().GetPartial()
		}
		return true
	})
	return result, s.log.last()
}

// adopt records a socket the session now owns.
func (s *Session) adopt(sock *engine.Socket) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return false
	}
	s.ownLocked(sock)
	return true
}

func (s *Session) ownLocked(sock *engine.Socket) {
	s.owned[sock] = struct{}{}
	s.pruneLocked(s.owned, &s.ownedSweep, func(sock *engine.Socket) bool {
		// A tombstone the engine has evicted no longer resolves: death has
		// nothing left to close or forget.
		held, ok := s.manager.engine.Lookup(sock.ID())
		return !ok || held != sock
	})
}

// pruneLocked drops from m, once it reaches *next entries, the closed
// sockets gone says the session no longer needs, so that a long-lived
// session churning sockets does not hold every one it ever touched. The
// next sweep waits until m has doubled from what this one left, so each
// sweep is paid for by the growth before it.
func (s *Session) pruneLocked(m map[*engine.Socket]struct{}, next *int, gone func(*engine.Socket) bool) {
	if len(m) < max(*next, minSweep) {
		return
	}
	for sock := range m {
		if sock.Closed() && gone(sock) {
			delete(m, sock)
		}
	}
	*next = 2 * len(m)
}

// minSweep is the smallest map pruneLocked sweeps.
const minSweep = 64

// disown forgets a socket handed to another session (controlling_process),
// so that this session's death no longer touches it.
func (s *Session) disown(sock *engine.Socket) {
	s.mu.Lock()
	// Handed back to it meanwhile (A to B to A), it is still its own.
	if sock.Owner() != engine.Caller(s) {
		delete(s.owned, sock)
	}
	s.mu.Unlock()
}

// noteWaiting records that the session may hold a lane entry on sock (a nowait
// call answered select), so that its death withdraws it. A session that died
// while the call ran withdraws the entry at once: die has already passed
// over sock.
func (s *Session) noteWaiting(sock *engine.Socket) {
	s.mu.Lock()
	dead := s.dead
	if !dead {
		s.waiting[sock] = struct{}{}
		// A closed socket holds no lane entry to withdraw.
		s.pruneLocked(s.waiting, &s.waitingSweep, func(*engine.Socket) bool { return true })
	}
	s.mu.Unlock()
	if dead {
		sock.DropCaller(s)
	}
}

// isDead reports whether the session has ended.
func (s *Session) isDead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// gauges reports, for metrics, whether a stream is attached, the events not
// yet sent and the bytes held for completion mode.
func (s *Session) gauges() (attached bool, unsent, held int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attached != nil, s.log.unsent(), s.heldLocked()
}

// heldLocked is the bytes the daemon holds for the session's completion
// mode: the data of completed receives not yet sent on a stream, and what
// its waiting completions keep or will deliver. s.mu must be held.
func (s *Session) heldLocked() int { return s.log.unsentBytes + int(s.pending.Load()) }

// die ends the session as an Erlang process exits: sockets it owns are closed
// uncleanly (waiters of other sessions get abort closed), its lane entries on
// other sockets are withdrawn so the next waiter is activated (nowait ones
// here, blocking ones by closing gone), and its event stream ends. Its
// sockets, closed, lose their owner (Info says none) but still answer closed.
func (s *Session) die() {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.dead = true
	close(s.gone)
	s.log.detachLoad() // what a stream still flushes no longer counts
	if s.timer != nil {
		s.timer.Stop()
	}
	owned, waiting := s.owned, s.waiting
	s.owned, s.waiting = nil, nil
	att := s.attached
	s.attached = nil
	s.mu.Unlock()

	if att != nil {
		att.end(errSessionEnded)
	}
	if s.manager.registry != nil {
		s.manager.registry.DropWatcher(s)
	}
	for sock := range waiting {
		sock.DropCaller(s)
	}
	for sock := range owned {
		// Unless ownership has moved to another session since we adopted
		// it (decided under the socket's lock, as controlling_process is).
		// Its tombstone stays (bounded by the engine): other sessions of
		// the principal that hold its id learn it is closed.
		sock.AbandonBy(s)
	}
}

// eventLog holds a session's events in sequence order, in a ring. Events
// already sent on a stream stay for replay until newer ones push them out.
// An event not yet sent is never pushed out: it is the answer owed to a
// waiter that has no other way to learn of its turn, or the result of an
// operation the daemon already performed (a completion's bytes are no
// longer in the socket). The ring grows instead. What it can grow to is
// bounded by what owes events, each bounded elsewhere: at most one pending
// nowait operation per socket, lane and session (rule 4) on the sockets a
// principal may hold, one DOWN per monitor (MaxMonitors), and completion
// payloads within the bytes reserved for them (MaxCompletionBytes).
// Admission control (Service.admitEvent) refuses new nowait calls while the
// unsent backlog is half the capacity, so a client that stops reading
// stops adding work; the ring goes back to its capacity once the stream
// has caught up. Only sent events are ever dropped (a resumed stream that
// asks for them gets a GapEvent).
type eventLog struct {
	ring  []*sockdv1.EventsResponse
	head  int    // index of the oldest held event
	count int    // events held
	next  uint64 // sequence of the next event; sequences start at 1
	sent  uint64 // highest sequence written to a stream
	// taken is the highest sequence handed to a stream (after), which may
	// be sending it now: a cancel no longer withdraws what is taken.
	taken uint64
	// unsentBytes is payloadBytes summed over the events after sent;
	// sentBytes over the held events up to sent, kept for replay.
	unsentBytes, sentBytes int
	// Sent events are kept for replay while at most base events are held
	// and their payload stays within maxSentBytes: a ring grown by a burst
	// of unsent events, or full of large completions, does not keep them.
	base, maxSentBytes int
	// load, if set, is its principal's count, which every payload held here
	// is part of: unsent payload in load.bytes, sent in load.replay; past
	// loadMax together the log keeps no sent events for replay.
	load    *principalLoad
	loadMax int64
}

// held changes the unsent and the sent payload held by the principal's
// counts too.
func (l *eventLog) held(unsent, sent int) {
	if l.load != nil {
		l.load.bytes.Add(int64(unsent))
		l.load.replay.Add(int64(sent))
	}
}

// overLoad reports whether the principal holds more than its bound.
func (l *eventLog) overLoad() bool {
	return l.load != nil && l.loadMax > 0 && l.load.bytes.Load()+l.load.replay.Load() > l.loadMax
}

// detachLoad takes what the log holds out of the principal's counts, for
// good (its session died).
func (l *eventLog) detachLoad() {
	l.held(-l.unsentBytes, -l.sentBytes)
	l.load = nil
}

// resize moves the held events, in order, to a ring of size slots.
func (l *eventLog) resize(size int) {
	ring := make([]*sockdv1.EventsResponse, size)
	for i := range l.count {
		ring[i] = l.ring[(l.head+i)%len(l.ring)]
	}
	l.ring, l.head = ring, 0
}

// maxReplayBytes bounds the payload of sent events a session keeps for
// replay, as MaxCompletionBytes bounds the unsent.
const maxReplayBytes = 32 << 20

func newEventLog(capacity int) eventLog {
	return eventLog{ring: make([]*sockdv1.EventsResponse, capacity), next: 1,
		base: capacity, maxSentBytes: maxReplayBytes}
}

func (l *eventLog) append(ev *sockdv1.EventsResponse) {
	ev.Sequence = l.next
	l.next++
	n := payloadBytes(ev)
	l.unsentBytes += n
	l.held(n, 0)
	if l.count == len(l.ring) {
		if l.ring[l.head].Sequence > l.sent {
			l.resize(2 * len(l.ring)) // keep the unsent
		} else {
			l.dropOldest()
		}
	}
	l.ring[(l.head+l.count)%len(l.ring)] = ev
	l.count++
	l.trimSent()
}

// trimSent drops the oldest sent events past base events or maxSentBytes,
// and gives back a ring a burst grew once the stream has caught up (not
// sooner, so that a backlog hovering at base does not resize back and forth).
func (l *eventLog) trimSent() {
	for l.count > 0 && l.ring[l.head].Sequence <= l.sent && (l.count > l.base || l.sentBytes > l.maxSentBytes || l.overLoad()) {
		l.dropOldest()
	}
	if len(l.ring) > l.base && l.count <= l.base && l.unsent() == 0 {
		l.resize(l.base)
	}
}

// dropOldest forgets the oldest held event.
func (l *eventLog) dropOldest() {
	old := l.ring[l.head]
	n := payloadBytes(old)
	if old.Sequence > l.sent {
		l.unsentBytes -= n
		l.held(-n, 0)
	} else {
		l.sentBytes -= n
		l.held(0, -n)
	}
	l.ring[l.head] = nil
	l.head = (l.head + 1) % len(l.ring)
	l.count--
}

// last is the sequence of the newest event, 0 if none yet.
func (l *eventLog) last() uint64 { return l.next - 1 }

// firstHeld is the sequence of the oldest held event (next if none is held).
func (l *eventLog) firstHeld() uint64 { return l.next - uint64(l.count) }

// after returns up to limit held events with sequence > seq.
func (l *eventLog) after(seq uint64, limit int) []*sockdv1.EventsResponse {
	first := l.firstHeld()
	skip := 0
	if seq >= first {
		skip = int(seq - first + 1)
	}
	n := min(l.count-skip, limit)
	if n <= 0 {
		return nil
	}
	out := make([]*sockdv1.EventsResponse, n)
	for i := range out {
		out[i] = l.ring[(l.head+skip+i)%len(l.ring)]
	}
	return out
}

// take is after for a stream about to send the events: from then on a
// cancel does not withdraw them.
func (l *eventLog) take(seq uint64, limit int) []*sockdv1.EventsResponse {
	out := l.after(seq, limit)
	if len(out) > 0 {
		l.taken = max(l.taken, out[len(out)-1].Sequence)
	}
	return out
}

func (l *eventLog) markSent(seq uint64) {
	if seq <= l.sent {
		return
	}
	first := l.firstHeld()
	for q := max(l.sent+1, first); q <= seq && q < l.next; q++ {
		n := payloadBytes(l.ring[(l.head+int(q-first))%len(l.ring)])
		l.unsentBytes -= n
		l.sentBytes += n
		l.held(-n, n)
	}
	l.sent = seq
	l.trimSent()
}

// each calls fn for every held event no stream has taken yet.
func (l *eventLog) each(fn func(*sockdv1.EventsResponse)) {
	for i := range l.count {
		if ev := l.ring[(l.head+i)%len(l.ring)]; ev.Sequence > max(l.sent, l.taken) && ev.Event != nil {
			fn(ev)
		}
	}
}

// withdraw replaces each held event no stream has taken that match picks by
// a placeholder of the same sequence, which streams skip: sequences stay
// dense, so a resumed stream sees no gap.
func (l *eventLog) withdraw(match func(*sockdv1.EventsResponse) bool) {
	for i := range l.count {
		slot := (l.head + i) % len(l.ring)
		ev := l.ring[slot]
		if ev.Sequence <= max(l.sent, l.taken) || ev.Event == nil || !match(ev) {
			continue
		}
		n := payloadBytes(ev)
		l.unsentBytes -= n
		l.held(-n, 0)
		l.ring[slot] = &sockdv1.EventsResponse{Sequence: ev.Sequence}
	}
}

func (l *eventLog) unsent() int {
	if last := l.last(); last > l.sent {
		return int(last - l.sent)
	}
	return 0
}
