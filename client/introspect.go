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

// SetOpt sets a typed option.
func (s *Session) SetOpt(ctx context.Context, id string, key *sockdv1.OptionKey, value *sockdv1.OptionValue) (*sockdv1.SetOptResponse, error) {
	return result(s.api().SetOpt(s.OutgoingContext(ctx), &sockdv1.SetOptRequest{SocketId: id, Key: key, Value: value}))
}

// GetOpt gets a typed option.
func (s *Session) GetOpt(ctx context.Context, id string, key *sockdv1.OptionKey) (*sockdv1.GetOptResponse, error) {
	return result(s.api().GetOpt(s.OutgoingContext(ctx), &sockdv1.GetOptRequest{SocketId: id, Key: key}))
}

// SetOptNative sets an option by its numeric level and name.
func (s *Session) SetOptNative(ctx context.Context, id string, level, name int32, value *sockdv1.NativeValue) (*sockdv1.SetOptNativeResponse, error) {
	return result(s.api().SetOptNative(s.OutgoingContext(ctx), &sockdv1.SetOptNativeRequest{
		SocketId: id, Level: level, Name: name, Value: value,
	}))
}

// GetOptNative gets an option by its numeric level and name, decoded as spec
// says.
func (s *Session) GetOptNative(ctx context.Context, id string, level, name int32, spec *sockdv1.NativeValueSpec) (*sockdv1.GetOptNativeResponse, error) {
	return result(s.api().GetOptNative(s.OutgoingContext(ctx), &sockdv1.GetOptNativeRequest{
		SocketId: id, Level: level, Name: name, Spec: spec,
	}))
}
