package server

// These RPCs belong to issue 4. Each answers UNIMPLEMENTED with an ErrorInfo
// naming the feature, so clients can tell "not yet" from a failure. The
// file goes away when the issue lands.

import (
	"context"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

const issueRegistry = "issue 4: registry, monitors and introspection"

// GlobalInfo implements sockdv1.SocketServiceServer.
func (s *Service) GlobalInfo(context.Context, *sockdv1.GlobalInfoRequest) (*sockdv1.GlobalInfoResponse, error) {
	return nil, unimplemented("GlobalInfo", issueRegistry)
}

// NumberOf implements sockdv1.SocketServiceServer.
func (s *Service) NumberOf(context.Context, *sockdv1.NumberOfRequest) (*sockdv1.NumberOfResponse, error) {
	return nil, unimplemented("NumberOf", issueRegistry)
}

// WhichSockets implements sockdv1.SocketServiceServer.
func (s *Service) WhichSockets(context.Context, *sockdv1.WhichSocketsRequest) (*sockdv1.WhichSocketsResponse, error) {
	return nil, unimplemented("WhichSockets", issueRegistry)
}

// UseRegistry implements sockdv1.SocketServiceServer.
func (s *Service) UseRegistry(context.Context, *sockdv1.UseRegistryRequest) (*sockdv1.UseRegistryResponse, error) {
	return nil, unimplemented("UseRegistry", issueRegistry)
}

// Monitor implements sockdv1.SocketServiceServer.
func (s *Service) Monitor(context.Context, *sockdv1.MonitorRequest) (*sockdv1.MonitorResponse, error) {
	return nil, unimplemented("Monitor", issueRegistry)
}

// CancelMonitor implements sockdv1.SocketServiceServer.
func (s *Service) CancelMonitor(context.Context, *sockdv1.CancelMonitorRequest) (*sockdv1.CancelMonitorResponse, error) {
	return nil, unimplemented("CancelMonitor", issueRegistry)
}
