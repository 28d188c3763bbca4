package server

import "time"

// A session lives while an Events stream is attached and for its grace
// period after (DESIGN §2). A client may also use a session without a
// stream: a net.Listener waiting in Accept, a Conn's Pipe, a relay, a
// program that only makes blocking calls. Such a session is in use, as a
// running Erlang process is alive, so its grace does not end while one of
// its calls that may wait, Pipes or Relays runs, nor sooner than a grace
// period after its last call.

// noteCall records a call of the session. It costs an atomic load while a
// stream is attached, which is when the time does not matter.
func (s *Session) noteCall() {
	if s.detached.Load() {
		s.lastCall.Store(time.Now().UnixNano())
	}
}

// enterCall and leaveCall bracket a call that may run for long: a call that
// may wait, a Pipe, a Relay.
func (s *Session) enterCall() { s.inCalls.Add(1) }

func (s *Session) leaveCall() {
	s.inCalls.Add(-1)
	s.noteCall()
}

// stillInUse is how much longer a detached session whose grace period has
// run out at now must live: a whole period while a call runs, else what is
// left of the period since its last call; zero when it may end.
func (s *Session) stillInUse(now time.Time) time.Duration {
	if s.inCalls.Load() > 0 {
		return s.grace
	}
	if since := now.Sub(time.Unix(0, s.lastCall.Load())); since < s.grace {
		return s.grace - since
	}
	return 0
}
