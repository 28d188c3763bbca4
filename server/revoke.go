package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/registry"
)

// A policy's admin acts on other principals' sessions and sockets, and what
// it starts may last: an Events stream on another's session, a Pipe or a
// Relay, a blocking call; a nowait request left in another's socket, a
// monitor of it. Rights are decided as a call starts, so without more a
// reload that takes the admin right away would leave those running, reading
// and writing another principal's data for as long as they last. So the
// calls in progress that used the right are kept (adminCalls) and ended by
// the reload that takes it away, which also aborts the requests and drops
// the monitors a session keeps on other principals' sockets (revokeHeld);
// a call that leaves one there as the reload passes takes it back as it
// ends (endWatched). Root's right is not the policy's to take: its calls
// are not watched.
type adminCalls struct {
	mu    sync.Mutex
	calls map[*watchedCall]struct{}
}

// watchedCall is the context of a call in progress of a principal other
// than root: a reload can end it, once it has used an admin right (it is
// then among adminCalls). One allocation beside its cancelCtx.
type watchedCall struct {
	context.Context
	p      Principal
	cancel context.CancelCauseFunc
	used   atomic.Bool
	// sess is the session it used the right in, whose requests and
	// monitors on other principals' sockets its end takes back if a
	// reload took the right meanwhile.
	sess atomic.Pointer[Session]
}

type watchedCallKey struct{}

func (w *watchedCall) Value(key any) any {
	if key == (watchedCallKey{}) {
		return w
	}
	return w.Context.Value(key)
}

// errAdminRevoked is the cause of a call's end by a reload.
var errAdminRevoked = errors.New("a policy reload took away the admin right this call acts by")

// watchAdmin returns the context a call of a principal other than root runs
// in, one that a reload can end, should the call use an admin right (which
// a reload may give it after it starts: a Pipe names its socket in its
// first message); nil for root's calls. endWatched must be called when the
// call ends.
func (s *Service) watchAdmin(ctx context.Context) *watchedCall {
	p, ok := principalOf(ctx)
	if !ok || p.Admin() {
		return nil
	}
	w := &watchedCall{p: p}
	w.Context, w.cancel = context.WithCancelCause(ctx)
	return w
}

// endWatched ends w's bookkeeping. A call that used an admin right a reload
// took away while it ran may have left a request or a monitor where the
// reload had already looked: it is taken back here.
func (s *Service) endWatched(w *watchedCall) {
	if w.used.Load() {
		s.admins.mu.Lock()
		delete(s.admins.calls, w)
		s.admins.mu.Unlock()
		// Not from a session whose principal has the right itself (root's,
		// another admin's): it keeps what it holds by its own right, as
		// revokeHeld decides.
		if sess := w.sess.Load(); sess != nil && !s.isAdmin(w.p) && !s.isAdmin(sess.principal) {
			s.revokeHeldBy(sess)
		}
	}
	w.cancel(nil)
}

// usedAdminRight notes that the call of ctx acts, in sess, on another
// principal's session or socket, by an admin right. A reload that took the
// right away after it was decided, but before the call was noted, is seen
// here.
func (s *Service) usedAdminRight(ctx context.Context, sess *Session) {
	w, ok := ctx.Value(watchedCallKey{}).(*watchedCall)
	if !ok {
		return
	}
	w.sess.Store(sess)
	if !w.used.Swap(true) {
		s.admins.mu.Lock()
		if s.admins.calls == nil {
			s.admins.calls = make(map[*watchedCall]struct{})
		}
		s.admins.calls[w] = struct{}{}
		s.admins.mu.Unlock()
	}
	if !s.isAdmin(w.p) {
		w.cancel(errAdminRevoked)
	}
}

// revokeAdmins ends the calls that acted by an admin right the policy now
// in force does not give, and takes back what sessions keep by it.
func (s *Service) revokeAdmins() {
	s.admins.mu.Lock()
	for w := range s.admins.calls {
		if !s.isAdmin(w.p) {
			w.cancel(errAdminRevoked)
		}
	}
	s.admins.mu.Unlock()
	s.revokeHeld()
}

// revokeHeld takes back, from each live session of a principal that is no
// admin, what it holds on other principals' sockets (revokeHeldBy).
func (s *Service) revokeHeld() {
	for _, sess := range s.sessions.all() {
		if !s.isAdmin(sess.principal) {
			s.revokeHeldBy(sess)
		}
	}
}

// revokeHeldBy aborts (eacces) the requests sess has left on other
// principals' sockets, and ends its monitors of them with a down event
// (eacces): a client waits for a monitor's down until it cancels it, and
// this one did not.
func (s *Service) revokeHeldBy(sess *Session) {
	foreign := func(sock *engine.Socket) bool { return ownerPrincipal(sock) != sess.principal }
	for _, sock := range sess.waitingOn() {
		if foreign(sock) {
			sock.AbortCaller(sess, unix.EACCES)
		}
	}
	if s.registry != nil {
		s.registry.RevokeMonitors(sess, foreign, registry.ReasonRevoked)
	}
}

// revokedError is the status of a call a reload ended, or err.
func revokedError(ctx context.Context, err error) error {
	if err != nil && context.Cause(ctx) == errAdminRevoked {
		return adminRevoked()
	}
	return err
}
