package engine

import (
	"context"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// This file implements reference §2.2 once for every operation: who may try
// the syscall, who is queued, who is told to retry, and what happens to the
// others when a requestor completes, gives up or is aborted. Operations
// supply a job (waiter.go): the syscalls of one attempt.

// A lane is a current requestor and a FIFO queue.
type lane struct {
	current *waiter
	queue   []*waiter
	// exclusive marks the connect slot: a second requestor is refused
	// (already), never queued.
	exclusive bool
}

// count is Info's num_readers/num_writers/num_acceptors.
func (l *lane) count() int {
	n := len(l.queue)
	if l.current != nil {
		n++
	}
	return n
}

func (l *lane) push(w *waiter) { l.queue = append(l.queue, w) }

func (l *lane) pop() *waiter {
	if len(l.queue) == 0 {
		return nil
	}
	w := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	return w
}

func (l *lane) remove(w *waiter) {
	l.queue = slices.DeleteFunc(l.queue, func(q *waiter) bool { return q == w })
}

// queuedNowait reports whether c already waits in the queue (rule 4).
func (l *lane) queuedNowait(c Caller) bool {
	return slices.ContainsFunc(l.queue, func(w *waiter) bool { return w.mode != modeBlocking && w.caller == c })
}

// A side is the read or the write half of a socket: the lanes that share its
// readiness, the cached readiness itself, and the lock under which both
// change and the side's syscalls run.
type side struct {
	mu sync.Mutex
	// ready means "not known to be empty": set by every edge, cleared only
	// when a syscall under mu answers EAGAIN (see doc.go).
	ready bool
	// emptyAt is the loop's harvest count read just before the syscall that
	// last found the side empty. An edge from a harvest no later than that
	// was harvested before the syscall ran, so it is stale: the kernel
	// reports anything newer in a later harvest. Read before the syscall,
	// never after, or an edge harvested after the syscall could be lost.
	emptyAt uint64
	// otherQueue: the read that last found the side empty read the error
	// or urgent-data queue (MSG_ERRQUEUE, MSG_OOB), whose EAGAIN says
	// nothing of the data, or was a peek that waits for more than there is
	// (peekExactly). A reader that becomes current then tries the
	// syscall rather than wait for an edge that may have come already.
	otherQueue bool
	// peeked is what a peek that waits for more saw when it marked the read
	// side empty (peekExactly): an edge with no more bytes than that is no
	// news (noNews).
	peeked int
	// selected: a requestor of this side has waited for an edge. It stays,
	// as the NIF's ESOCK_STATE_SELECTED ("the socket has been used in
	// select, so select_stop is required") does: Info's "selected".
	selected bool
	// paced: the write side waits for a timer, not an edge (pace), with the
	// backoff its last wait took; meanwhile a writer that sends to an
	// address ignores edges (pacedWriter).
	paced   bool
	backoff time.Duration
	lanes   []*lane
	// retiring holds requestors removed from the lanes whose final event
	// (abort or completion) is still being delivered, or that are still to
	// be retired, so that Cancel and DropCaller can still stop them.
	retiring []*waiter
}

// empty records that a syscall started at harvest at found the side empty.
func (sd *side) empty(at uint64) {
	sd.ready = false
	sd.emptyAt = at
	sd.otherQueue = false
	sd.peeked = 0
}

// hold puts w, taken out of sd's lanes, on sd.retiring until release: its
// final event, or its retirement, is on its way. sd's lock is held.
func (sd *side) hold(w *waiter) { sd.retiring = append(sd.retiring, w) }

// release takes w off sd.retiring, once retired.
func (sd *side) release(w *waiter) {
	sd.mu.Lock()
	sd.retiring = slices.DeleteFunc(sd.retiring, func(x *waiter) bool { return x == w })
	sd.mu.Unlock()
}

// retiringOf finds c's requestor of handle in lane kind lk among those on
// their way out, with a final event or none (a side's lanes share the
// list).
func (sd *side) retiringOf(c Caller, handle uint64, lk laneKind) *waiter {
	for _, w := range sd.retiring {
		if w.caller == c && w.handle == handle && w.op.lane() == lk {
			return w
		}
	}
	return nil
}

// laneKind is the lane an operation queues in: the one place that says
// which operations read, write, accept or connect.
type laneKind uint8

const (
	noLane laneKind = iota
	acceptLane
	readLane
	writeLane
	connectLane
)

func (op Op) lane() laneKind {
	switch op {
	case OpAccept:
		return acceptLane
	case OpRecv, OpRecvFrom, OpRecvMsg:
		return readLane
	case OpSend, OpSendTo, OpSendMsg:
		return writeLane
	case OpConnect:
		return connectLane
	}
	return noLane
}

// SameLane reports whether op and other queue in one lane, and so share
// their handles (a recvfrom cancelled as a recv).
func (op Op) SameLane(other Op) bool { return op.lane() == other.lane() }

// laneOf maps an operation to its side and lane.
func (s *Socket) laneOf(op Op) (*side, *lane) {
	switch op.lane() {
	case acceptLane:
		return &s.rd, &s.acceptors
	case readLane:
		return &s.rd, &s.readers
	case writeLane:
		return &s.wr, &s.writers
	case connectLane:
		return &s.wr, &s.connector
	}
	return nil, nil
}

// conflict enforces that lanes sharing a side's select do not overlap:
// recv while accepting, accept while reading, send while connecting and
// connect while writing are {invalid, state}. Called with the side locked.
func (s *Socket) conflict(op Op) error {
	var busy bool
	switch op.lane() {
	case acceptLane:
		busy = s.readers.current != nil
	case readLane:
		busy = s.acceptors.current != nil
	case writeLane:
		busy = s.connecting
	case connectLane:
		busy = s.writers.current != nil
	}
	if busy {
		return errState()
	}
	return nil
}

func (s *Socket) newWaiter(c Caller, op Op, t Timeout, j job) *waiter {
	w := &waiter{caller: c, op: op}
	if sj, ok := j.(*sendJob); ok && sj.to != nil {
		w.addressed = true
	}
	switch {
	case t.Kind != WaitNowait:
		w.mode = modeBlocking
		w.wake = make(chan struct{}, 1)
		return w
	case t.Completion:
		w.mode = modeCompletion
		w.job = j
		if h, ok := c.(Holder); ok {
			if hj, ok := j.(holdingJob); ok {
				if n := hj.holds(); n > 0 {
					w.held = n
					h.Hold(n)
				}
			}
		}
	}
	w.handle = t.Handle
	if w.handle == 0 {
		w.handle = s.e.newHandle()
	}
	return w
}

func (s *Socket) roomIn(l *lane) error {
	if len(l.queue) >= s.e.cfg.MaxQueuePerLane {
		return &QuotaError{Resource: "queue", Limit: s.e.cfg.MaxQueuePerLane}
	}
	return nil
}

// arm makes w wait for the next edge, after an attempt found nothing: it
// counts a *_waits. It fails, and leaves w as it was, when the socket cannot
// be watched for edges.
func (s *Socket) arm(w *waiter) error {
	if err := s.armNext(w); err != nil {
		return err
	}
	if id, ok := waitCounter(w.op); ok {
		s.cnt.inc(id)
	}
	return nil
}

// armNext is arm for a queued requestor whose turn has come: Erlang arms
// its select (esock_activate_next_*) without counting a wait, as it made
// no attempt.
func (s *Socket) armNext(w *waiter) error {
	if err := s.watch(); err != nil {
		return err
	}
	w.state = stateArmed
	sd, _ := s.laneOf(w.op)
	sd.selected = true
	return nil
}

// dismiss takes the current requestor w, which cannot be armed, out of the
// lane and answers it err.
func (s *Socket) dismiss(sd *side, l *lane, w *waiter, err error, out *outbox) {
	l.current = nil
	s.vacate(l)
	s.abort(sd, w, err, out)
}

// advance moves the lane along (rule 5): while the side is ready, the
// current requestor, if armed, or else the next queued one, is told to
// proceed; when the side is not ready, a newly current requestor is armed.
func (s *Socket) advance(sd *side, l *lane, out *outbox) {
	for {
		w := l.current
		if w == nil {
			if w = l.pop(); w == nil {
				return
			}
			l.current = w
			if sd.ready && w.mode != modeCompletion {
				// Not known empty may still be empty (a short read leaves
				// it so): then w is armed, as Erlang arms the next
				// requestor's select, and told when there is something,
				// rather than sent to find nothing and wait again. A
				// completion-mode requestor's attempt finds out itself.
				at := s.harvest()
				if !s.stillReady(sd) {
					sd.empty(at)
				}
			}
			if !sd.ready && !sd.otherQueue {
				if err := s.armNext(w); err != nil {
					s.dismiss(sd, l, w, err, out)
					continue
				}
				return
			}
		} else if w.state != stateArmed || !sd.ready {
			return
		}
		if !s.proceed(sd, l, w, out) {
			return
		}
	}
}

// stillReady asks the kernel, without taking anything, whether sd may
// proceed: data, a connection, urgent data, end of data or an error on the
// read side; room on the write side. sd.mu is held, so the fd is open. Like
// any syscall that may find the side empty, the caller reads the harvest
// count before it (side.emptyAt).
func (s *Socket) stillReady(sd *side) bool {
	events := int16(unix.POLLIN | unix.POLLPRI)
	if sd == &s.wr {
		events = unix.POLLOUT
	}
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: events}}
	n, err := unix.Poll(fds, 0)
	return err != nil || n > 0
}

// proceed tells the current requestor w that it may go on. It reports true
// when that finished w (completion mode), leaving the lane to the next.
func (s *Socket) proceed(sd *side, l *lane, w *waiter, out *outbox) bool {
	switch w.mode {
	case modeSelect:
		w.state = stateSignalled
		out.event(w, Event{Kind: EventSelect, Socket: s, Handle: w.handle, Op: w.op})
	case modeBlocking:
		w.state = stateSignalled
		w.signal()
	case modeCompletion:
		done, fatal := w.job.attempt()
		if !done {
			if err := s.arm(w); err != nil {
				s.dismiss(sd, l, w, err, out)
				return true
			}
			return false
		}
		l.current = nil
		if s.traced() {
			s.logDebug("completion", "op", w.op, "caller", w.caller.CallerID(), "handle", w.handle, "fatal", fatal)
		}
		if fatal != nil {
			s.abortQueued(sd, l, fatal, out)
		}
		out.finalEvent(sd, w, Event{Kind: EventCompletion, Socket: s, Handle: w.handle, Op: w.op, Completion: w.job.completion()})
		return true
	}
	return false
}

// abort withdraws w for reason: a nowait requestor gets EventAbort, a
// blocking one returns reason. w must already be out of its lane.
func (s *Socket) abort(sd *side, w *waiter, reason error, out *outbox) {
	if w.mode == modeBlocking {
		w.abort = reason
		w.signal()
		return
	}
	out.finalEvent(sd, w, Event{Kind: EventAbort, Socket: s, Handle: w.handle, Op: w.op, Reason: reason, Completion: w.partial(reason)})
}

func (s *Socket) abortQueued(sd *side, l *lane, reason error, out *outbox) {
	if len(l.queue) > 0 && s.traced() {
		s.logDebug("aborting queued requestors", "count", len(l.queue), "reason", reason)
	}
	for _, w := range l.queue {
		s.abort(sd, w, reason, out)
	}
	l.queue = nil
}

// abortAll empties every lane of sd (close). As the NIF's do_stop, it
// aborts a current requestor only while its select is armed: one already
// told to retry hears of the close from its retry, and a select on its way
// to it stands in for the abort (reference §2.4).
func (s *Socket) abortAll(sd *side, reason error, out *outbox) {
	for _, l := range sd.lanes {
		if w := l.current; w != nil {
			l.current = nil
			if w.mode == modeSelect && w.state == stateSignalled {
				out.finalEventUnlessSelected(sd, w, Event{Kind: EventAbort, Socket: s, Handle: w.handle, Op: w.op, Reason: reason})
			} else {
				s.abort(sd, w, reason, out)
			}
		}
		s.abortQueued(sd, l, reason, out)
	}
}

// replace drops the current requestor old because its caller called again
// (rule 2) with Timeout t; waits says whether the new call has to wait in
// its turn. The old handle is void. A pending completion is told so with
// abort cancelled, since nothing else would answer it, carrying what it had
// done (even under a reused handle: those bytes are nowhere else). An accept handle is
// told so only when its select had not fired and the new call waits again
// (OTP-18635, essio_accept_accepting_current_error): a select already
// delivered was consumed by the retry, and a retry that succeeds at once
// answers the caller itself. A reused handle simply stays valid.
func (s *Socket) replace(sd *side, old *waiter, t Timeout, waits bool, out *outbox) {
	reused := t.Kind == WaitNowait && t.Handle == old.handle
	unanswered := old.mode == modeCompletion || (old.op == OpAccept && waits && old.state == stateArmed)
	partial := old.partial(ErrCancelled)
	if (!reused && unanswered) || partial != nil {
		out.finalEvent(sd, old, Event{Kind: EventAbort, Socket: s, Handle: old.handle, Op: old.op, Reason: ErrCancelled, Completion: partial})
		return
	}
	out.retire(sd, old)
}

// vacate notes that l lost its current requestor without an answer
// (cancel, timeout, death): a connect attempt is then forgotten, as the
// NIF's cancel does; the kernel may still complete it.
func (s *Socket) vacate(l *lane) {
	if l == &s.connector {
		s.connecting, s.connectErr = false, 0
	}
}

// withdraw takes w out of its lane after a timeout or cancellation.
func (s *Socket) withdraw(sd *side, l *lane, w *waiter, out *outbox) {
	if l.current != w {
		l.remove(w)
		return
	}
	l.current = nil
	s.vacate(l)
	s.advance(sd, l, out)
}

// busyReporter lets a job say what a refused requestor of an exclusive lane
// gets (connect: already, or {invalid, state} for connect/1).
type busyReporter interface{ busy() error }

// perform runs one call of op through its lane: rules 1 to 5 of §2.2 and
// the timeout forms of §2.3. It returns the select info of a nowait call
// that must wait, or the error that ended the wait (ErrTimeout, ctx.Err(),
// the abort reason); the operation's own result is in the job.
func (s *Socket) perform(ctx context.Context, c Caller, op Op, t Timeout, j job) (*SelectInfo, error) {
	deadline, err := t.deadline()
	if err != nil {
		return nil, err
	}
	// A caller that has given up, or has ended, takes nothing: an accept
	// would take a connection, a recv bytes, that no one would receive.
	if err := givenUp(ctx, c); err != nil {
		return nil, err
	}
	sd, l := s.laneOf(op)
	var out outbox
	sd.mu.Lock()
	defer func() {
		sd.mu.Unlock()
		out.flush(s)
	}()
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := s.conflict(op); err != nil {
		return nil, err
	}

	// mine is this call's place in the lane while it parks (blocking calls).
	var mine *waiter
	// place is the call's RequestLimiter place: held while a call that may
	// wait runs, given to the request a nowait call leaves in the lane.
	var place requestPlace
	defer place.release()
	// replaced is the caller's own earlier requestor (rule 2), settled once
	// the first attempt shows whether this call waits.
	var replaced *waiter
	settle := func(waits bool) {
		if replaced != nil {
			s.replace(sd, replaced, t, waits, &out)
			replaced = nil
		}
	}
	switch cur := l.current; {
	case cur == nil:
		// Rule 1: try at once.
		if t.Kind == WaitNowait || t.MayWait() {
			if place, err = reservePlace(c); err != nil {
				return nil, err
			}
		}
	case cur.nowaitOf(c):
		// Rule 2: the current requestor calls again; its select is
		// replaced, and its place is this call's.
		l.current = nil
		replaced = cur
		place.inherit(cur)
	default:
		// Rule 3: someone else holds the lane; no syscall.
		var sel *SelectInfo
		if mine, sel, err = s.queueBehind(ctx, sd, l, c, op, t, j, deadline, &place, &out); mine == nil {
			return sel, err
		}
	}

	for {
		done, fatal := j.attempt()
		settle(!done)
		if done {
			return s.finish(sd, l, c, op, t, j, fatal, &place, &out), nil
		}
		// A poll answers timeout; a socket epoll cannot watch answers why,
		// now, since no edge would end the wait.
		stop := ErrTimeout
		if !t.poll() {
			stop = s.watch()
		} else if id, ok := waitCounter(op); ok && op.lane() != readLane {
			// Erlang polls a read without a select, but arms one for
			// anything else and cancels it at once (reference §1.1).
			s.cnt.inc(id)
			sd.selected = true
		}
		if stop != nil {
			l.current = nil
			s.vacate(l)
			s.advance(sd, l, &out)
			return nil, stop
		}
		if t.Kind == WaitNowait {
			w := s.newWaiter(c, op, t, j)
			l.current = w
			s.arm(w) // cannot fail: watched above
			place.give(w)
			s.advance(sd, l, &out)
			if s.traced() {
				s.logDebug("select", "op", op, "caller", c.CallerID(), "handle", w.handle)
			}
			return w.selectInfo(), nil
		}
		if mine == nil {
			mine = s.newWaiter(c, op, t, j)
		}
		l.current = mine
		s.arm(mine) // cannot fail: watched above
		s.advance(sd, l, &out)
		if err := s.awaitTurn(ctx, sd, l, mine, deadline, &out); err != nil {
			return nil, err
		}
	}
}

// queueBehind is rule 3 of §2.2 for a lane someone else holds: an exclusive
// lane refuses the call, a nowait call is queued and answered select, a
// poll times out, and a blocking call queues and waits for its turn. It
// returns the call's waiter, now current, when the call goes on to its
// attempt, or else (mine nil) the call's answer. A blocking call takes its
// place (RequestLimiter) into place, which holds it while the call runs.
func (s *Socket) queueBehind(ctx context.Context, sd *side, l *lane, c Caller, op Op, t Timeout, j job, deadline time.Time, place *requestPlace, out *outbox) (mine *waiter, sel *SelectInfo, err error) {
	if l.exclusive {
		if b, ok := j.(busyReporter); ok {
			return nil, nil, b.busy()
		}
		return nil, nil, ErrAlready
	}
	if l.queuedNowait(c) {
		// Rule 4, whatever this call's timeout: an Erlang process that
		// waits in the queue cannot call again.
		return nil, nil, errState()
	}
	if t.poll() {
		return nil, nil, ErrTimeout
	}
	if err := s.roomIn(l); err != nil {
		return nil, nil, err
	}
	if t.Kind == WaitNowait {
		place, err := reservePlace(c)
		if err != nil {
			return nil, nil, err
		}
		w := s.newWaiter(c, op, t, j)
		place.give(w)
		l.push(w)
		if s.traced() {
			s.logDebug("queued", "op", op, "caller", c.CallerID(), "handle", w.handle)
		}
		return nil, w.selectInfo(), nil
	}
	if *place, err = reservePlace(c); err != nil {
		return nil, nil, err
	}
	mine = s.newWaiter(c, op, t, j)
	l.push(mine)
	if err := s.awaitTurn(ctx, sd, l, mine, deadline, out); err != nil {
		return nil, nil, err
	}
	return mine, nil, nil
}

// finish ends a call whose attempt is done: the lane passes on (its queue
// aborted when the attempt met an error that ends every reader's or
// writer's hope, such as a peer's close), and a stream read that got part of
// what it asked for may go on waiting as a select (keepReading), in the
// call's request place.
func (s *Socket) finish(sd *side, l *lane, c Caller, op Op, t Timeout, j job, fatal error, place *requestPlace, out *outbox) *SelectInfo {
	if s.traced() {
		s.logDebug("done", "op", op, "caller", c.CallerID(), "fatal", fatal)
	}
	l.current = nil // the call's waiter, or already nil
	if fatal != nil {
		s.abortQueued(sd, l, fatal, out)
	}
	sel := s.keepReading(c, op, t, j, fatal, place)
	if sel == nil {
		sel = s.keepWriting(c, op, j, fatal, place)
	}
	s.advance(sd, l, out)
	return sel
}

// awaitTurn is await, and then a check that the caller still wants its
// turn: told to proceed as its call was cancelled, it leaves the lane to the
// next requestor rather than take what no one would receive.
func (s *Socket) awaitTurn(ctx context.Context, sd *side, l *lane, w *waiter, deadline time.Time, out *outbox) error {
	if err := s.await(ctx, sd, l, w, deadline, out); err != nil {
		return err
	}
	if err := givenUp(ctx, w.caller); err != nil {
		s.withdraw(sd, l, w, out)
		return err
	}
	return nil
}

// givenUp is why a call should take nothing: its context ended, or its
// caller did (a Mortal that is gone: ErrCallerGone, as its waits end).
func givenUp(ctx context.Context, c Caller) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m, ok := c.(Mortal); ok {
		select {
		case <-m.Gone():
			return ErrCallerGone
		default:
		}
	}
	return nil
}

// await parks a blocking call until its requestor w is current and told to
// proceed. It is called, and returns, with sd locked; it flushes out before
// parking. On abort, timeout or cancellation w is out of the lane.
func (s *Socket) await(ctx context.Context, sd *side, l *lane, w *waiter, deadline time.Time, out *outbox) error {
	for {
		sd.mu.Unlock()
		out.flush(s)
		err := w.park(ctx, deadline)
		sd.mu.Lock()
		switch {
		case w.abort != nil:
			return w.abort
		case err != nil:
			s.withdraw(sd, l, w, out)
			return err
		case w.state == stateSignalled:
			return nil
		}
	}
}

// A rearmable job is a read that otp select_read may leave its caller a
// new select after: readOK says it read, rearmed that the select was left.
type rearmable interface {
	readOK() bool
	rearmed()
}

// keepReading makes, for a nowait select-mode read j that has just read data
// on a socket with otp select_read on, its caller the current reader again
// with a new select armed (reference §2.6: {select_read, {SI, Data}}), and
// returns its select info; nil when that does not apply or the socket
// cannot be watched. The new request takes place. Called with the side
// locked and the lane free.
func (s *Socket) keepReading(c Caller, op Op, t Timeout, j job, fatal error, place *requestPlace) *SelectInfo {
	// The option first: every completed call passes here, and almost no
	// socket has it on.
	if !s.selectRead.Load() || fatal != nil || t.Kind != WaitNowait || t.Completion || op.lane() != readLane {
		return nil
	}
	r, ok := j.(rearmable)
	if !ok || !r.readOK() {
		return nil
	}
	sd, l := s.laneOf(op)
	if l.current != nil {
		return nil
	}
	if sd.ready || sd.otherQueue {
		// Learn whether more is there now, so that the new select fires at
		// once only when it should: a spurious one would cost the caller
		// the round trip select_read saves. poll, not a peek: a recv
		// would consume a pending socket error (econnreset) that the
		// caller's next read must see. A side marked empty by a read that
		// said nothing of the data (otherQueue) may have some.
		at := s.harvest()
		fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
		switch n, err := unix.Poll(fds, 0); {
		case err == nil && n == 0:
			sd.empty(at)
		case err == nil:
			sd.ready, sd.otherQueue, sd.peeked = true, false, 0
		}
	}
	w := s.newWaiter(c, op, t, nil)
	l.current = w
	if s.arm(w) != nil {
		l.current = nil
		return nil
	}
	place.give(w)
	r.rearmed()
	return w.selectInfo()
}

// keepWriting makes the caller of j, a stream send part whose next part
// follows (SendContinued), the current writer again once all of j is
// written: told to go on, as if its select had been delivered, so that it
// hears of a close from its next part, not from an abort. It returns the
// request's select info; nil when that does not apply, or when the
// caller's RequestLimiter refuses the place. Called with the side locked
// and the lane free.
func (s *Socket) keepWriting(c Caller, op Op, j job, fatal error, place *requestPlace) *SelectInfo {
	sj, ok := j.(*sendJob)
	if !ok || !sj.continues || fatal != nil || sj.err != nil || sj.sent < sj.total || s.typ != unix.SOCK_STREAM {
		return nil
	}
	_, l := s.laneOf(op)
	if l.current != nil {
		return nil
	}
	if !place.held {
		p, err := reservePlace(c)
		if err != nil {
			return nil
		}
		*place = p
	}
	w := s.newWaiter(c, op, Timeout{Kind: WaitNowait, Handle: sj.keptHandle}, nil)
	w.state = stateSignalled
	w.selected = true
	place.give(w)
	l.current = w
	return w.selectInfo()
}

// poll reports Erlang's timeout 0: one attempt, no queueing, no select.
func (t Timeout) poll() bool { return t.Kind == WaitFor && t.D <= 0 }

// MayWait reports whether a call with timeout t may wait for the socket:
// not a nowait call (it answers at once) nor a poll (timeout 0).
func (t Timeout) MayWait() bool { return t.Kind != WaitNowait && !t.poll() }

// deadline validates t and returns when a WaitFor call gives up (zero for
// infinity and nowait).
func (t Timeout) deadline() (time.Time, error) {
	switch t.Kind {
	case WaitInfinity, WaitNowait:
		return time.Time{}, nil
	case WaitFor:
		if t.D < 0 {
			return time.Time{}, &InvalidError{What: "timeout", Value: t.D}
		}
		return time.Now().Add(t.D), nil
	}
	return time.Time{}, &InvalidError{What: "timeout", Value: t.Kind}
}
