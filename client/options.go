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

// ParseOptionLevel parses an option level: otp, socket, ip, ipv6, tcp, udp
// or sctp.
func ParseOptionLevel(s string) (sockdv1.OptionLevel, error) {
	n, err := parseEnum(s, "option level", sockdv1.OptionLevel(0).Descriptor())
	return sockdv1.OptionLevel(n), err
}
