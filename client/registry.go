package client

import (
	"context"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// SocketFilter selects sockets for WhichSockets (Erlang's which_sockets/1).
// Zero fields select everything; set fields combine with AND.
type SocketFilter struct {
	Domain   sockdv1.Domain   // DOMAIN_UNSPECIFIED: any
	Type     sockdv1.Type     // TYPE_UNSPECIFIED: any
	Protocol sockdv1.Protocol // PROTOCOL_UNSPECIFIED: any
	Owner    string           // a session id; "": any
}

// NumberOf counts the registered sockets the caller may see
// (socket:number_of/0). Sockets opened with use_registry off are not
// counted. It needs no session.
func (c *Client) NumberOf(ctx context.Context) (uint64, error) {
	resp, err := c.api.NumberOf(ctx, &sockdv1.NumberOfRequest{})
	if err != nil {
		return 0, err
	}
	return resp.GetCount(), nil
}

// WhichSockets lists the ids of the registered sockets the caller may see
// that pass f, sorted. It needs no session.
func (c *Client) WhichSockets(ctx context.Context, f SocketFilter) ([]string, error) {
	resp, err := c.api.WhichSockets(ctx, &sockdv1.WhichSocketsRequest{
		Domain: f.Domain, Type: f.Type, Protocol: f.Protocol, Owner: f.Owner,
	})
	if err != nil {
		return nil, err
	}
	return resp.GetSocketIds(), nil
}

// UseRegistry sets the daemon's global use_registry default for sockets
// opened from now on (socket:use_registry/1). Only an admin may.
func (c *Client) UseRegistry(ctx context.Context, enabled bool) error {
	_, err := c.api.UseRegistry(ctx, &sockdv1.UseRegistryRequest{Enabled: enabled})
	return err
}

// Monitor monitors a socket (socket:monitor/1) and returns the monitor's
// id. The session receives a DownEvent with that id when the socket closes
// (reason "closed"; at once if it is already closed), or at once with reason
// "nosock" if the session cannot know it (an unknown id, another
// principal's socket).
// Monitoring turns the socket's use_registry on.
func (s *Session) Monitor(ctx context.Context, id string) (string, error) {
	resp, err := s.api().Monitor(s.OutgoingContext(ctx), &sockdv1.MonitorRequest{SocketId: id})
	if err != nil {
		return "", err
	}
	return resp.GetMonitorId(), nil
}

// CancelMonitor removes a monitor (socket:cancel_monitor/1). It reports
// false for a monitor that does not exist, already fired, or another session
// made (only the monitoring session may cancel, as in Erlang); after true, no
// DownEvent for it arrives.
func (s *Session) CancelMonitor(ctx context.Context, monitorID string) (bool, error) {
	resp, err := s.api().CancelMonitor(s.OutgoingContext(ctx), &sockdv1.CancelMonitorRequest{MonitorId: monitorID})
	if err != nil {
		return false, err
	}
	return resp.GetRemoved(), nil
}
