package engine

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Close is socket:close/1 (reference §2.4, §2.8). Every waiter is aborted:
// nowait requestors get EventAbort with ErrClosed, blocking calls return
// ErrClosed with their partial data. The fd is released with no lock held,
// after it left epoll, honouring SO_LINGER (release: a TCP linger is
// waited out, not blocked in). Closing a closed socket is ErrClosed.
func (s *Socket) Close() error {
	fd, err := s.shut()
	if err != nil {
		return err
	}
	return s.release(fd, nil)
}

// Abandon closes the socket because its owner died (reference §2.7): the
// owner becomes undefined (a Tenant owner's Tenant value is kept, see
// Orphaned) and, if SO_LINGER would make close(2) wait, the fd is closed in
// the background. Safe on a closed socket: its tombstone then loses its
// owner too, as Erlang's info reports owner undefined after the owner died.
func (s *Socket) Abandon() { s.AbandonBy(nil) }

// AbandonBy is Abandon for the death of owner: a socket owner no longer
// owns (a controlling_process handed it on, under the same lock) is left
// alone, and false is returned. A nil owner abandons whoever owns it.
func (s *Socket) AbandonBy(owner Caller) bool {
	s.mu.Lock()
	if owner != nil && s.owner != nil && s.owner != owner {
		s.mu.Unlock()
		return false
	}
	if t, ok := s.owner.(Tenant); ok {
		s.orphanOf = t.Tenant()
	}
	s.owner = nil
	s.mu.Unlock()
	s.closeInBackground()
	return true
}

// Orphaned is the Tenant value of the owner whose death closed the socket
// (Abandon), or nil.
func (s *Socket) Orphaned() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orphanOf
}

// CloseInBackground is Close without the wait for SO_LINGER: the socket is
// closed and its waiters answered at once, and its descriptor is released
// when its linger is done (or the engine stops).
func (s *Socket) CloseInBackground() { s.closeInBackground() }

// closeInBackground closes without making the caller wait for linger.
func (s *Socket) closeInBackground() {
	fd, err := s.shut()
	if err != nil {
		return
	}
	if !lingers(fd) || !s.e.trackCloser() {
		s.releaseLogged(fd, nil)
		return
	}
	go func() {
		done := sync.OnceFunc(s.e.closers.Done)
		defer done()
		s.releaseLogged(fd, done)
	}()
}

// releaseLogged is release for a close no caller waits on: its error can
// only be logged.
func (s *Socket) releaseLogged(fd int, kernelLinger func()) {
	if err := s.release(fd, kernelLinger); err != nil {
		s.e.cfg.Logger.Warn("engine: close failed", "socket", s.id, "err", err)
	}
}

// shut is the first phase of close: mark the socket closed, abort its
// waiters, take the fd out of epoll and hand it back for close(2). No fd
// user can be in flight afterwards: lane syscalls hold a side lock and the
// others hold fdMu, and shut takes all three.
func (s *Socket) shut() (int, error) {
	var out outbox
	s.fdMu.Lock()
	s.rd.mu.Lock()
	s.wr.mu.Lock()
	if s.closed.Load() {
		s.wr.mu.Unlock()
		s.rd.mu.Unlock()
		s.fdMu.Unlock()
		return -1, ErrClosed
	}
	s.closed.Store(true)
	close(s.closedC)
	s.connecting, s.connectErr = false, 0
	// In the NIF's do_stop order: writers, the connector, readers,
	// acceptors.
	s.abortAll(&s.wr, ErrClosed, &out)
	s.abortAll(&s.rd, ErrClosed, &out)
	fd := s.fd
	s.fd = -1
	s.wr.mu.Unlock()
	s.rd.mu.Unlock()
	s.fdMu.Unlock()

	s.e.unregister(s, fd)
	// otp meta is cleared on close (reference §5); its tombstone must not
	// keep what no call can read any more.
	s.mu.Lock()
	s.meta = nil
	s.mu.Unlock()
	s.logDebug("closed")
	out.flush(s)
	s.e.noteClosed(s)
	return fd, nil
}

// release is the second phase: close(2). A TCP socket's linger is waited
// for first, in this goroutine (lingerTCP); another socket whose close(2)
// lingers (SCTP, MPTCP) takes its turn among those (lingerTurn), and
// kernelLinger, if set, is called as that close(2) begins. Linux frees the
// descriptor even when close reports an error, so it is never retried.
func (s *Socket) release(fd int, kernelLinger func()) error {
	if linger, ok := lingerTime(fd); ok {
		if !s.closeLingers() {
			s.e.lingerTCP(fd, linger)
		} else if left, ok := s.e.lingerTurn(linger); ok {
			defer s.e.lingerDone()
			if left < linger {
				lingerAtMost(fd, left) // the close returns within the linger it was given
			}
			if kernelLinger != nil {
				kernelLinger()
			}
		} else {
			// No turn within the linger time (others' closes hold every
			// place), or the engine stops: close as an exiting process
			// does, the kernel sending what is queued on its own.
			noLinger(fd)
		}
	}
	// While fd is open the socket file's inode is the socket's: removed
	// after close(2), its number could already name a file made since.
	s.removeBoundFile()
	err := unix.Close(fd)
	s.released.Store(true)
	s.e.unreserve()
	s.e.noteReleased(s)
	if err == unix.EINTR {
		return nil
	}
	return err
}

// closeLingers reports a socket whose close(2) may wait for SO_LINGER
// where lingerTCP cannot wait for it: SCTP's, MPTCP's.
func (s *Socket) closeLingers() bool {
	return s.protocol == unix.IPPROTO_SCTP || s.protocol == unix.IPPROTO_MPTCP
}
