package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
)

// TestServeFailureIsReported: when serving fails (here: the gRPC server was
// already stopped), serve shuts down and returns the error, so sockd exits 1
// rather than 0.
func TestServeFailureIsReported(t *testing.T) {
	opts := options{registry: true, stopTimeout: 5 * time.Second}
	d, err := newDaemon(opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d.grpc.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = d.serve(ctx, []string{"unix://" + filepath.Join(t.TempDir(), "sockd.sock")})
	if !errors.Is(err, grpc.ErrServerStopped) {
		t.Errorf("serve = %v, want the Serve error", err)
	}
}
