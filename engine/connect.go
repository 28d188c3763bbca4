package engine

import (
	"context"

	"golang.org/x/sys/unix"
)

// Connect is socket:connect/3, or connect/1 when sa is nil. A connect that
// cannot complete at once is in progress: a nowait caller gets a select and
// finalises by calling Connect again (with or without the address); a
// blocking caller waits. Another caller's connect meanwhile answers
// ErrAlready (connect/1: {invalid, state}). A timeout or cancel forgets the
// attempt, leaving the socket's state uncertain, as in Erlang.
func (s *Socket) Connect(ctx context.Context, c Caller, sa *SockAddr, t Timeout) ConnectResult {
	j := &connectJob{s: s}
	if sa != nil {
		to, err := sa.raw()
		if err != nil {
			return ConnectResult{Err: err}
		}
		j.to = to
		j.dissolve = sa.Family == FamilyUnspec
	}
	sel, err := s.perform(ctx, c, OpConnect, t, j)
	if sel != nil {
		return ConnectResult{Select: sel}
	}
	if err != nil {
		return ConnectResult{Err: err}
	}
	return ConnectResult{Err: j.err}
}

// connectJob is one connect call.
type connectJob struct {
	s        *Socket
	to       *rawSockaddr // nil: finalise only (connect/1)
	dissolve bool         // AF_UNSPEC: undo a dgram association

	err error
}

func (j *connectJob) busy() error {
	if j.to == nil {
		return errState()
	}
	return ErrAlready
}

func (j *connectJob) completion() *Completion {
	return &Completion{Connect: &ConnectResult{Err: j.err}}
}

func (j *connectJob) attempt() (bool, error) {
	s := j.s
	if s.connecting {
		return j.finalise()
	}
	if j.to == nil {
		j.err = errState() // connect/1 with nothing in progress
		return true, nil
	}
	if s.connected.Load() && connectionOriented(s.typ) {
		// Linux answers 0 to the first connect after a nonblocking one
		// completed, which finalise never makes; Erlang answers eisconn.
		j.err = unix.EISCONN
		return true, nil
	}
	at := s.harvest()
	_, err := asUser(s.peerUser(), func() (int, error) { return 0, sysConnect(s.fd, j.to) })
	switch err {
	case nil:
		s.connected.Store(!j.dissolve)
		return true, nil
	case unix.EINPROGRESS, unix.EINTR:
		s.connecting = true
		s.wr.empty(at)
		return false, nil
	default:
		j.err = err
		return true, nil
	}
}

// finalise checks an attempt in progress: SO_ERROR says whether it failed;
// getpeername whether it is established (ENOTCONN: not yet, wait on).
func (j *connectJob) finalise() (bool, error) {
	s := j.s
	at := s.harvest()
	soerr, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = unix.Errno(soerr)
	}
	if taken := s.connectErr; err == nil && taken != 0 {
		err = taken
	}
	s.connectErr = 0
	if err == nil {
		if _, err = sysGetpeername(s.fd); err == unix.ENOTCONN {
			s.wr.empty(at)
			return false, nil
		}
	}
	s.connecting = false
	if err != nil {
		j.err = err
		return true, nil
	}
	s.connected.Store(true)
	return true, nil
}

// SocketError is getsockopt(SO_ERROR), which clears the error it reads. A
// connect in progress learns its outcome from that error (getpeername says
// only that it is not connected), so one read now is kept for it: else the
// connect would wait for ever for an outcome already taken. (Erlang has no
// such option to read.)
func (s *Socket) SocketError() (int, error) {
	s.fdMu.RLock()
	defer s.fdMu.RUnlock()
	if s.fd < 0 {
		return 0, ErrClosed
	}
	s.wr.mu.Lock()
	defer s.wr.mu.Unlock()
	if kept := s.takeKeptErr(); kept != nil {
		if errno, ok := kept.(unix.Errno); ok {
			return int(errno), nil // a recv kept it (recvJob.partialFirst): the kernel's, to be read once
		}
	}
	v, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil {
		s.keepConnectErrLocked(unix.Errno(v))
	}
	return v, err
}

// keepForConnect keeps a read's error for a connect in progress: a read of
// a socket whose connect failed takes the error from it, as a read of
// SO_ERROR does (SocketError), and the connect's finalise would then wait
// for ever for an outcome already taken (a reviewer's recv after a refused
// nowait connect). The read after it answers enotconn, which is no outcome.
// Called with the read side locked, before the write side.
func (s *Socket) keepForConnect(err error) {
	errno, ok := err.(unix.Errno)
	if !ok || errno == unix.ENOTCONN {
		return
	}
	s.wr.mu.Lock()
	s.keepConnectErrLocked(errno)
	s.wr.mu.Unlock()
}

// keepConnectErrLocked keeps errno, an error taken from the socket, as the
// outcome of a connect in progress that has none yet. s.wr.mu is held.
func (s *Socket) keepConnectErrLocked(errno unix.Errno) {
	if errno != 0 && s.connecting && s.connectErr == 0 {
		s.connectErr = errno
	}
}

// connectionOriented reports whether a socket type keeps one connection for
// life; a datagram socket may be connected again, to another address.
func connectionOriented(typ int) bool {
	return typ == unix.SOCK_STREAM || typ == unix.SOCK_SEQPACKET
}
