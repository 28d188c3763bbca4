package server

import (
	"testing"
	"time"

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
