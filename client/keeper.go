package client

import (
	"context"
	"sync"
	"time"
)

// keeper keeps a session alive while it has open adapters that may sit idle
// (PacketConns, Listeners). The daemon ends a session that makes no call
// for its grace, as a dead Erlang process, and closes its sockets; package
// net's idle sockets stay open until closed, and a program that sends a
// datagram a minute, or a Listener not in Accept, relies on that (a
// reviewer's PacketConn was gone after 30 idle seconds). While any is open
// the keeper makes one call of the session's, an Info of one of their
// sockets, every third of its grace. A Conn needs none: its Pipe keeps the
// session while it runs.
type keeper struct {
	mu   sync.Mutex
	ids  map[string]int // the open adapters' sockets, by how many adapters each has
	stop context.CancelFunc
}

// keepFor keeps s alive for an adapter of socket id until release.
func (s *Session) keepFor(id string) (release func()) {
	k := &s.keeper
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ids == nil {
		k.ids = make(map[string]int)
	}
	k.ids[id]++
	if k.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		k.stop = cancel
		go s.keepAlive(ctx)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			k.mu.Lock()
			defer k.mu.Unlock()
			if k.ids == nil {
				return // stopKeeping came first
			}
			if k.ids[id]--; k.ids[id] <= 0 {
				delete(k.ids, id)
			}
			if len(k.ids) == 0 && k.stop != nil {
				k.stop()
				k.stop = nil
			}
		})
	}
}

// anyID is one of the open adapters' sockets; false when none is open.
func (k *keeper) anyID() (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id := range k.ids {
		return id, true
	}
	return "", false
}

// stopKeeping ends the keeper's work for good: the session is closed.
func (s *Session) stopKeeping() {
	k := &s.keeper
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stop != nil {
		k.stop()
		k.stop = nil
	}
	k.ids = nil
}

// unknownGraceKeep is how often the keeper of a Session that does not know
// its grace (ResumeSession) calls: enough for a grace of a second or more
// (a reviewer's resumed session, granted 1 s, ended between calls made at a
// third of the daemon's default grace).
const unknownGraceKeep = time.Second / 3

// keepAlive calls every third of the session's grace until ctx ends, or
// the session or the client has.
func (s *Session) keepAlive(ctx context.Context) {
	every := s.graceOrDefault() / 3
	if s.grace == 0 {
		every = unknownGraceKeep
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.client.closing:
			return
		case <-tick.C:
		}
		id, ok := s.keeper.anyID()
		if !ok {
			return
		}
		// Any call that names the session renews it, whatever it answers
		// (a socket closed meanwhile answers closed).
		callCtx, cancel := context.WithTimeout(ctx, every)
		_, err := s.Info(callCtx, id)
		cancel()
		if ErrorReason(err) == ReasonSessionNotFound {
			return // ended: nothing left to keep
		}
	}
}
