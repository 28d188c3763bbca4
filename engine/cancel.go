package engine

import "slices"

// Cancel is socket:cancel/2 (reference §2.5). It answers nil when si is the
// caller's current request (the next queued requestor is then activated)
// or one of its queued requests, &InvalidError{What: si.Tag()} when nothing
// matches, and ErrClosed on a closed socket. Whatever the answer,
// once Cancel returns no event for si's handle will be delivered.
//
// A completion-mode request's result is never lost to a cancel: done is
// what the request had done when cut short (a stream recv's gathered bytes,
// a stream send's count, with ErrCancelled), or, when it had just finished
// and its completion was on its way (the answer is then invalid: nothing
// was pending), that completion, which the caller now owns (an accepted
// socket included) and which is not delivered as an event. done.Op is the
// operation it answers: the request's, which may differ from si.Op within a
// lane (a recvfrom cancelled as a recv).
func (s *Socket) Cancel(c Caller, si SelectInfo) (done *Completion, err error) {
	sd, l := s.laneOf(si.Op)
	if sd == nil {
		return nil, &InvalidError{What: si.Tag(), Value: si}
	}
	var (
		out   outbox
		found *waiter
		stray *waiter // already out of the lane, its final event in flight
	)
	sd.mu.Lock()
	closed := s.closed.Load()
	mine := nowaitHandleOf(c, si.Handle)
	switch {
	case closed:
	case l.current != nil && mine(l.current):
		found = l.current
	default:
		if i := slices.IndexFunc(l.queue, mine); i >= 0 {
			found = l.queue[i]
		}
	}
	var onItsWay *Completion // the result in stray's final event
	if found != nil {
		if done = found.partial(ErrCancelled); done != nil {
			done.Op = found.op
		}
		s.withdraw(sd, l, found, &out)
		sd.hold(found) // where a Cancel of the same handle meanwhile finds it
	} else if stray = sd.retiringOf(c, si.Handle, si.Op.lane()); stray != nil && stray.final != nil {
		onItsWay = stray.final.Completion
	}
	sd.mu.Unlock()

	if s.traced() {
		s.logDebug("cancel", "op", si.Op, "caller", c.CallerID(), "handle", si.Handle, "found", found != nil)
	}
	switch {
	case found != nil:
		found.retire()
		sd.release(found)
	case stray != nil && onItsWay != nil:
		// Ours only if this retires it: delivered (or withdrawn by a
		// dying caller) first, it is not the cancel's to answer.
		if stray.retireClaiming() {
			done = onItsWay
			done.Op = stray.op
		}
	case stray != nil:
		stray.retire()
	}
	out.flush(s)
	switch {
	case closed:
		return done, ErrClosed
	case found == nil:
		return done, &InvalidError{What: si.Tag(), Value: si}
	}
	return done, nil
}

// HasRequest reports, without changing anything, whether c has a request
// of si's handle in si.Op's lane: pending (current or queued), or out of the
// lane with its final event on its way. Cancel of a lane that has none may
// still retire a stray there; a search over lanes asks this first.
func (s *Socket) HasRequest(c Caller, si SelectInfo) (pending, onItsWay bool) {
	sd, l := s.laneOf(si.Op)
	if sd == nil {
		return false, false
	}
	sd.mu.Lock()
	defer sd.mu.Unlock()
	mine := nowaitHandleOf(c, si.Handle)
	pending = mine(l.current) || slices.IndexFunc(l.queue, mine) >= 0
	return pending, sd.retiringOf(c, si.Handle, si.Op.lane()) != nil
}

// AbortCaller answers everything c waits for on this socket with an abort
// of reason, as a close answers everyone (abortAll), and the next queued
// requestors are activated: c may no longer use the socket (a policy took
// away the right it used), but lives on and is owed its answers.
func (s *Socket) AbortCaller(c Caller, reason error) {
	var out outbox
	s.takeCaller(c, &out, func(sd *side, w *waiter, current bool) {
		if current && w.mode == modeSelect && w.state == stateSignalled {
			out.finalEventUnlessSelected(sd, w, Event{Kind: EventAbort, Socket: s, Handle: w.handle, Op: w.op, Reason: reason})
			return
		}
		s.abort(sd, w, reason, &out)
	}, nil)
	out.flush(s)
}

// DropCaller withdraws everything c waits for on this socket, as when an
// Erlang process dies (reference §2.7): c's current and queued requests
// leave every lane without any event to c, the next queued requestors are
// activated, and c's blocking calls return ErrCallerGone.
func (s *Socket) DropCaller(c Caller) {
	type heldBy struct {
		sd *side
		w  *waiter
	}
	var (
		out     outbox
		taken   []heldBy  // out of the lanes, held until retired
		dropped []*waiter // and those on their way out already
	)
	drop := func(sd *side, w *waiter, _ bool) {
		if w.mode == modeBlocking {
			w.abort = ErrCallerGone
			w.signal()
			return
		}
		// Where a DropCaller of c running meanwhile finds it, and
		// retires it before it returns.
		sd.hold(w)
		taken = append(taken, heldBy{sd, w})
	}
	s.takeCaller(c, &out, drop, func(w *waiter) { dropped = append(dropped, w) })
	for _, h := range taken {
		h.w.retire()
		h.sd.release(h.w)
	}
	for _, w := range dropped {
		w.retire()
	}
	out.flush(s)
}

// takeCaller takes c's requestors out of every lane, each handed to take
// (current: it was the lane's current one) under its side's lock, and
// moves the lanes along; retiring, if set, is handed c's requestors whose
// final event is on its way.
func (s *Socket) takeCaller(c Caller, out *outbox, take func(sd *side, w *waiter, current bool), retiring func(*waiter)) {
	for _, sd := range []*side{&s.rd, &s.wr} {
		sd.mu.Lock()
		for _, l := range sd.lanes {
			l.queue = slices.DeleteFunc(l.queue, func(w *waiter) bool {
				if w.caller != c {
					return false
				}
				take(sd, w, false)
				return true
			})
			if w := l.current; w != nil && w.caller == c {
				l.current = nil
				s.vacate(l)
				take(sd, w, true)
			}
			s.advance(sd, l, out)
		}
		if retiring != nil {
			for _, w := range sd.retiring {
				if w.caller == c {
					retiring(w)
				}
			}
		}
		sd.mu.Unlock()
	}
}

// nowaitHandleOf matches c's nowait requestor of handle.
func nowaitHandleOf(c Caller, handle uint64) func(*waiter) bool {
	return func(w *waiter) bool { return w.nowaitOf(c) && w.handle == handle }
}
