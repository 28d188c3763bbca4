package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// A policy's admin acts on other principals' sessions and sockets, and some
// of its calls last: an Events stream on another's session, a Pipe or a
// Relay, a blocking call. Rights are decided as a call starts, so without
// more a reload that takes the admin right away would leave those running,
// reading and writing another principal's data for as long as they last.
// adminCalls keeps the calls in progress of principals a policy makes
// admins (root's right is not the policy's to take); a call that used the
// right is ended by the reload that takes it away. Calls of everyone else
// cost the interceptor one rule lookup.
type adminCalls struct {
	mu    sync.Mutex
	calls map[*adminCall]struct{}
}

// adminCall is one call in progress of a policy's admin.
type adminCall struct {
	p      Principal
	cancel context.CancelCauseFunc
	used   atomic.Bool // it acted on another principal's session or socket
}

type adminCallKey struct{}

// errAdminRevoked is the cause of a call's end by a reload.
var errAdminRevoked = errors.New("a policy reload took away the admin right this call acts by")

// watchAdmin returns the context a call runs in, and what to call when it
// ends: for a policy's admin, one that a reload taking the right away ends.
func (s *Service) watchAdmin(ctx context.Context) (context.Context, func()) {
	p, ok := principalOf(ctx)
	if !ok || p.Admin() || !s.isAdmin(p) {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	c := &adminCall{p: p, cancel: cancel}
	s.admins.mu.Lock()
	if s.admins.calls == nil {
		s.admins.calls = make(map[*adminCall]struct{})
	}
	s.admins.calls[c] = struct{}{}
	s.admins.mu.Unlock()
	return context.WithValue(ctx, adminCallKey{}, c), func() {
		s.admins.mu.Lock()
		delete(s.admins.calls, c)
		s.admins.mu.Unlock()
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
	c.used.Store(true)
	if !s.isAdmin(c.p) {
		c.cancel(errAdminRevoked)
	}
}

// revokeAdmins ends the calls that acted by an admin right the policy now
// in force does not give.
func (s *Service) revokeAdmins() {
	s.admins.mu.Lock()
	defer s.admins.mu.Unlock()
	for c := range s.admins.calls {
		if c.used.Load() && !s.isAdmin(c.p) {
			c.cancel(errAdminRevoked)
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
