package server

import sockdv1 "github.com/sockd/sockd/proto/sockd/v1"

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
// events owed (unsent, less those a cancel took back) are half the capacity,
// or all unsent ones the whole capacity, so a client whose stream stops
// taking events stops adding work; the ring goes back to its capacity once
// the stream has caught up. An event counts as sent once the stream's
// transport has taken it, which may be a window's worth ahead of what the
// client's application has read (gRPC grows a busy client's window to 16
// MiB): a client that does not say what it read (ack) stops adding work
// only once that window is full, and a stream it resumes after what it
// read may find fewer events held than were in flight. One that says so
// has the sent events it has not read counted and kept as unsent ones
// are, within its principal's bytes. Only sent events are ever dropped (a
// resumed stream that asks for them gets a GapEvent).
type eventLog struct {
	ring  []*sockdv1.EventsResponse
	head  int    // index of the oldest held event
	count int    // events held
	next  uint64 // sequence of the next event; sequences start at 1
	sent  uint64 // highest sequence written to a stream
	// taken is the highest sequence handed to a stream (after), which may
	// be sending it now: a cancel no longer withdraws what is taken.
	taken uint64
	// voids counts the placeholders after sent: withdrawn events, which owe
	// the client nothing.
	voids int
	// acked is the last event the client said it read (acking: it says so,
	// by Service.noteEventsTaken); sent events after it are kept, and count
	// against the backlog, as unsent ones do, unless the principal is past
	// its bytes.
	acked  uint64
	acking bool
	// lost is the highest sequence of an event dropped before a stream
	// took it, or dropped from replay: a stream resuming before it is told
	// of a gap. Dropped placeholders lose nothing.
	lost uint64
	// unsentBytes is payloadBytes summed over the events after sent;
	// sentBytes over the held events up to sent, kept for replay.
	unsentBytes, sentBytes int
	// Sent events are kept for replay while at most base events are held
	// and their payload stays within maxSentBytes: a ring grown by a burst
	// of unsent events, or full of large completions, does not keep them.
	base, maxSentBytes int
	// load, if set, is its principal's count, which every event held here
	// is part of, its payload and its eventCost: unsent events in
	// load.bytes, sent ones in load.replay; past loadMax together (or
	// past the daemon's bound, all principals' together) the log keeps no
	// sent events for replay.
	load    *principalLoad
	loadMax int64
}

// held changes the unsent and the sent payload held by the principal's
// counts too. An increase goes first, so that a move from one count to the
// other never shows, to a reader of both (principalLoad.idle), an instant
// holding neither.
func (l *eventLog) held(unsent, sent int) {
	if l.load == nil {
		return
	}
	if unsent < 0 {
		l.load.addReplay(int64(sent))
		l.load.addBytes(int64(unsent))
		return
	}
	l.load.addBytes(int64(unsent))
	l.load.addReplay(int64(sent))
}

// overLoad reports whether the principal holds more than its bound, or all
// principals together more than the daemon's.
func (l *eventLog) overLoad() bool {
	if l.load == nil {
		return false
	}
	return l.loadMax > 0 && l.load.bytes.Load()+l.load.replay.Load() > l.loadMax || l.load.daemon.over()
}

// eventCost is what a held event costs beyond its payload, in the
// principal's counts: its messages (about 160 bytes of heap for a select or
// a down, measured) and its ring slot, rounded up. Without it a principal's
// 1,024 sessions could hold six million payload-free events uncounted.
const eventCost = 256

// detachLoad takes what the log holds out of the principal's counts, for
// good (its session died).
func (l *eventLog) detachLoad() {
	unsent := l.unsent()
	l.held(-(l.unsentBytes + unsent*eventCost), -(l.sentBytes + (l.count-unsent)*eventCost))
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

// newEventLog is a log that holds capacity events (base) before it drops
// sent ones. Its ring starts at initialRing slots and doubles as events
// come: a ring made whole at once cost every session its backlog's slots,
// uncounted (a reviewer's 1,024 idle sessions at a backlog of 65,536: 539
// MB).
func newEventLog(capacity int) eventLog {
	return eventLog{ring: make([]*sockdv1.EventsResponse, min(capacity, initialRing)), next: 1,
		base: capacity, maxSentBytes: maxReplayBytes}
}

// initialRing is the size of a new session's event ring.
const initialRing = 16

func (l *eventLog) append(ev *sockdv1.EventsResponse) {
	ev.Sequence = l.next
	l.next++
	n := payloadBytes(ev)
	l.unsentBytes += n
	l.held(n+eventCost, 0)
	if l.count == len(l.ring) {
		if len(l.ring) < l.base {
			l.resize(min(2*len(l.ring), l.base))
		} else if l.ring[l.head].Sequence > l.sent || l.unread(l.ring[l.head]) {
			l.resize(2 * len(l.ring)) // keep the unsent, and the unread
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
	for l.count > 0 && l.ring[l.head].Sequence <= l.sent && !l.unread(l.ring[l.head]) &&
		(l.count > l.base || l.sentBytes > l.maxSentBytes || l.overLoad()) {
		l.dropOldest()
	}
	if len(l.ring) > l.base && l.count <= l.base && l.unsent() == 0 {
		l.resize(l.base)
	}
	l.passUnreadable()
}

// passUnreadable counts as read what the client can never say it read:
// placeholders right after acked, which streams skip, and events no longer
// held, which a resume reports as a gap. Counted unread, they refused the
// session's calls for good (a reviewer's cancelled selects).
func (l *eventLog) passUnreadable() {
	if !l.acking {
		return
	}
	first := l.firstHeld()
	l.acked = min(max(l.acked, first-1), max(l.acked, l.sent))
	for q := l.acked + 1; q >= first && q <= l.sent && q < l.next && l.ring[(l.head+int(q-first))%len(l.ring)].Event == nil; q++ {
		l.acked = q
	}
}

// dropOldest forgets the oldest held event.
func (l *eventLog) dropOldest() {
	old := l.ring[l.head]
	n := payloadBytes(old)
	if old.Event != nil {
		l.lost = max(l.lost, old.Sequence)
	}
	if old.Sequence > l.sent {
		if old.Event == nil {
			l.voids--
		}
		l.unsentBytes -= n
		l.held(-n-eventCost, 0)
	} else {
		l.sentBytes -= n
		l.held(0, -n-eventCost)
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
		ev := l.ring[(l.head+int(q-first))%len(l.ring)]
		if ev.Event == nil {
			l.voids--
		}
		n := payloadBytes(ev)
		l.unsentBytes -= n
		l.sentBytes += n
		l.held(-n-eventCost, n+eventCost)
	}
	l.sent = seq
	l.passVoids()
	l.trimSent()
}

// passVoids counts the placeholders right after sent as sent, so that a
// session no stream reads does not keep every withdrawn event: sent, they
// are trimmed as sent events are.
func (l *eventLog) passVoids() {
	first := l.firstHeld()
	through := l.sent
	for q := max(l.sent+1, first); q < l.next && l.ring[(l.head+int(q-first))%len(l.ring)].Event == nil; q++ {
		through = q
	}
	if through > l.sent {
		l.markSent(through)
	}
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
// a placeholder (placehold); its payload leaves the counts.
func (l *eventLog) withdraw(match func(*sockdv1.EventsResponse) bool) {
	l.placehold(false, match)
}

// voidTaken replaces each event a stream has taken (sent, or being sent)
// that match picks, and that carries no payload, by a placeholder: a
// replay no longer repeats it. The stream sending it now still does (the
// client voids it by CancelResponse.flushed_through).
func (l *eventLog) voidTaken(match func(*sockdv1.EventsResponse) bool) {
	l.placehold(true, match)
}

// claimTaken takes back the one result (a completion, or an abort with
// partial work) that match picks among the events a stream has taken but
// the client has not said it read, replacing it by a placeholder: a cancel
// answers it instead, and the client library drops the event when it
// arrives (CancelResponse.completion_sequence), so that no event of the
// cancelled operation follows the cancel, as none follows Erlang's. Only
// for a client that says what it read (acking): for another, a taken event
// may be in its application's hands. None, or more than one (a reused
// handle's earlier result too), is nil.
func (l *eventLog) claimTaken(match func(*sockdv1.EventsResponse) bool) *sockdv1.EventsResponse {
	if !l.acking {
		return nil
	}
	slot := -1
	for i := range l.count {
		s := (l.head + i) % len(l.ring)
		ev := l.ring[s]
		if ev.Sequence <= l.acked || ev.Sequence > max(l.sent, l.taken) || ev.Event == nil || !match(ev) {
			continue
		}
		if slot >= 0 {
			return nil
		}
		slot = s
	}
	if slot < 0 {
		return nil
	}
	ev := l.ring[slot]
	n := payloadBytes(ev)
	if ev.Sequence > l.sent {
		l.unsentBytes -= n
		l.held(-n, 0)
		l.voids++
	} else {
		l.sentBytes -= n
		l.held(0, -n)
	}
	l.ring[slot] = &sockdv1.EventsResponse{Sequence: ev.Sequence}
	l.passVoids()
	l.passUnreadable()
	return ev
}

// placehold replaces, among the held events a stream has taken (taken) or
// has not, each that match picks by a placeholder of the same sequence,
// which streams skip: sequences stay dense, so a resumed stream sees no
// gap. A taken event's payload is not counted as unsent: one that has any
// stays, as the result a replay may still owe. A placeholder keeps its
// slot, and its eventCost.
func (l *eventLog) placehold(taken bool, match func(*sockdv1.EventsResponse) bool) {
	for i := range l.count {
		slot := (l.head + i) % len(l.ring)
		ev := l.ring[slot]
		if (ev.Sequence <= max(l.sent, l.taken)) != taken || ev.Event == nil || !match(ev) {
			continue
		}
		n := payloadBytes(ev)
		if taken && n != 0 {
			continue
		}
		if !taken {
			l.unsentBytes -= n
			l.held(-n, 0)
		}
		if ev.Sequence > l.sent {
			l.voids++
		}
		l.ring[slot] = &sockdv1.EventsResponse{Sequence: ev.Sequence}
	}
	l.passVoids()
	l.passUnreadable()
}

// unsent is the number of held events after sent, placeholders among them.
func (l *eventLog) unsent() int {
	if last := l.last(); last > l.sent {
		return int(last - l.sent)
	}
	return 0
}

// owed is the number of events after sent that a stream will send.
func (l *eventLog) owed() int { return l.unsent() - l.voids }

// ack records that the client has read the events through seq: from then
// on sent events count until it says it read them (unreadSent).
func (l *eventLog) ack(seq uint64) {
	l.acking = true
	l.acked = max(l.acked, min(seq, max(l.sent, l.taken)))
	l.trimSent()
}

// unreadSent is the number of sent events the client has not said it
// read, when it says so at all.
func (l *eventLog) unreadSent() int {
	if !l.acking || l.acked >= l.sent {
		return 0
	}
	return int(l.sent - l.acked)
}

// unread reports whether a sent event is kept as the client has not said
// it read it, which the principal's bytes allow.
func (l *eventLog) unread(ev *sockdv1.EventsResponse) bool {
	return l.acking && ev.Sequence > l.acked && ev.Sequence <= l.sent && !l.overLoad()
}
