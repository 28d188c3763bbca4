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
	events   eventLog
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

	// requests answers its calls made again with a request id.
	requests requestLog

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
	// waiting counts its sessions' operations that wait, under the
	// pending_operations quota (Session.ReserveRequest): calls that may
	// wait and the requests nowait calls leave in lanes, taken by the
	// engine, and pipes and relays (Service.admitStream).
	waiting atomic.Int64
	// daemon, if set, is what all principals hold together: bytes and
	// replay are added to it as well.
	daemon *daemonLoad
	// reserved reports whether the principal may take the daemon's last
	// bytes (daemonLoad.refusal), asked each time they are near: a policy
	// reload changes who is an admin. Nil: no one.
	reserved func() bool
}

// admin reports whether l's principal may take the daemon's last bytes.
func (l *principalLoad) admin() bool { return l.reserved != nil && l.reserved() }

// idle reports whether the load holds nothing: no waiting operations,
// bytes or replay. Each move between them increases its destination first
// and it reads a move's source before its destination, so that no move
// looks like nothing held: a finished nowait request's event is logged
// (bytes) before its place is given back (waiting), and a sent event's
// replay is counted before its unsent bytes go (eventLog.held).
func (l *principalLoad) idle() bool {
	return l.waiting.Load() == 0 && l.bytes.Load() == 0 && l.replay.Load() == 0
}

// takeWaiting takes a place among the principal's waiting operations,
// unless quota of them are taken.
func (l *principalLoad) takeWaiting(quota int) bool {
	if l.waiting.Add(1) > int64(quota) {
		l.waiting.Add(-1)
		return false
	}
	return true
}

// releaseWaiting gives back a place takeWaiting took.
func (l *principalLoad) releaseWaiting() { l.waiting.Add(-1) }

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
	s.load.addBytes(int64(delta))
}

// hold is Hold(n) for an admission: refused, holding nothing, when its
// principal already held limit bytes or more, or the daemon all it may
// (principalLoad.hold).
func (s *Session) hold(n, limit int) error {
	if err := s.load.hold(n, limit); err != nil {
		return err
	}
	s.pending.Add(int64(n))
	return nil
}

// hold adds n to the principal's bytes, and the daemon's, for a call that
// keeps n bytes (a completion's reservation, a blocking call's data or
// buffer, a pipe's upload); refused, holding nothing, with the quota error
// of the bound reached when the principal already held limit bytes or more,
// or all principals together their daemon's bound. Each count is shared by
// calls admitted at the same moment, so it is added to first and then
// looked at: together they pass a bound by one call at most. The caller
// gives the bytes back with release.
func (l *principalLoad) hold(n, limit int) error {
	if l.bytes.Add(int64(n))-int64(n) >= int64(limit) {
		l.bytes.Add(-int64(n))
		return quotaExceeded(principalBytes, limit)
	}
	if d := l.daemon; d != nil {
		if err := d.refusal(d.bytes.Add(int64(n))-int64(n), l); err != nil {
			d.bytes.Add(-int64(n))
			l.bytes.Add(-int64(n))
			return err
		}
		d.relieve()
	}
	return nil
}

// release gives back n bytes hold took.
func (l *principalLoad) release(n int) { l.addBytes(-int64(n)) }

// addBytes and addReplay change the principal's counts and its daemon's.
func (l *principalLoad) addBytes(n int64) {
	l.bytes.Add(n)
	if l.daemon != nil {
		l.daemon.bytes.Add(n)
	}
}

func (l *principalLoad) addReplay(n int64) {
	l.replay.Add(n)
	if l.daemon != nil {
		l.daemon.replay.Add(n)
	}
}

// daemonLoad is what all principals hold in the daemon together, the sum
// of their principalLoad's bytes and replay, bounded by limit
// (Limits.MaxDaemonBytes): each principal's own bound does not keep the
// daemon within a memory limit once several are busy.
type daemonLoad struct {
	bytes, replay atomic.Int64
	limit         int64
	// shed drops, from every session's log, the sent events kept for
	// replay while the daemon holds more than its bound (set by the
	// session manager): a log gives them up itself only when it adds an
	// event or sends one, and an idle session's would keep them while
	// others' calls fill the bound beside them. shedding: one runs.
	shed     func()
	shedding atomic.Bool
}

// adminReserve is the share of the daemon's bound that only root and the
// daemon's user may take, as with client connections: other principals
// filling the rest do not lock them out.
const adminReserve = 16

// refusal is the quota error for an admission of l's when the daemon held
// held bytes before it, or nil: past the bound for everyone, past all but
// its last sixteenth for those not reserved. Who is reserved (a policy
// lookup) is asked only there, not on every admission.
func (d *daemonLoad) refusal(held int64, l *principalLoad) error {
	return reserveRefusal(daemonBytes, held, d.limit, l.admin)
}

// reserveRefusal is the quota error for resource, a daemon-wide bound of
// limit of which used is taken: past the limit for everyone, past all but
// its last sixteenth (adminReserve) for those admin does not say are
// reserved, asked only then (a policy lookup).
func reserveRefusal(resource string, used, limit int64, admin func() bool) error {
	if used >= limit {
		return quotaExceeded(resource, int(limit))
	}
	if shared := limit - limit/adminReserve; used >= shared && !admin() {
		return quotaExceeded(resource, int(shared))
	}
	return nil
}

// full refuses what would add to the daemon's bytes once they reached its
// bound for l's principal, as admitEventLocked does for a principal's own.
func (d *daemonLoad) full(l *principalLoad) error {
	if d == nil {
		return nil
	}
	if err := d.refusal(d.bytes.Load(), l); err != nil {
		return err
	}
	d.relieve()
	return nil
}

// over reports whether the daemon holds more than its bound, sent events
// kept for replay among it.
func (d *daemonLoad) over() bool {
	return d != nil && d.bytes.Load()+d.replay.Load() > d.limit
}

// relieve sheds the sessions' replay, in the background, once the daemon
// holds more than its bound: what its calls owe is bounded by admission,
// what it keeps for replay only so, and the two together stay near the
// bound rather than twice it.
func (d *daemonLoad) relieve() {
	if d.shed == nil || d.replay.Load() == 0 || !d.over() || !d.shedding.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer d.shedding.Store(false)
		d.shed()
	}()
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
	s.events.append(msg)
	if s.attached != nil {
		s.attached.wake()
	}
}

// withdrawEvents takes back the events of socket's handle in op's lane (0:
// any lane) that are held and not yet handed to a stream (Cancel: none may
// reach the client after it): its selects, and aborts that carry nothing;
// those a stream already took are voided for replay, as Erlang's cancel
// flushes them from the mailbox.
// A result (a completion, or an abort with partial work) is taken back only
// when takeResult says the cancel has none to answer with and it is the
// only one: it is then returned to be answered instead. With none held
// back, the one a stream took but the client has not read is claimed
// (eventLog.claimTaken), when the cancel's own call said what its client
// read (readSaid): another handle's says nothing of what the stream's
// reader took (a reviewer's resumed handle had a completion its
// application had read answered again). claimed is its sequence. Results
// it cannot return stay, to be delivered: a reused handle may have
// several. last is the newest sequence.
func (s *Session) withdrawEvents(socket string, op engine.Op, handle uint64, takeResult, readSaid bool) (result *sockdv1.CompletionEvent, claimed, last uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Operations of one lane share their handles (a recvfrom cancelled as a
	// recv); no op (0) matches any, as Cancel then found none.
	inLane := func(o sockdv1.Operation) bool {
		evOp, ok := decodeOp(o)
		return op == 0 || ok && evOp.SameLane(op)
	}
	mine := func(ev *sockdv1.EventsResponse) (isResult bool, ok bool) {
		if ev.GetSocketId() != socket {
			return false, false
		}
		switch e := ev.Event.(type) {
		case *sockdv1.EventsResponse_Select:
			return false, e.Select.GetHandle() == handle && inLane(e.Select.GetOperation())
		case *sockdv1.EventsResponse_Abort:
			return e.Abort.GetPartial() != nil, e.Abort.GetHandle() == handle && inLane(e.Abort.GetOperation())
		case *sockdv1.EventsResponse_Completion:
			return true, e.Completion.GetHandle() == handle && inLane(e.Completion.GetOperation())
		}
		return false, false
	}
	results := 0
	s.events.each(func(ev *sockdv1.EventsResponse) {
		if isResult, ok := mine(ev); ok && isResult {
			results++
		}
	})
	claim := takeResult && readSaid && results == 0
	takeResult = takeResult && results == 1
	s.events.withdraw(func(ev *sockdv1.EventsResponse) bool {
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
	if claim {
		if ev := s.events.claimTaken(func(ev *sockdv1.EventsResponse) bool {
			isResult, ok := mine(ev)
			return ok && isResult
		}); ev != nil {
			if result = ev.GetCompletion(); result == nil {
				result = ev.GetAbort().GetPartial()
			}
			claimed = ev.Sequence
		}
	}
	s.events.voidTaken(func(ev *sockdv1.EventsResponse) bool {
		isResult, ok := mine(ev)
		return ok && !isResult
	})
	return result, claimed, s.events.last()
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

// waitingOn returns the sockets where the session may hold a lane entry.
func (s *Session) waitingOn() []*engine.Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*engine.Socket, 0, len(s.waiting))
	for sock := range s.waiting {
		out = append(out, sock)
	}
	return out
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
	return s.attached != nil, s.events.owed(), s.heldLocked()
}

// heldLocked is the bytes the daemon holds for the session's completion
// mode: the data of completed receives not yet sent on a stream, and what
// its waiting completions keep or will deliver. s.mu must be held.
func (s *Session) heldLocked() int { return s.events.unsentBytes + int(s.pending.Load()) }

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
	if s.timer != nil {
		s.timer.Stop()
	}
	owned, waiting := s.owned, s.waiting
	s.owned, s.waiting = nil, nil
	att := s.attached
	s.attached = nil
	if att == nil {
		s.events.detachLoad()
	} // else what the stream still flushes counts until it ends (detach)
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

// attachment is one Events stream attached to a session.
type attachment struct {
	notify chan struct{} // new events; capacity 1, so wakes coalesce
	done   chan struct{} // closed when the stream must end
	once   sync.Once
	reason error
	// sending: the stream's sender goroutine runs, and may have sent events
	// it has not yet marked sent.
	sending atomic.Bool
}

func newAttachment() *attachment {
	return &attachment{notify: make(chan struct{}, 1), done: make(chan struct{})}
}

func (a *attachment) wake() {
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

func (a *attachment) end(reason error) {
	a.once.Do(func() {
		a.reason = reason
		close(a.done)
	})
}

// attach makes a the session's stream, ending any previous one, and stops the
// grace timer. It refuses a stream whose call ctx is already over: gRPC
// cancels a call before it starts the calls the client made after it on the
// same connection, so checking under s.mu keeps a cancelled stream whose
// handler ran late from replacing the stream its client opened next.
func (s *Session) attach(ctx context.Context, a *attachment) error {
	_, err := s.attachUnlessFollowed(ctx, a, false)
	return err
}

// attachUnlessFollowed is attach, except that with onlyIfAlone it leaves
// a stream already attached in place and attaches nothing (following).
func (s *Session) attachUnlessFollowed(ctx context.Context, a *attachment, onlyIfAlone bool) (following bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return false, errSessionEnded
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if s.attached != nil {
		if onlyIfAlone {
			return true, nil
		}
		s.attached.end(errStreamReplaced)
	}
	s.attached = a
	s.detached.Store(false)
	s.graceDeferred.Store(false)
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	return false, nil
}

// detach removes a if it is still the attached stream and starts the grace
// period. A dead session's stream has flushed what it could: the log's
// events no longer count for its principal.
func (s *Session) detach(a *attachment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		s.events.detachLoad()
		return
	}
	if s.attached != a {
		return
	}
	s.attached = nil
	// What the stream took and did not send is no longer on its way: a
	// cancel may take it back again. Unless its sender still runs: it may
	// have sent some of it, which a cancel must not answer a second time,
	// so all of it stays taken (the next stream sends it).
	if !a.sending.Load() {
		s.events.taken = s.events.sent
	}
	s.startGraceLocked()
}

func (s *Session) startGraceLocked() { s.armGraceLocked(s.grace) }

// armGraceLocked starts a grace period that ends after d.
func (s *Session) armGraceLocked(d time.Duration) {
	s.detached.Store(true)
	s.graceDeferred.Store(false)
	if s.timer != nil {
		s.timer.Stop()
	}
	// The period's number, not the timer, tells its callback whether it is
	// still the one in force: the callback may run before AfterFunc has
	// returned the timer.
	s.graces++
	grace := s.graces
	s.timer = time.AfterFunc(d, func() { s.manager.expire(s, grace) })
}
