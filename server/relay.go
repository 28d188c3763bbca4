package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// RelayRunningMetadataKey is the response header a Relay sends once it has
// its places and moves bytes (value "running"): a refusal comes without
// headers, as its status alone.
const RelayRunningMetadataKey = "sockd-relay"

// Relay implements sockdv1.SocketServiceServer: it joins two connected
// stream sockets of one principal inside the daemon until both directions
// have ended, a socket fails or is closed, or the call is cancelled. The
// bytes moved are in the response and in each socket's Info counters.
// Its pipes count against the caller's sockets quota, one place each (and
// their eight descriptors among the daemon's socket cap, in the engine):
// relays would otherwise let a principal make the daemon hold eight
// descriptors per pending operation.
func (s *Service) Relay(ctx context.Context, r *sockdv1.RelayRequest) (*sockdv1.RelayResponse, error) {
	sess, a, err := s.streamSocket(ctx, "socket_a", r.GetSocketA())
	if err != nil {
		return nil, err
	}
	_, b, err := s.streamSocket(ctx, "socket_b", r.GetSocketB())
	if err != nil {
		return nil, err
	}
	if a == b {
		return nil, invalidArgument("socket_b", "must differ from socket_a")
	}
	// An admin may use anyone's sockets, but not join two principals'.
	if ownerPrincipal(a) != ownerPrincipal(b) {
		return nil, crossPrincipal(a.ID(), b.ID())
	}
	if !a.ClaimStream(ctx, streamHandover) {
		return nil, socketStreamed("socket_a", a.ID())
	}
	defer a.ReleaseStream()
	if !b.ClaimStream(ctx, streamHandover) {
		return nil, socketStreamed("socket_b", b.ID())
	}
	defer b.ReleaseStream()
	adm, err := s.admitStream(sess)
	if err != nil {
		return nil, err
	}
	defer adm.done()
	release, err := sess.reservePlaces(engine.RelayPipes)
	if err != nil {
		return nil, rpcError(err)
	}
	defer release()
	relayCtx, stop := sess.untilGone(ctx)
	defer stop()
	// Once it has its places among the daemon's too, the headers say that
	// it runs: a client that must not take more places before this relay
	// has its own (sockctl forward under a quota) waits for them. A header
	// that cannot be sent means the call has ended: the relay sees its
	// context end.
	res := engine.Relay(relayCtx, a, b, func() {
		grpc.SendHeader(ctx, metadata.Pairs(RelayRunningMetadataKey, "running"))
	})
	resp := &sockdv1.RelayResponse{BytesAToB: res.AToB, BytesBToA: res.BToA,
		BytesDroppedAToB: res.DroppedAToB, BytesDroppedBToA: res.DroppedBToA}
	if ctx.Err() != nil {
		return nil, rpcError(ctx.Err())
	}
	if context.Cause(relayCtx) == errSessionEnded {
		// Its session died: it ends as the session's blocking calls do.
		resp.Error = socketError(engine.ErrCancelled)
		return resp, nil
	}
	resp.Error, err = outcome(res.Err)
	return resp, err
}

// ownerPrincipal is the principal of the session owning sock, or of the one
// whose death closed it; the zero Principal for a socket no session owned.
func ownerPrincipal(sock *engine.Socket) Principal {
	if owner, ok := sock.Owner().(*Session); ok {
		return owner.principal
	}
	if p, ok := sock.Orphaned().(Principal); ok {
		return p
	}
	return Principal{}
}
