package client

import (
	"context"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// SupportedOptions lists the options of the daemon's table with whether this
// host's kernel accepts each (socket:supports(options)); level
// OPTION_LEVEL_UNSPECIFIED lists every level. Each row carries the option's
// value type as the seed spells it, which ParseOptionValue takes. It needs no
// session.
func (c *Client) SupportedOptions(ctx context.Context, level sockdv1.OptionLevel) ([]*sockdv1.OptionSupport, error) {
	resp, err := c.api.Supports(ctx, &sockdv1.SupportsRequest{Key: "options", Level: level})
	if err != nil {
		return nil, err
	}
	return resp.GetOptions(), nil
}

// Supports returns the boolean features of socket:supports/0 (sctp, ipv6,
// local, netns, ...), or with a key only that one. It needs no session.
func (c *Client) Supports(ctx context.Context, key string) (map[string]bool, error) {
	resp, err := c.api.Supports(ctx, &sockdv1.SupportsRequest{Key: key})
	if err != nil {
		return nil, err
	}
	return resp.GetFeatures(), nil
}

// IsSupported answers socket:is_supported/1,2: IsSupported(ctx, "ipv6"),
// IsSupported(ctx, "options", "socket.reuseport"). An unknown key is false,
// not an error. It needs no session.
func (c *Client) IsSupported(ctx context.Context, keys ...string) (bool, error) {
	resp, err := c.api.IsSupported(ctx, &sockdv1.IsSupportedRequest{Keys: keys})
	if err != nil {
		return false, err
	}
	return resp.GetSupported(), nil
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
