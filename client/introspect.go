package client

import (
	"context"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// SockName returns the socket's local address.
func (s *Session) SockName(ctx context.Context, id string) (*sockdv1.SockNameResponse, error) {
	return result(s.api().SockName(s.OutgoingContext(ctx), &sockdv1.SockNameRequest{SocketId: id}))
}

// PeerName returns the address of the socket's peer.
func (s *Session) PeerName(ctx context.Context, id string) (*sockdv1.PeerNameResponse, error) {
	return result(s.api().PeerName(s.OutgoingContext(ctx), &sockdv1.PeerNameRequest{SocketId: id}))
}

// Info returns Erlang's info/1 map for the socket. It works on closed sockets
// too, for as long as the daemon remembers them.
func (s *Session) Info(ctx context.Context, id string) (*sockdv1.SocketInfo, error) {
	resp, err := s.api().Info(s.OutgoingContext(ctx), &sockdv1.InfoRequest{SocketId: id})
	if err != nil {
		return nil, err
	}
	return resp.GetInfo(), nil
}
