package server

import (
	"context"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
	"github.com/sockd/sockd/registry"
)

var _ registry.Watcher = (*Session)(nil)

// NumberOf implements sockdv1.SocketServiceServer: the registered sockets
// the caller's principal may use (every one for an admin).
func (s *Service) NumberOf(ctx context.Context, _ *sockdv1.NumberOfRequest) (*sockdv1.NumberOfResponse, error) {
	p, err := s.principal(ctx)
	if err != nil {
		return nil, err
	}
	return &sockdv1.NumberOfResponse{Count: uint64(s.registry.NumberOf(s.visibleTo(p)...))}, nil
}

// WhichSockets implements sockdv1.SocketServiceServer.
func (s *Service) WhichSockets(ctx context.Context, r *sockdv1.WhichSocketsRequest) (*sockdv1.WhichSocketsResponse, error) {
	p, err := s.principal(ctx)
	if err != nil {
		return nil, err
	}
	filters, err := decodeFilters(r)
	if err != nil {
		return nil, err
	}
	socks := s.registry.WhichSockets(append(filters, s.visibleTo(p)...)...)
	ids := make([]string, len(socks))
	for i, sock := range socks {
		ids[i] = sock.ID()
	}
	slices.Sort(ids) // stable output for people and diffs
	return &sockdv1.WhichSocketsResponse{SocketIds: ids}, nil
}

// visibleTo is the filter that hides other principals' sockets, none for
// an admin.
func (s *Service) visibleTo(p Principal) []registry.Filter {
	if s.isAdmin(p) {
		return nil
	}
	// Not mayUse: p is known not to be an admin, so its own sockets are all
	// it may see, with no policy lookup per socket.
	return []registry.Filter{func(sock *engine.Socket) bool { return ownerPrincipal(sock) == p }}
}

// decodeFilters turns WhichSockets' fields into registry filters; an
// unspecified field filters nothing, an unknown enum value is badarg, as
// Erlang's which_sockets/1 with a filter it does not know.
func decodeFilters(r *sockdv1.WhichSocketsRequest) ([]registry.Filter, error) {
	var filters []registry.Filter
	if d := r.GetDomain(); d != sockdv1.Domain_DOMAIN_UNSPECIFIED {
		n, ok := domains[d]
		if !ok {
			return nil, invalidArgument("domain", "unknown domain %d", d)
		}
		filters = append(filters, registry.Domain(n))
	}
	if t := r.GetType(); t != sockdv1.Type_TYPE_UNSPECIFIED {
		n, ok := types[t]
		if !ok {
			return nil, invalidArgument("type", "unknown type %d", t)
		}
		filters = append(filters, registry.Type(n))
	}
	if pr := r.GetProtocol(); pr != sockdv1.Protocol_PROTOCOL_UNSPECIFIED {
		n, ok := protocols[pr]
		if !ok {
			return nil, invalidArgument("protocol", "unknown protocol %d", pr)
		}
		filters = append(filters, registry.Protocol(n))
		if n == 0 {
			// As Info reports it: a local socket's protocol 0 is default, not ip.
			filters = append(filters, func(sock *engine.Socket) bool { return sock.Domain() != unix.AF_UNIX })
		}
	}
	if owner := r.GetOwner(); owner != "" {
		filters = append(filters, registry.OwnedBy(owner))
	}
	return filters, nil
}

// UseRegistry implements sockdv1.SocketServiceServer. The default is
// daemon-wide, so only an admin may change it.
func (s *Service) UseRegistry(ctx context.Context, r *sockdv1.UseRegistryRequest) (*sockdv1.UseRegistryResponse, error) {
	if err := s.requireAdmin(ctx, "the global use_registry default"); err != nil {
		return nil, err
	}
	s.registry.SetUseRegistry(r.GetEnabled())
	return &sockdv1.UseRegistryResponse{}, nil
}

// Monitor implements sockdv1.SocketServiceServer. A socket of the caller's
// that is already closed gets a monitor that fires closed at once; one that
// is unknown or not the caller principal's, one that fires nosock at once,
// so ids cannot be probed.
func (s *Service) Monitor(ctx context.Context, r *sockdv1.MonitorRequest) (*sockdv1.MonitorResponse, error) {
	sess, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	id := r.GetSocketId()
	if err := checkSocketID("socket_id", id); err != nil {
		return nil, err
	}
	// Each monitor is held until its socket closes or it is cancelled, and a
	// nosock one is an event to hold: both are bounded, the monitors per
	// principal, the events per session.
	if limit := s.limits.MaxMonitors; s.registry.NumberOfMonitorsIn(sess.load) >= limit {
		return nil, quotaExceeded("monitors per principal", limit)
	}
	if err := s.admitEvent(sess); err != nil {
		return nil, err
	}
	sock, ok := s.engine.Lookup(id)
	if !ok || !s.mayUse(sess.principal, sock) {
		return &sockdv1.MonitorResponse{MonitorId: s.registry.MonitorUnknown(id, sess)}, nil
	}
	if ownerPrincipal(sock) != sess.principal {
		s.usedAdminRight(ctx, sess)
	}
	monitorID := s.registry.Monitor(sock, sess)
	// A session that died meanwhile has already dropped its monitors (die
	// marks it dead, then drops them); this one must not outlive it.
	if sess.isDead() {
		s.registry.CancelMonitor(monitorID, func(w registry.Watcher) bool { return w == registry.Watcher(sess) })
		return nil, sessionNotFound(sess.id)
	}
	return &sockdv1.MonitorResponse{MonitorId: monitorID}, nil
}

// CancelMonitor implements sockdv1.SocketServiceServer: only the monitoring
// session may cancel, as only the monitoring process may in Erlang
// (reference §5); for anyone else the monitor does not exist (removed false).
func (s *Service) CancelMonitor(ctx context.Context, r *sockdv1.CancelMonitorRequest) (*sockdv1.CancelMonitorResponse, error) {
	sess, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	if r.GetMonitorId() == "" {
		return nil, invalidArgument("monitor_id", "required")
	}
	removed := s.registry.CancelMonitor(r.GetMonitorId(), func(w registry.Watcher) bool { return w == registry.Watcher(sess) })
	return &sockdv1.CancelMonitorResponse{Removed: removed}, nil
}
