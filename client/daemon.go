package client

import (
	"context"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Debug sets the daemon's global debug flag (socket:debug/1): every
// socket's operations are logged at its debug level. Only an admin may.
func (c *Client) Debug(ctx context.Context, enabled bool) error {
	_, err := c.api.Debug(ctx, &sockdv1.DebugRequest{Enabled: enabled})
	return err
}

// SocketDebug sets the debug flag of sockets opened from now on
// (socket:socket_debug/1). Only an admin may.
func (c *Client) SocketDebug(ctx context.Context, enabled bool) error {
	_, err := c.api.SocketDebug(ctx, &sockdv1.SocketDebugRequest{Enabled: enabled})
	return err
}

// GlobalInfo returns socket:info/0: the global flags, the counts of open
// sockets by domain, type and protocol, and the engine's facts.
func (c *Client) GlobalInfo(ctx context.Context) (*sockdv1.GlobalInfoResponse, error) {
	return c.api.GlobalInfo(ctx, &sockdv1.GlobalInfoRequest{})
}
