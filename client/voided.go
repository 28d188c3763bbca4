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
// flushes the select message from the mailbox. Results (completions, aborts
// with partial work) are never dropped.
type voidedSelects struct {
	mu sync.Mutex
	m  map[voidedKey]uint64
	// delivered is the highest sequence any of the session's streams has
	// delivered: entries at or below it can match nothing more.
	delivered atomic.Uint64
	// changed is closed (and replaced) by each add, for a stream offering
	// a select on C to look at it again.
	changed chan struct{}
}

type voidedKey struct {
	socket string
	handle uint64
	lane   sockdv1.Operation // laneOf the operation; unspecified: any
}

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

func (v *voidedSelects) add(socket string, handle uint64, op sockdv1.Operation, through uint64) {
	if through <= v.delivered.Load() {
		return
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
	if v.changed != nil {
		close(v.changed)
		v.changed = nil
	}
}

// watch returns a channel that add closes: a cancel has voided a select
// since.
func (v *voidedSelects) watch() <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.changed == nil {
		v.changed = make(chan struct{})
	}
	return v.changed
}

// drops reports whether ev, of sequence seq, is a select a cancel voided.
func (v *voidedSelects) drops(ev *sockdv1.EventsResponse, seq uint64) bool {
	sel := ev.GetSelect()
	if sel == nil {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, k := range []voidedKey{
		{ev.GetSocketId(), sel.GetHandle(), laneOf(sel.GetOperation())},
		{ev.GetSocketId(), sel.GetHandle(), sockdv1.Operation_OPERATION_UNSPECIFIED},
	} {
		through, ok := v.m[k]
		if !ok {
			continue
		}
		if seq >= through {
			delete(v.m, k) // nothing older can follow
		}
		if seq <= through {
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
