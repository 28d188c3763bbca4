package server

// These RPCs belong to issue 5. Each answers UNIMPLEMENTED with an ErrorInfo
// naming the feature, so clients can tell "not yet" from a failure. The
// file goes away when the issue lands.

import (
	"context"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

const issueBulk = "issue 5: completion mode and bulk data"

// Pipe implements sockdv1.SocketServiceServer.
func (s *Service) Pipe(sockdv1.SocketService_PipeServer) error {
	return unimplemented("Pipe", issueBulk)
}

// Relay implements sockdv1.SocketServiceServer.
func (s *Service) Relay(context.Context, *sockdv1.RelayRequest) (*sockdv1.RelayResponse, error) {
	return nil, unimplemented("Relay", issueBulk)
}
