package client

import (
	"context"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Relay joins two connected stream sockets inside the daemon: bytes move
// between them with splice(2), never through this client, until both
// directions reach end of data, a socket fails or is closed, or ctx ends.
// The response counts the bytes moved each way.
func (s *Session) Relay(ctx context.Context, a, b string) (*sockdv1.RelayResponse, error) {
	return result(s.api().Relay(s.OutgoingContext(ctx), &sockdv1.RelayRequest{SocketA: a, SocketB: b}))
}
