package server

import (
	"context"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
	"github.com/sockd/sockd/registry"
)

// Debug implements sockdv1.SocketServiceServer: socket:debug/1. It traces
// every principal's sockets into the daemon's log, so only an admin may.
func (s *Service) Debug(ctx context.Context, r *sockdv1.DebugRequest) (*sockdv1.DebugResponse, error) {
	if err := s.requireAdmin(ctx, "the global debug flag"); err != nil {
		return nil, err
	}
	s.engine.SetDebug(r.GetEnabled())
	return &sockdv1.DebugResponse{}, nil
}

// SocketDebug implements sockdv1.SocketServiceServer: socket:socket_debug/1,
// the debug flag of every principal's new sockets, so only an admin may.
func (s *Service) SocketDebug(ctx context.Context, r *sockdv1.SocketDebugRequest) (*sockdv1.SocketDebugResponse, error) {
	if err := s.requireAdmin(ctx, "the socket_debug default"); err != nil {
		return nil, err
	}
	s.engine.SetSocketDebug(r.GetEnabled())
	return &sockdv1.SocketDebugResponse{}, nil
}

// requireAdmin refuses a caller that is not an admin to change what, which
// is the daemon's.
func (s *Service) requireAdmin(ctx context.Context, what string) error {
	p, err := s.principal(ctx)
	if err != nil {
		return err
	}
	if !s.isAdmin(p) {
		return adminOnly(what)
	}
	return nil
}

// GlobalInfo implements sockdv1.SocketServiceServer: socket:info/0
// (reference §4.2). The counters cover every open socket the caller may
// see (an admin, all; any other principal, its own), registered or not.
func (s *Service) GlobalInfo(ctx context.Context, _ *sockdv1.GlobalInfoRequest) (*sockdv1.GlobalInfoResponse, error) {
	p, err := s.principal(ctx)
	if err != nil {
		return nil, err
	}
	resp := &sockdv1.GlobalInfoResponse{
		Debug:       s.engine.Debug(),
		SocketDebug: s.engine.SocketDebug(),
		UseRegistry: s.registry.UseRegistry(),
		NumCntBits:  uint32(s.engine.CounterBits()),
		IovMax:      engine.IOVMax,
		IoBackend:   "epoll",
		Principal:   p.String(),
		Policy:      encodePolicyRule(s.policy(), p),
	}
	if s.sockets == nil {
		resp.Policy.SocketQuota = 0 // not enforced without a counter
	}
	visible := s.visibleTo(p)
	for _, sock := range s.engine.Sockets() {
		if registry.Passes(sock, visible...) {
			countSocket(resp, sock)
		}
	}
	return resp, nil
}

// countSocket adds sock to GlobalInfo's counters.
func countSocket(resp *sockdv1.GlobalInfoResponse, sock *engine.Socket) {
	resp.NumSockets++
	switch sock.Type() {
	case unix.SOCK_STREAM:
		resp.NumTstreams++
	case unix.SOCK_DGRAM:
		resp.NumTdgrams++
	case unix.SOCK_SEQPACKET:
		resp.NumTseqpkgs++
	}
	switch sock.Domain() {
	case unix.AF_UNIX:
		resp.NumDlocal++
	case unix.AF_INET:
		resp.NumDinet++
	case unix.AF_INET6:
		resp.NumDinet6++
	}
	switch sock.Protocol() {
	case unix.IPPROTO_IP:
		resp.NumPip++
	case unix.IPPROTO_TCP:
		resp.NumPtcp++
	case unix.IPPROTO_UDP:
		resp.NumPudp++
	case unix.IPPROTO_SCTP:
		resp.NumPsctp++
	}
}
