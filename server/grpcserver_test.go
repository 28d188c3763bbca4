package server

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/internal/syncbuf"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// panickingHealth stands for a handler with a bug.
type panickingHealth struct {
	healthpb.UnimplementedHealthServer
}

func (panickingHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	panic("a handler's bug")
}

// A server made with ServerOptions answers a handler's panic with INTERNAL
// and keeps serving, and at debug level logs every finished call with its
// principal, and the sessions made and ended.
func TestServerOptionsRecoverAndLog(t *testing.T) {
	e, err := engine.New(engine.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var logs syncbuf.Buffer
	svc := New(Config{Engine: e, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	gs := grpc.NewServer(svc.ServerOptions()...)
	svc.Register(gs)
	healthpb.RegisterHealthServer(gs, panickingHealth{})
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	go gs.Serve(l)
	defer gs.Stop()
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()

	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "a handler's bug") {
		t.Fatalf("a panicking handler's call: %v, want INTERNAL naming the panic", err)
	}
	api := sockdv1.NewSocketServiceClient(conn)
	created, err := api.CreateSession(ctx, &sockdv1.CreateSessionRequest{Name: "logged"})
	if err != nil {
		t.Fatalf("the call after a panic: %v", err)
	}
	if _, err := api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: created.GetSessionId()}); err != nil {
		t.Fatal(err)
	}
	got := logs.String()
	for _, want := range []string{
		`level=ERROR msg="a call's handler panicked; the call gets INTERNAL"`, "stack=",
		`msg="session created" session=` + created.GetSessionId() + " name=logged principal=uid:",
		`msg="session ended" session=` + created.GetSessionId() + " name=logged principal=uid:",
		"reason=closed",
		`msg="finished call"`, "grpc.method=CreateSession", "grpc.code=OK",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the log lacks %q:\n%s", want, got)
		}
	}
}
