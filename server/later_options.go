package server

// These RPCs belong to issue 3. Each answers UNIMPLEMENTED with an ErrorInfo
// naming the feature, so clients can tell "not yet" from a failure. The
// file goes away when the issue lands.

import (
	"context"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

const issueOptions = "issue 3: socket options"

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
