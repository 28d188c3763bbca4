package engine

// An outbox collects what must happen once the side lock is released:
// events to deliver (Deliver is never called with a socket lock held) and
// requestors to retire.
type outbox struct{ msgs []message }

type message struct {
	w              *waiter
	ev             Event
	retire         bool  // no event: just retire w
	final          *side // ev is final, or w is retired; w is on final.retiring until then
	unlessSelected bool  // final, but moot once w's select was delivered
}

func (o *outbox) event(w *waiter, ev Event) { o.msgs = append(o.msgs, message{w: w, ev: ev}) }

func (o *outbox) finalEvent(sd *side, w *waiter, ev Event) {
	w.final = &ev
	sd.hold(w)
	o.msgs = append(o.msgs, message{w: w, ev: ev, final: sd})
}

// finalEventUnlessSelected is finalEvent for a requestor told to retry
// whose select may still be on its way: the event is delivered only if the
// select was not (waiter.deliverUnlessSelected), so it hears exactly once.
func (o *outbox) finalEventUnlessSelected(sd *side, w *waiter, ev Event) {
	o.finalEvent(sd, w, ev)
	o.msgs[len(o.msgs)-1].unlessSelected = true
}

// retire retires w, just taken out of sd's lanes without an event of its
// own; until then w is on sd.retiring, where a Cancel or DropCaller of its
// caller running meanwhile finds it and retires it itself: an event signalled
// for w before it left the lane may not be delivered after they return.
func (o *outbox) retire(sd *side, w *waiter) {
	sd.hold(w)
	o.msgs = append(o.msgs, message{w: w, retire: true, final: sd})
}

// flush runs with no socket lock held. It may be called more than once.
func (o *outbox) flush(s *Socket) {
	msgs := o.msgs
	o.msgs = nil
	for _, m := range msgs {
		switch {
		case m.retire:
			m.w.retire()
			m.final.release(m.w)
		case m.final != nil:
			delivered := false
			if m.unlessSelected {
				delivered = m.w.deliverUnlessSelected(m.ev)
			} else {
				delivered = m.w.deliver(m.ev, true)
			}
			if !delivered && m.w.discardable() {
				discardAccepted(m.ev)
			}
			m.final.release(m.w)
		default:
			m.w.deliver(m.ev, false)
		}
	}
	s.reportWraps()
}
