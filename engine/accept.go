package engine

import (
	"context"

	"golang.org/x/sys/unix"
)

// Accept is socket:accept/2. The accepted socket is owned by c, registered
// in the engine and inherits rcvbuf, the control buffer sizes, iow, debug
// and use_registry from the listener (reference §2.9).
func (s *Socket) Accept(ctx context.Context, c Caller, t Timeout) AcceptResult {
	j := &acceptJob{s: s, owner: c}
	sel, err := s.perform(ctx, c, OpAccept, t, j)
	if sel != nil {
		return AcceptResult{Select: sel}
	}
	if err != nil {
		return AcceptResult{Err: err}
	}
	return j.acceptResult()
}

// acceptJob is one accept call.
type acceptJob struct {
	s     *Socket
	owner Caller

	accepted *Socket
	err      error
}

func (j *acceptJob) acceptResult() AcceptResult {
	return AcceptResult{Socket: j.accepted, Err: j.err}
}

func (j *acceptJob) completion() *Completion {
	r := j.acceptResult()
	return &Completion{Accept: &r}
}

func (j *acceptJob) attempt() (bool, error) {
	s, e := j.s, j.s.e
	// Take the socket quotas before the syscall: a connection we could not
	// keep would otherwise have to be accepted and dropped.
	release, err := e.reserveFor(j.owner)
	if err != nil {
		j.err = err
		return true, nil
	}
	defer release()
	filter := s.acceptFilter.Load()
	var peer *rawSockaddr
	if filter != nil {
		peer = new(rawSockaddr)
	}
	for {
		s.cnt.inc(cAccTries)
		at := s.harvest()
		nfd, err := s.accept4(peer)
		switch err {
		case nil:
		case unix.ECONNABORTED:
			continue // that connection is gone; try the next one
		case unix.EAGAIN:
			e.unreserve()
			s.rd.empty(at)
			return false, nil
		default:
			e.unreserve()
			s.cnt.inc(cAccFails)
			j.err = err
			// As the NIF does, an accept error fails the queued acceptors too.
			return true, err
		}
		if filter != nil && !s.admits(*filter, j.owner, peer) {
			unix.Close(nfd)
			continue
		}
		child, err := e.adopt(nfd, s.domain, s.typ, s.protocol, j.owner, s.creds)
		if err != nil {
			s.cnt.inc(cAccFails)
			j.err = err
			return true, nil
		}
		child.inherit(s)
		child.connected.Store(true)
		e.noteOpened(child)
		s.cnt.inc(cAccSuccess)
		if child.traced() {
			child.logDebug("accepted", "listener", s.id)
		}
		j.accepted = child
		return true, nil
	}
}

// AcceptFilter decides, from the caller that would own it and its peer's
// address, whether a listener keeps a connection. It runs with the
// listener's read side locked: it must be quick and must not call into the
// engine.
type AcceptFilter func(owner Caller, peer SockAddr) bool

// SetAcceptFilter makes Accept close, unseen, the connections f refuses and
// go on to the next one, in every mode: waiting callers keep waiting. Nil
// keeps every connection.
func (s *Socket) SetAcceptFilter(f AcceptFilter) {
	if f == nil {
		s.acceptFilter.Store(nil)
		return
	}
	s.acceptFilter.Store(&f)
}

// admits applies the accept filter to a connection just accepted from peer.
// A peer whose address the kernel did not give is refused: the filter
// cannot vouch for it.
func (s *Socket) admits(f AcceptFilter, owner Caller, peer *rawSockaddr) bool {
	sa := peer.decode()
	if sa == nil || !f(owner, *sa) {
		if s.traced() {
			s.logDebug("connection refused by the accept filter", "peer", sa)
		}
		return false
	}
	return true
}

// accept4 accepts a connection. The kernel records its owner (sk_uid) from
// the accepting thread's fsuid, so a listener opened for a uid accepts as
// that uid too.
func (s *Socket) accept4(peer *rawSockaddr) (int, error) {
	const flags = unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	c := s.creds
	if c == nil {
		return sysAccept4(s.fd, flags, peer)
	}
	if s.listening.Load() && !s.pending() {
		// Nothing to accept: EAGAIN without the trip to a switched thread.
		// (On a socket that is not listening, accept4 itself answers.)
		return -1, unix.EAGAIN
	}
	accept := func() (int, error) { return sysAccept4(s.fd, flags, peer) }
	return onLockedThread(func() (int, error, bool) { return createSwitched("", c, accept) })
}

// pending reports whether a listener may have a connection to accept:
// poll(2) sees one queued, or cannot say.
func (s *Socket) pending() bool {
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err != nil || n > 0
}

// discardAccepted closes the connection a completed accept produced when
// its event was withheld (the handle was cancelled, or its caller dropped,
// while the event was on its way): no one else knows the socket's id.
func discardAccepted(ev Event) {
	if ev.Completion == nil || ev.Completion.Accept == nil || ev.Completion.Accept.Socket == nil {
		return
	}
	child := ev.Completion.Accept.Socket
	child.Abandon()
	child.e.Forget(child)
}
