package server

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// A grace that is absent is the daemon's default; one that is given, 0
// included, is clamped to MinGrace..MaxGrace.
func TestCreateSessionGrace(t *testing.T) {
	l := newLiveWith(t, Config{Sessions: SessionLimits{DefaultGrace: 2 * time.Second}})
	for _, c := range []struct {
		grace *durationpb.Duration
		want  time.Duration
	}{
		{nil, 2 * time.Second},
		{durationpb.New(0), MinGrace},
		{durationpb.New(time.Millisecond), MinGrace},
		{durationpb.New(5 * time.Second), 5 * time.Second},
	} {
		resp, err := l.svc.CreateSession(l.ctx, &sockdv1.CreateSessionRequest{Grace: c.grace})
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.GetGrace().AsDuration(); got != c.want {
			t.Errorf("grace %v: the session's is %v, want %v", c.grace, got, c.want)
		}
		l.svc.CloseSession(l.ctx, &sockdv1.CloseSessionRequest{SessionId: resp.GetSessionId()})
	}
}

// CreateSession with existing_only finds the principal's live session of
// that name and creates none: NOT_FOUND without one, INVALID_ARGUMENT
// without a name.
func TestCreateSessionExistingOnly(t *testing.T) {
	l := newLive(t, Limits{})
	find := &sockdv1.CreateSessionRequest{Name: "named", ExistingOnly: true}
	if _, err := l.svc.CreateSession(l.ctx, find); status.Code(err) != codes.NotFound {
		t.Fatalf("existing_only before the session exists: %v, want NOT_FOUND", err)
	}
	if _, err := l.svc.CreateSession(l.ctx, find); status.Code(err) != codes.NotFound {
		t.Fatalf("existing_only a second time: %v, want NOT_FOUND (the first created nothing)", err)
	}
	created, err := l.svc.CreateSession(l.ctx, &sockdv1.CreateSessionRequest{Name: "named"})
	if err != nil {
		t.Fatal(err)
	}
	found, err := l.svc.CreateSession(l.ctx, find)
	if err != nil || found.GetSessionId() != created.GetSessionId() || !found.GetExisting() {
		t.Fatalf("existing_only after the session was created: %v %v, want %s", found, err, created.GetSessionId())
	}
	if _, err := l.svc.CreateSession(l.ctx, &sockdv1.CreateSessionRequest{ExistingOnly: true}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("existing_only without a name: %v, want INVALID_ARGUMENT", err)
	}
}
