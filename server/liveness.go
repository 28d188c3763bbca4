package server

import "time"

// A session lives while an Events stream is attached and for its grace
// period after (DESIGN §2). A client may also use a session without a
// stream: a net.Listener waiting in Accept, a Conn's Pipe, a relay, a
// program that only makes blocking calls. Such a session is in use, as a
// running Erlang process is alive, so its grace does not end while one of
// its calls that may wait, Pipes or Relays runs (the grace timer is not even
// armed then: leaveCall starts it once the last such call has ended), nor
// sooner than a grace period after its last call.

// MinGrace is the shortest grace a session gets, whatever its client asks:
// it bounds how often a session's grace timer may fire, which a client
// asking for microseconds and calling all the time would otherwise keep the
// daemon busy re-arming.
const MinGrace = 100 * time.Millisecond

// clockStart is when the daemon started, clock's origin.
var clockStart = time.Now()

// clock is the monotonic time since the daemon started, for lastCall: a step
// of the wall clock must not end sessions nor keep them.
func clock() time.Duration { return time.Since(clockStart) }

// noteCall records a call of the session. It costs an atomic load while a
// stream is attached, which is when the time does not matter.
func (s *Session) noteCall() {
	if s.detached.Load() {
		s.lastCall.Store(int64(clock()))
	}
}

// enterCall and leaveCall bracket a call that may run for long: a call that
// may wait, a Pipe, a Relay, a Close that lingers.
func (s *Session) enterCall() { s.inCalls.Add(1) }

func (s *Session) leaveCall() {
	s.noteCall() // before the count drops, which lets the grace end
	if s.inCalls.Add(-1) == 0 && s.graceDeferred.Load() {
		s.mu.Lock()
		if s.graceDeferred.Load() && s.attached == nil && !s.dead {
			s.startGraceLocked()
		}
		s.mu.Unlock()
	}
}

// stillInUse is how much longer a detached session whose grace period has
// run out must live: what is left of the period since its last call; zero
// when it may end. A session with a call running is not asked: expire
// defers its grace instead.
func (s *Session) stillInUse() time.Duration {
	if since := clock() - time.Duration(s.lastCall.Load()); since < s.grace {
		return s.grace - since
	}
	return 0
}
