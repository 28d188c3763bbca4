package engine

import "slices"

// An outbox collects what must happen once the side lock is released:
// events to deliver (Deliver is never called with a socket lock held) and
// requestors to retire.
type outbox struct{ msgs []message }

type message struct {
	w              *waiter
	ev             Event
	retire         bool  // no event: just retire w
	final          *side // ev is final; w is on final.retiring until delivered
	unlessSelected bool  // final, but moot once w's select was delivered
}

func (o *outbox) event(w *waiter, ev Event) { o.msgs = append(o.msgs, message{w: w, ev: ev}) }

func (o *outbox) finalEvent(sd *side, w *waiter, ev Event) {
	w.final = &ev
	sd.retiring = append(sd.retiring, w)
	o.msgs = append(o.msgs, message{w: w, ev: ev, final: sd})
}

// finalEventUnlessSelected is finalEvent for a requestor told to retry
// whose select may still be on its way: the event is delivered only if the
// select was not (waiter.deliverUnlessSelected), so it hears exactly once.
func (o *outbox) finalEventUnlessSelected(sd *side, w *waiter, ev Event) {
	o.finalEvent(sd, w, ev)
	o.msgs[len(o.msgs)-1].unlessSelected = true
}

func (o *outbox) retire(w *waiter) { o.msgs = append(o.msgs, message{w: w, retire: true}) }

// flush runs with no socket lock held. It may be called more than once.
func (o *outbox) flush(s *Socket) {
	msgs := o.msgs
	o.msgs = nil
	for _, m := range msgs {
		switch {
		case m.retire:
			m.w.retire()
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
			m.final.mu.Lock()
			m.final.retiring = slices.DeleteFunc(m.final.retiring, func(w *waiter) bool { return w == m.w })
			m.final.mu.Unlock()
		default:
			m.w.deliver(m.ev, false)
		}
	}
	s.reportWraps()
}
