package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
)

// A policy's admin acts on other principals' sessions and sockets, and what
// it starts may last: an Events stream on another's session, a Pipe or a
// Relay, a blocking call; a nowait request left in another's socket, a
// monitor of it. Rights are decided as a call starts, so without more a
// reload that takes the admin right away would leave those running, reading
// and writing another principal's data for as long as they last. So the
// calls in progress that used the right are kept (adminCalls) and ended by
// the reload that takes it away, which also aborts the requests and drops
// the monitors a session keeps on other principals' sockets (revokeHeld).
// Root's right is not the policy's to take: its calls are not watched.
type adminCalls struct {
	mu    sync.Mutex
	calls map[*adminCall]struct{}
}

// adminCall is one call in progress of a principal other than root: it is
// among adminCalls once it has used an admin right.
type adminCall struct {
	p      Principal
	cancel context.CancelCauseFunc
	used   atomic.Bool
}

type adminCallKey struct{}

// errAdminRevoked is the cause of a call's end by a reload.
var errAdminRevoked = errors.New("a policy reload took away the admin right this call acts by")

// watchAdmin returns the context a call runs in, and what to call when it
// ends: for a principal other than root, one that a reload can end, should
// the call use an admin right (which a reload may give it as it starts: a
// Pipe names its socket in its first message).
func (s *Service) watchAdmin(ctx context.Context) (context.Context, func()) {
	p, ok := principalOf(ctx)
	if !ok || p.Admin() {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	c := &adminCall{p: p, cancel: cancel}
	return context.WithValue(ctx, adminCallKey{}, c), func() {
		if c.used.Load() {
			s.admins.mu.Lock()
			delete(s.admins.calls, c)
			s.admins.mu.Unlock()
		}
		cancel(nil)
	}
}

// usedAdminRight notes that the call of ctx acts on another principal's
// session or socket, by an admin right. A reload that took the right away
// after it was decided, but before the call was noted, is seen here.
func (s *Service) usedAdminRight(ctx context.Context) {
	c, ok := ctx.Value(adminCallKey{}).(*adminCall)
	if !ok {
		return
	}
	if !c.used.Swap(true) {
		s.admins.mu.Lock()
		if s.admins.calls == nil {
			s.admins.calls = make(map[*adminCall]struct{})
		}
		s.admins.calls[c] = struct{}{}
		s.admins.mu.Unlock()
	}
	if !s.isAdmin(c.p) {
		c.cancel(errAdminRevoked)
	}
}

// revokeAdmins ends the calls that acted by an admin right the policy now
// in force does not give, and takes back what sessions keep by it.
func (s *Service) revokeAdmins() {
	s.admins.mu.Lock()
	for c := range s.admins.calls {
		if !s.isAdmin(c.p) {
			c.cancel(errAdminRevoked)
		}
	}
	s.admins.mu.Unlock()
	s.revokeHeld()
}

// revokeHeld aborts (eacces) the requests each live session of a principal
// that is no admin has left on other principals' sockets, and drops its
// monitors of them, as a demonitor would.
func (s *Service) revokeHeld() {
	for _, sess := range s.sessions.all() {
		p := sess.principal
		if p.Admin() || s.isAdmin(p) {
			continue
		}
		foreign := func(sock *engine.Socket) bool { return ownerPrincipal(sock) != p }
		for _, sock := range sess.waitingOn() {
			if foreign(sock) {
				sock.AbortCaller(sess, unix.EACCES)
			}
		}
		if s.registry != nil {
			s.registry.DropMonitors(sess, foreign)
		}
	}
}

// revokedError is the status of a call a reload ended, or err.
func revokedError(ctx context.Context, err error) error {
	if err != nil && context.Cause(ctx) == errAdminRevoked {
		return adminRevoked()
	}
	return err
}
