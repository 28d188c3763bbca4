package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// infoFailsServer lists two sockets; Info says the first is gone and fails
// the second with infoErr.
type infoFailsServer struct {
	sockdv1.UnimplementedSocketServiceServer
	infoErr error
}

func (infoFailsServer) CreateSession(context.Context, *sockdv1.CreateSessionRequest) (*sockdv1.CreateSessionResponse, error) {
	return &sockdv1.CreateSessionResponse{SessionId: "s1"}, nil
}

func (infoFailsServer) WhichSockets(context.Context, *sockdv1.WhichSocketsRequest) (*sockdv1.WhichSocketsResponse, error) {
	return &sockdv1.WhichSocketsResponse{SocketIds: []string{"gone", "broken"}}, nil
}

func (s infoFailsServer) Info(_ context.Context, r *sockdv1.InfoRequest) (*sockdv1.InfoResponse, error) {
	if r.GetSocketId() == "gone" {
		return nil, status.Error(codes.NotFound, "unknown socket")
	}
	return nil, s.infoErr
}

// TestIReportsInfoFailures: a socket that closed since WhichSockets is left
// out, but any other failure of Info is reported, not an empty table with
// exit 0.
func TestIReportsInfoFailures(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fake.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	sockdv1.RegisterSocketServiceServer(srv, infoFailsServer{infoErr: status.Error(codes.Unavailable, "draining")})
	go srv.Serve(l)
	defer srv.Stop()

	code, stdout, stderr := sockctl(t, "--addr", path, "i")
	if code != exitUnreachable || stdout != "" || stderr != "error: unavailable: draining\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and the unavailable error", code, stdout, stderr, exitUnreachable)
	}
}
