package integration

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// TestEventsAfterTheFutureIsRefused: resuming after a sequence the session
// has not produced would silently skip the events that later get it.
func TestEventsAfterTheFutureIsRefused(t *testing.T) {
	t.Parallel()
	s := newRawSession(t)
	ctx, cancel := s.ctx(callTimeout)
	defer cancel()
	stream, err := s.api.Events(ctx, &sockdv1.EventsRequest{SessionId: s.id, AfterSequence: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Events after 5 on a fresh session: %v, want InvalidArgument", err)
	}
}
