package server

import (
	"sync"

	"github.com/sockd/sockd/engine"
)

// SocketCounter counts each principal's open sockets, for the policy's
// socket quotas. It learns of every socket's birth and death as the
// engine's Observer and passes each on to the next one (the registry).
type SocketCounter struct {
	next engine.Observer

	mu       sync.Mutex
	counted  map[*engine.Socket]Principal // the owner may be gone at close
	open     map[Principal]int
	reserved map[Principal]int // places held by calls that may make a socket
}

// NewSocketCounter returns a counter that passes what it observes on to next
// (nil: to no one). Install it as engine.Config.Observer and give it to
// Config.Sockets.
func NewSocketCounter(next engine.Observer) *SocketCounter {
	return &SocketCounter{next: next, counted: map[*engine.Socket]Principal{}, open: map[Principal]int{}, reserved: map[Principal]int{}}
}

var _ engine.Observer = (*SocketCounter)(nil)

// SocketOpened implements engine.Observer.
func (c *SocketCounter) SocketOpened(s *engine.Socket) {
	if sess, ok := s.Owner().(*Session); ok {
		c.mu.Lock()
		// Released already: SocketReleased came first and found nothing to
		// count.
		if !s.Released() {
			c.counted[s] = sess.principal
			c.open[sess.principal]++
		}
		c.mu.Unlock()
	}
	if c.next != nil {
		c.next.SocketOpened(s)
	}
}

// SocketClosed implements engine.Observer.
func (c *SocketCounter) SocketClosed(s *engine.Socket) {
	if c.next != nil {
		c.next.SocketClosed(s)
	}
}

// SocketReleased implements engine.Observer: a socket counts for its
// principal until its descriptor is closed, so that closes lingering for
// a peer that does not read (SO_LINGER, up to 68 years) hold the
// principal's places, not the daemon's alone.
func (c *SocketCounter) SocketReleased(s *engine.Socket) {
	c.mu.Lock()
	if p, ok := c.counted[s]; ok {
		delete(c.counted, s)
		if c.open[p]--; c.open[p] == 0 {
			delete(c.open, p)
		}
	}
	c.mu.Unlock()
	if c.next != nil {
		c.next.SocketReleased(s)
	}
}

// UseRegistryOn implements engine.Observer.
func (c *SocketCounter) UseRegistryOn(s *engine.Socket) {
	if c.next != nil {
		c.next.UseRegistryOn(s)
	}
}

// Open returns how many open sockets p's sessions own.
func (c *SocketCounter) Open(p Principal) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open[p]
}

// reserve takes a place for a socket being made for p, unless quota (0:
// none) is reached by p's open sockets and the places already taken.
func (c *SocketCounter) reserve(p Principal, quota int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if quota > 0 && c.open[p]+c.reserved[p] >= quota {
		return false
	}
	c.reserved[p]++
	return true
}

// release gives back a place reserve took.
func (c *SocketCounter) release(p Principal) {
	c.mu.Lock()
	if c.reserved[p]--; c.reserved[p] == 0 {
		delete(c.reserved, p)
	}
	c.mu.Unlock()
}

var _ engine.Limiter = (*Session)(nil)

// ReserveSocket implements engine.Limiter: the socket quota of the
// session's principal, under the policy in force, bounds the sockets the
// engine makes for it, by Open or by an accept in any mode.
func (s *Session) ReserveSocket() error {
	m := s.manager
	// The daemon's last sixteenth of sockets is kept, as its held bytes
	// and connections are, for root, the daemon's user and the policy's
	// admins: one uid's 1,024 sockets took a small daemon's every socket,
	// and root's opens were refused (a reviewer). The engine has counted
	// this socket already.
	if e := m.engine; e != nil {
		limit := e.MaxSockets()
		if shared := limit - limit/adminReserve; e.NumOpen() > shared && !m.reserved(s.principal) {
			return &engine.QuotaError{Resource: "sockets", Limit: shared}
		}
	}
	if m.sockets == nil {
		return nil
	}
	quota := m.policy().quotasFor(s.principal).sockets
	if !m.sockets.reserve(s.principal, quota) {
		return &engine.QuotaError{Resource: "sockets per principal", Limit: quota}
	}
	return nil
}

var _ engine.RequestLimiter = (*Session)(nil)

// ReserveRequest implements engine.RequestLimiter: a call that waits, and a
// request a nowait call leaves in a lane, count among the principal's
// pending operations, as pipes and relays do (admitStream). The engine
// takes a call's place, since only it knows whether a call replaces the
// session's own request (which takes that one's place); and only it sees
// nowait requests, which else only sessions × sockets × lanes would bound:
// a million for one principal under the default quotas. Only principals
// with a quota are counted, so that the others' calls (the daemon's own
// user's, root's) pay one lookup and no shared write; a place taken
// uncounted stays so if a reloaded policy sets a quota meanwhile.
func (s *Session) ReserveRequest() (counted bool, err error) {
	quota := s.manager.policy().quotasFor(s.principal).pending
	if quota == 0 {
		return false, nil
	}
	if !s.load.takeWaiting(quota) {
		return false, &engine.QuotaError{Resource: pendingOperations, Limit: quota}
	}
	return true, nil
}

// ReleaseRequest implements engine.RequestLimiter.
func (s *Session) ReleaseRequest() { s.load.releaseWaiting() }

// reservePlaces takes n places under the session's sockets quota for
// descriptors that are not sockets (a relay's pipes); release gives them
// back.
func (s *Session) reservePlaces(n int) (release func(), err error) {
	for i := range n {
		if err := s.ReserveSocket(); err != nil {
			for range i {
				s.ReleaseSocket()
			}
			return nil, err
		}
	}
	return func() {
		for range n {
			s.ReleaseSocket()
		}
	}, nil
}

// ReleaseSocket implements engine.Limiter.
func (s *Session) ReleaseSocket() {
	if s.manager.sockets != nil {
		s.manager.sockets.release(s.principal)
	}
}

// transfer counts s under its new owner's principal (controlling_process;
// an admin may hand a socket to another principal's session).
func (c *SocketCounter) transfer(s *engine.Socket, to Principal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	from, ok := c.counted[s]
	if !ok || from == to {
		return
	}
	c.counted[s] = to
	if c.open[from]--; c.open[from] == 0 {
		delete(c.open, from)
	}
	c.open[to]++
}
