package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// A job is one call's operation. attempt runs with the side's lock held and
// the lane held by the caller; it makes the syscalls and reports done when
// the call has its answer (success or error), or false when it would block,
// after marking the side not ready. A non-nil fatal is propagated to the
// lane's queued requestors as an abort (peer closed, ECONNRESET, a fatal
// send error). completion is the job's answer as an event, for completion
// mode.
type job interface {
	attempt() (done bool, fatal error)
	completion() *Completion
}

// A progressJob may have done part of its work while it waits in completion
// mode: a stream recv(N) gathers, a stream send writes part.
type progressJob interface {
	job
	progressed() bool
}

// partial is what a completion-mode requestor cut short by reason (cancel,
// replacement, close, a queue's abort) had done: its result as it stands,
// reason as its error, or nil when it had done nothing. The bytes a recv
// gathered have left the socket and a send's written bytes are gone from
// its data, so only this answer tells the caller. Called with the side
// locked.
func (w *waiter) partial(reason error) *Completion {
	pj, ok := w.job.(progressJob)
	if w.mode != modeCompletion || !ok || !pj.progressed() {
		return nil
	}
	c := w.job.completion()
	switch {
	case c.Recv != nil:
		c.Recv.Err = reason
	case c.Send != nil:
		c.Send.Err = reason
	}
	return c
}

// A holdingJob keeps bytes while it waits: the data of a send not yet
// written, the buffer a stream recv gathers into. In completion mode they
// are reported to a Holder caller.
type holdingJob interface {
	job
	holds() int
}

// waiterMode says how a requestor learns that it may proceed.
type waiterMode uint8

const (
	// modeSelect: a nowait requestor, sent EventSelect; it retries itself.
	modeSelect waiterMode = iota
	// modeCompletion: a nowait requestor in completion mode; the engine
	// retries for it and sends EventCompletion with the result.
	modeCompletion
	// modeBlocking: the goroutine of a blocking call, parked on wake.
	modeBlocking
)

// waiterState is a requestor's place in its lane.
type waiterState uint8

const (
	stateQueued    waiterState = iota
	stateArmed                 // current, waiting for an edge
	stateSignalled             // current, told to proceed
)

// A waiter is one requestor in a lane. Nowait requestors of one Caller are
// one requestor (rule 2 compares the Caller); every blocking call is its own
// requestor, like a separate Erlang process, except that a Caller whose
// nowait call waits in the queue may make no other call in that lane (rule
// 4), as the one process it is.
type waiter struct {
	caller Caller
	handle uint64
	op     Op
	mode   waiterMode
	job    job // completion mode only
	// addressed: a send to an address, which waits for a timer rather than
	// an edge on a local datagram socket (pacedWriter).
	addressed bool
	// held is what job may keep while it waits, reported to the caller's
	// Hold when the waiter was made and taken back when it retires.
	held int
	// counted: the waiter holds a place of its caller's RequestLimiter,
	// given back when it retires or handed on to the request replacing it.
	counted atomic.Bool

	// Guarded by the side's lock.
	state waiterState
	abort error         // blocking: why someone else withdrew the request
	wake  chan struct{} // blocking: capacity 1
	final *Event        // its final event, once queued (outbox.finalEvent)

	// gate orders event delivery against retirement: an event is delivered
	// before retire returns, or never (the Cancel guarantee).
	gate    sync.Mutex
	retired bool
	// selected: a select was delivered; the caller retries, and a close
	// meanwhile answers the retry, not an abort (abortAll). Guarded by gate.
	selected bool
	// claimed: a Cancel retired it and answers its final event's result
	// itself, so an accepted socket in it is the caller's, not to be
	// discarded. Guarded by gate.
	claimed bool
}

func (w *waiter) selectInfo() *SelectInfo {
	return &SelectInfo{Op: w.op, Handle: w.handle, Completion: w.mode == modeCompletion}
}

// deliver hands ev to the caller unless the waiter was retired, and reports
// whether it did. A final event (abort, completion) retires the waiter:
// nothing follows it.
func (w *waiter) deliver(ev Event, final bool) bool {
	w.gate.Lock()
	defer w.gate.Unlock()
	if w.retired {
		return false
	}
	w.caller.Deliver(ev)
	w.selected = w.selected || ev.Kind == EventSelect
	if final {
		w.retireLocked()
	}
	return true
}

// deliverUnlessSelected is deliver of a final event that a select already
// delivered makes moot: the caller hears of its request from its retry.
func (w *waiter) deliverUnlessSelected(ev Event) bool {
	w.gate.Lock()
	defer w.gate.Unlock()
	if w.retired {
		return false
	}
	if !w.selected {
		w.caller.Deliver(ev)
	}
	w.retireLocked()
	return true
}

// retire stops further events, waiting for one being delivered.
func (w *waiter) retire() {
	w.gate.Lock()
	defer w.gate.Unlock()
	if !w.retired {
		w.retireLocked()
	}
}

// retireClaiming is retire for a Cancel that answers w's final result
// itself: it reports whether it was the one to stop delivery, and only then
// marks w claimed.
func (w *waiter) retireClaiming() bool {
	w.gate.Lock()
	defer w.gate.Unlock()
	if w.retired {
		return false
	}
	w.retireLocked()
	w.claimed = true
	return true
}

// discardable reports whether a final event w did not deliver is nobody's:
// not claimed by a Cancel.
func (w *waiter) discardable() bool {
	w.gate.Lock()
	defer w.gate.Unlock()
	return !w.claimed
}

// retireLocked marks w retired, once, and gives back what it held.
func (w *waiter) retireLocked() {
	w.retired = true
	if w.held > 0 {
		w.caller.(Holder).Hold(-w.held)
		w.held = 0
	}
	if w.counted.Swap(false) {
		w.caller.(RequestLimiter).ReleaseRequest()
	}
}

// A requestPlace is the RequestLimiter place a call holds from before its
// first attempt: until the request a nowait call leaves in a lane takes it
// (give), or until the call returns (release).
type requestPlace struct {
	limiter RequestLimiter
	held    bool
}

// reservePlace takes a place for a nowait call of c, if c is a
// RequestLimiter.
func reservePlace(c Caller) (requestPlace, error) {
	rl, ok := c.(RequestLimiter)
	if !ok {
		return requestPlace{}, nil
	}
	counted, err := rl.ReserveRequest()
	return requestPlace{limiter: rl, held: counted}, err
}

// inherit takes over the place of old, the caller's own request that this
// call replaces (rule 2).
func (p *requestPlace) inherit(old *waiter) {
	if rl, ok := old.caller.(RequestLimiter); ok && old.counted.Swap(false) {
		*p = requestPlace{limiter: rl, held: true}
	}
}

// give hands the place to w, the request the call leaves in its lane.
func (p *requestPlace) give(w *waiter) {
	if p.held {
		w.counted.Store(true)
		p.held = false
	}
}

// release gives the place back if no request took it.
func (p *requestPlace) release() {
	if p.held {
		p.held = false
		p.limiter.ReleaseRequest()
	}
}

// signal wakes a parked blocking call; a token already pending suffices.
func (w *waiter) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// park waits for the wake signal, the deadline (zero: none), ctx or the end
// of a Mortal caller.
func (w *waiter) park(ctx context.Context, deadline time.Time) error {
	var expired <-chan time.Time
	if !deadline.IsZero() {
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		expired = timer.C
	}
	var gone <-chan struct{}
	if m, ok := w.caller.(Mortal); ok {
		gone = m.Gone()
	}
	select {
	case <-w.wake:
		return nil
	case <-expired:
		return ErrTimeout
	case <-ctx.Done():
		return ctx.Err()
	case <-gone:
		return ErrCallerGone
	}
}

// nowaitOf reports whether w is a nowait requestor of c.
func (w *waiter) nowaitOf(c Caller) bool { return w != nil && w.mode != modeBlocking && w.caller == c }
