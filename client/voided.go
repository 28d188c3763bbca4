package client

import (
	"sync"
	"sync/atomic"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// voidedSelects remembers the select-mode handles a Cancel voided, with the
// sequence the daemon had reached then (CancelResponse.flushed_through): a
// select for such a handle at or below it was already on its way when the
// cancel took effect, and the event stream drops it, as Erlang's cancel
// flushes the select message from the mailbox. A result (a completion, or
// an abort with partial work) is dropped only when the Cancel answered it
// instead (CancelResponse.completion_sequence names that event), so that
// none is lost.
type voidedSelects struct {
	mu sync.Mutex
	m  map[voidedKey]uint64
	// results are the results Cancels answered that were on their way, by
	// their sequence.
	results map[voidedResult]*resultVoid
	// took are the sequences of the last results the streams gave the
	// caller (maxTook of them, oldest first), for a Cancel that answered
	// one of them meanwhile (tookResult).
	took    []uint64
	tookSet map[uint64]struct{}
	// delivered is the highest sequence any of the session's streams has
	// delivered: entries at or below it can match nothing more.
	delivered atomic.Uint64

	// The selects being offered on C (offers), and the adds so far (gen):
	// an add closes changed to wake the offers, and its Cancel waits
	// (caughtUp) until each has looked again or ended, so that the caller,
	// held in Cancel meanwhile, cannot take a select Cancel voided.
	gen     uint64
	changed chan struct{}
	offers  map[*selectOffer]struct{}
	cond    sync.Cond // on mu: an offer looked again, or ended
}

// selectOffer is one select a stream offers on C.
type selectOffer struct {
	seen uint64 // the gen whose voided selects it has looked at
}

type voidedKey struct {
	socket string
	handle uint64
	lane   sockdv1.Operation // laneOf the operation; unspecified: any
}

type voidedResult struct {
	socket string
	handle uint64
	seq    uint64
}

// resultVoid is a result's void: dropped once a stream dropped its event,
// checked once its Cancel has looked (tookResult).
type resultVoid struct{ dropped, checked bool }

// maxTook bounds the results remembered as given to the caller. A Cancel
// looks for its result among them only for the time its call took: the
// daemon answers a result only when the call said the caller had not read
// it.
const maxTook = 1024

// laneOf groups the operations that share a lane, and so their handles:
// the reads, the writes, accept, connect.
func laneOf(op sockdv1.Operation) sockdv1.Operation {
	switch op {
	case sockdv1.Operation_OPERATION_RECVFROM, sockdv1.Operation_OPERATION_RECVMSG:
		return sockdv1.Operation_OPERATION_RECV
	case sockdv1.Operation_OPERATION_SENDTO, sockdv1.Operation_OPERATION_SENDMSG:
		return sockdv1.Operation_OPERATION_SEND
	}
	return op
}

// maxVoided bounds the entries kept. Past it the oldest matter least: a
// select slipping through is a spurious wakeup, which the model allows.
const maxVoided = 4096

// add voids the handle's selects up to through, and returns the gen that
// caughtUp waits for (0: nothing to wait for).
func (v *voidedSelects) add(socket string, handle uint64, op sockdv1.Operation, through uint64) uint64 {
	if through <= v.delivered.Load() {
		return 0
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = make(map[voidedKey]uint64)
	}
	if len(v.m) >= maxVoided {
		done := v.delivered.Load()
		for k, t := range v.m {
			if t <= done || len(v.m) >= maxVoided {
				delete(v.m, k)
			}
		}
	}
	v.m[voidedKey{socket, handle, laneOf(op)}] = through
	return v.wakeOffersLocked()
}

// wakeOffersLocked has the offers on C look at the voids again, and
// returns the gen that caughtUp waits for. v.mu is held.
func (v *voidedSelects) wakeOffersLocked() uint64 {
	v.gen++
	if v.changed != nil {
		close(v.changed)
		v.changed = nil
	}
	return v.gen
}

// addResult voids the event of sequence seq, a result of the handle's
// that a Cancel answered, and returns the gen that caughtUp waits for.
// Once caughtUp returns, tookResult says whether a stream gave the event
// to the caller first.
func (v *voidedSelects) addResult(socket string, handle, seq uint64) uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.results == nil {
		v.results = make(map[voidedResult]*resultVoid)
	}
	for r, rv := range v.results {
		if rv.checked && r.seq <= v.delivered.Load() {
			delete(v.results, r) // its stream is past it
		}
	}
	v.results[voidedResult{socket, handle, seq}] = &resultVoid{}
	return v.wakeOffersLocked()
}

// tookResult reports whether a stream gave the caller the result that
// addResult voided before the void could drop it. Call it once caughtUp
// has returned.
func (v *voidedSelects) tookResult(socket string, handle, seq uint64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if rv := v.results[voidedResult{socket, handle, seq}]; rv != nil {
		rv.checked = true
		if rv.dropped {
			return false
		}
	}
	_, took := v.tookSet[seq]
	return took
}

// gave records that a stream gave the caller the result of sequence seq.
func (v *voidedSelects) gave(seq uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tookSet == nil {
		v.tookSet = make(map[uint64]struct{})
	}
	if len(v.took) == maxTook {
		delete(v.tookSet, v.took[0])
		v.took = v.took[1:]
	}
	v.took = append(v.took, seq)
	v.tookSet[seq] = struct{}{}
}

// caughtUp waits until every select offered on C has looked at the
// voided selects of gen, or is no longer offered.
func (v *voidedSelects) caughtUp(gen uint64) {
	if gen == 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for v.behindLocked(gen) {
		v.cond.Wait()
	}
}

func (v *voidedSelects) behindLocked(gen uint64) bool {
	for o := range v.offers {
		if o.seen < gen {
			return true
		}
	}
	return false
}

// startOffer registers a select about to be offered on C.
func (v *voidedSelects) startOffer() *selectOffer {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.offers == nil {
		v.offers = make(map[*selectOffer]struct{})
		v.cond.L = &v.mu
	}
	o := &selectOffer{seen: v.gen}
	v.offers[o] = struct{}{}
	return o
}

// look records that o is about to look at the voided selects as they are
// now, and returns a channel the next add closes.
func (v *voidedSelects) look(o *selectOffer) <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	o.seen = v.gen
	v.cond.Broadcast()
	if v.changed == nil {
		v.changed = make(chan struct{})
	}
	return v.changed
}

// endOffer unregisters o: delivered, dropped, or its stream ended.
func (v *voidedSelects) endOffer(o *selectOffer) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.offers, o)
	v.cond.Broadcast()
}

// drops reports whether ev, of sequence seq, is a select or an abort
// (without partial work) a cancel voided, or a result a Cancel answered.
func (v *voidedSelects) drops(ev *sockdv1.EventsResponse, seq uint64) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if sel := ev.GetSelect(); sel != nil {
		return v.voidedLocked(ev.GetSocketId(), sel.GetHandle(), sel.GetOperation(), seq)
	}
	handle := ev.GetCompletion().GetHandle()
	a := ev.GetAbort()
	if a != nil {
		handle = a.GetHandle()
	}
	if rv := v.results[voidedResult{ev.GetSocketId(), handle, seq}]; rv != nil {
		rv.dropped = true
		return true
	}
	// An abort with no partial work carries no result to lose.
	return a != nil && a.GetPartial() == nil && v.voidedLocked(ev.GetSocketId(), handle, a.GetOperation(), seq)
}

// voidedLocked reports whether a cancel voided the select or abort of
// sequence seq for the handle's operation op. v.mu is held.
func (v *voidedSelects) voidedLocked(socket string, handle uint64, op sockdv1.Operation, seq uint64) bool {
	for _, k := range []voidedKey{
		{socket, handle, laneOf(op)},
		{socket, handle, sockdv1.Operation_OPERATION_UNSPECIFIED},
	} {
		// The entry stays after its last select went by: a stream the
		// daemon replaced may have looked at that select while the stream
		// that replaced it still holds it. add prunes what every stream
		// has passed.
		if through, ok := v.m[k]; ok && seq <= through {
			return true
		}
	}
	return false
}

// passed records that a stream delivered up to seq.
func (v *voidedSelects) passed(seq uint64) {
	for {
		cur := v.delivered.Load()
		if seq <= cur || v.delivered.CompareAndSwap(cur, seq) {
			return
		}
	}
}
