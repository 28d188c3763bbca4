package server

import (
	"context"
	"time"

	"github.com/sockd/sockd/engine"
)

// admission is what admit took for one call; done gives it back once the
// engine has the call.
type admission struct {
	s        *Service
	sess     *Session
	reserved int  // completion bytes (admitNowait)
	inFlight int  // a waiting call's bytes (admitWaiting)
	waiting  bool // a stream's pending-operations place (admitStream)
	inCall   bool // a call that may run for long keeps its session in use
}

// admit admits a call of sess that may wait or answer later: for a nowait
// call the room in its event backlog and completion bytes (admitNowait;
// reserve is asked only of a completion-mode call), for one that may wait
// what it keeps while it waits (admitWaiting). Its place among the
// principal's pending operations is the engine's to take
// (Session.ReserveRequest), which knows whether the call replaces the
// session's own request.
func (s *Service) admit(sess *Session, t engine.Timeout, reserve func() int) (admission, error) {
	a := admission{s: s, sess: sess}
	var err error
	if a.reserved, err = s.admitNowait(sess, t, reserve); err != nil {
		a.done()
		return admission{}, err
	}
	if a.inFlight, err = s.admitWaiting(sess, t, reserve); err != nil {
		a.done()
		return admission{}, err
	}
	if t.MayWait() {
		sess.enterCall()
		a.inCall = true
	}
	return a, nil
}

// admitRead is admit for a recv, whose buffer becomes its answer. A recv
// that cannot wait (nowait in select mode, timeout 0) keeps its buffer
// among its principal's bytes too while it runs: its answer then passes to
// the connection's account (answerAccount), and thousands of such recvs at
// once would each have read their 4 MiB before any was counted. (A
// completion's buffer is counted as the session's completion bytes.)
func (s *Service) admitRead(sess *Session, t engine.Timeout, size func() int) (admission, error) {
	a, err := s.admit(sess, t, size)
	if err != nil || t.MayWait() || t.Completion {
		return a, err
	}
	n := size()
	if err := sess.load.hold(n, s.limits.MaxPrincipalBytes); err != nil {
		a.done()
		return admission{}, err
	}
	a.inFlight = n
	return a, nil
}

// admitWaiting counts what a call that may wait keeps while it waits, a
// send's data or a recv's buffer (reserve), among its principal's bytes
// (DESIGN §7, bytes in flight), until admission.done: else a principal's
// waiting operations could each keep up to a message's 4 MiB. A call
// that cannot wait (nowait, timeout 0) keeps them only for the syscall.
func (s *Service) admitWaiting(sess *Session, t engine.Timeout, reserve func() int) (int, error) {
	if reserve == nil || !t.MayWait() {
		return 0, nil
	}
	n := reserve()
	if err := sess.load.hold(n, s.limits.MaxPrincipalBytes); err != nil {
		return 0, err
	}
	return n, nil
}

func (a admission) done() {
	if a.sess == nil {
		return
	}
	if a.reserved != 0 {
		a.sess.Hold(-a.reserved)
	}
	if a.inFlight != 0 {
		a.sess.load.release(a.inFlight)
	}
	if a.waiting {
		a.sess.ReleaseRequest()
	}
	if a.inCall {
		a.sess.leaveCall()
	}
}

// admitNowait refuses a nowait call while the session has a full backlog of
// undelivered events, so that the events owed to it are never dropped, and
// a completion-mode call while the session holds its completion bytes
// (MaxCompletionBytes, or its principal's lower quota). An
// admitted completion-mode call reserves the bytes it may come to hold
// (reserve, asked only of such a call) until the caller gives them back
// with admission.done once the engine has the call, and with it the
// call's own count: calls admitted at the same moment see each other, so
// that together they pass the bound by one call at most.
func (s *Service) admitNowait(sess *Session, t engine.Timeout, reserve func() int) (reserved int, err error) {
	if t.Kind != engine.WaitNowait {
		return 0, nil
	}
	completion := t.Completion && reserve != nil
	var n int
	if completion {
		n = reserve() // asks the socket (its locks): before the session's lock, not under it
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if err := s.admitEventLocked(sess); err != nil {
		return 0, err
	}
	if !completion {
		return 0, nil
	}
	if limit := sess.completionBytes; sess.heldLocked() >= limit {
		return 0, quotaExceeded("undelivered completion bytes per session", limit)
	}
	if err := sess.hold(n, s.limits.MaxPrincipalBytes); err != nil {
		return 0, err
	}
	return n, nil
}

// admitEvent refuses a call that will owe the session an event while the
// session has a full backlog of undelivered ones, or its principal holds
// all it may (undelivered events of all its sessions among it), or the
// daemon does (all principals' together).
func (s *Service) admitEvent(sess *Session) error {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return s.admitEventLocked(sess)
}

// admitEventLocked is admitEvent with sess.mu held.
func (s *Service) admitEventLocked(sess *Session) error {
	if limit := sess.events.base / 2; sess.events.owed()+sess.events.unreadSent() >= limit {
		return quotaExceeded("undelivered events per session", limit)
	}
	if limit := sess.events.base; sess.events.unsent() >= limit {
		// Events a cancel took back behind one still owed keep their
		// places until a stream passes them.
		return quotaExceeded("events held unsent per session", limit)
	}
	if limit := s.limits.MaxPrincipalBytes; limit > 0 && sess.load.bytes.Load() >= int64(limit) {
		return quotaExceeded(principalBytes, limit)
	}
	return sess.load.daemon.full(sess.load)
}

// budget bounds a blocking wait by the RPC's deadline, leaving a margin to
// answer in, so that partial progress comes back in-band as {timeout, Data}
// instead of being lost with a DEADLINE_EXCEEDED status. The margin is a
// tenth of the time left, up to a second: thousands of calls that share a
// deadline all answer at once (with at most 100 ms, 1,547 of 4,000 blocking
// recvs sharing a 10 s deadline ended DEADLINE_EXCEEDED on two cores); and
// at least minAnswerMargin, or half the time left where that is less: a
// tenth of a short deadline (2 ms of 20 ms) lost the data of one call in
// ten on an idle machine.
func budget(ctx context.Context, t engine.Timeout) engine.Timeout {
	deadline, ok := ctx.Deadline()
	if !ok || t.Kind == engine.WaitNowait {
		return t
	}
	return budgetWithin(time.Until(deadline), t)
}

// budgetWithin is budget with remaining left before the deadline.
func budgetWithin(remaining time.Duration, t engine.Timeout) engine.Timeout {
	margin := min(max(remaining/10, minAnswerMargin), time.Second, remaining/2)
	limit := max(remaining-margin, 0)
	if t.Kind == engine.WaitInfinity || t.D > limit {
		return engine.Timeout{Kind: engine.WaitFor, D: limit}
	}
	return t
}

// minAnswerMargin is the least time budget leaves a blocking call to
// answer in before its RPC's deadline.
const minAnswerMargin = 50 * time.Millisecond

// pendingOperations names the pending_operations quota in its refusals.
const pendingOperations = "pending operations per principal"

// admitStream admits a pipe or relay of sess, which keeps the session in
// use while it runs and takes a place among its principal's pending
// operations, as a call that waits does in the engine
// (Session.ReserveRequest); the admission's done gives both back when it
// ends.
func (s *Service) admitStream(sess *Session) (admission, error) {
	took, err := sess.ReserveRequest()
	if err != nil {
		return admission{}, rpcError(err)
	}
	sess.enterCall()
	return admission{s: s, sess: sess, waiting: took, inCall: true}, nil
}
