package server

import (
	"context"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// The RPCs below belong to later work. Each answers UNIMPLEMENTED with an
// ErrorInfo naming the feature, so clients can tell "not yet" from a failure.

const (
	issueOptions  = "issue 3: socket options"
	issueRegistry = "issue 4: registry, monitors and introspection"
	issueBulk     = "issue 5: completion mode and bulk data"
)

// SetOpt implements sockdv1.SocketServiceServer.
func (s *Service) SetOpt(context.Context, *sockdv1.SetOptRequest) (*sockdv1.SetOptResponse, error) {
	return nil, unimplemented("SetOpt", issueOptions)
}

// GetOpt implements sockdv1.SocketServiceServer.
func (s *Service) GetOpt(context.Context, *sockdv1.GetOptRequest) (*sockdv1.GetOptResponse, error) {
	return nil, unimplemented("GetOpt", issueOptions)
}

// SetOptNative implements sockdv1.SocketServiceServer.
func (s *Service) SetOptNative(context.Context, *sockdv1.SetOptNativeRequest) (*sockdv1.SetOptNativeResponse, error) {
	return nil, unimplemented("SetOptNative", issueOptions)
}

// GetOptNative implements sockdv1.SocketServiceServer.
func (s *Service) GetOptNative(context.Context, *sockdv1.GetOptNativeRequest) (*sockdv1.GetOptNativeResponse, error) {
	return nil, unimplemented("GetOptNative", issueOptions)
}

// Supports implements sockdv1.SocketServiceServer.
func (s *Service) Supports(context.Context, *sockdv1.SupportsRequest) (*sockdv1.SupportsResponse, error) {
	return nil, unimplemented("Supports", issueOptions)
}

// IsSupported implements sockdv1.SocketServiceServer.
func (s *Service) IsSupported(context.Context, *sockdv1.IsSupportedRequest) (*sockdv1.IsSupportedResponse, error) {
	return nil, unimplemented("IsSupported", issueOptions)
}

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

// Pipe implements sockdv1.SocketServiceServer.
func (s *Service) Pipe(sockdv1.SocketService_PipeServer) error {
	return unimplemented("Pipe", issueBulk)
}

// Relay implements sockdv1.SocketServiceServer.
func (s *Service) Relay(context.Context, *sockdv1.RelayRequest) (*sockdv1.RelayResponse, error) {
	return nil, unimplemented("Relay", issueBulk)
}
