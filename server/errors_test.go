package server

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/internal/reasons"
)

// FuzzStatusErrorKeepsDetails: whatever bytes a request put into a
// refusal (a session id, a local path), the status keeps its ErrorInfo,
// reason and all, and its other details, in valid UTF-8.
func FuzzStatusErrorKeepsDetails(f *testing.F) {
	f.Add("unknown session", "session", "\xff\xfe\xfd")
	f.Add("denied", "target", "local:/tmp/no\xff")
	f.Add("ok", "k\x80", "v")
	f.Fuzz(func(t *testing.T, msg, key, value string) {
		err := statusError(codes.NotFound, reasons.SessionNotFound, msg, map[string]string{key: value},
			&errdetails.ResourceInfo{ResourceType: "session", ResourceName: value})
		st := status.Convert(err)
		if !utf8.ValidString(st.Message()) {
			t.Fatalf("message %q", st.Message())
		}
		var info *errdetails.ErrorInfo
		var resource *errdetails.ResourceInfo
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.ErrorInfo:
				info = d
			case *errdetails.ResourceInfo:
				resource = d
			}
		}
		if info == nil || info.GetReason() != reasons.SessionNotFound || len(info.GetMetadata()) != 1 || resource == nil {
			t.Fatalf("details %v of a status built with %q %q %q", st.Details(), msg, key, value)
		}
		for k, v := range info.GetMetadata() {
			if (k == key) != utf8.ValidString(key) || (v == value) != utf8.ValidString(value) {
				t.Fatalf("metadata %q: %q from %q: %q", k, v, key, value)
			}
		}
	})
}

// A refusal that echoes a request's long value (a metadata value, a method
// name) stays small: gRPC holds each status until its client reads it, at
// a stream's small fixed cost.
func TestErrorStatusesEchoBoundedText(t *testing.T) {
	long := strings.Repeat(`"`, 7700)
	for _, err := range []error{
		invalidArgument("metadata.sockd-events-taken", "%q: want the decimal sequence of the last event read", long),
		unknownMethod(nil, fakeMethodStream{method: "/" + strings.Repeat("m", 7800)}),
		notConnectedStream("socket_id", long, "not a stream socket"),
	} {
		st := status.Convert(err)
		if n := proto.Size(st.Proto()); n > 8*maxErrorText {
			t.Errorf("%v: a status of %d bytes", st.Code(), n)
		}
		if !strings.Contains(st.Message(), "bytes)") {
			t.Errorf("%v: the cut message %q does not say how long the text was", st.Code(), st.Message())
		}
	}
	if got := utf8Text(strings.Repeat("é", 200)); !utf8.ValidString(got) {
		t.Errorf("a cut in a rune: %q", got)
	}
}

type fakeMethodStream struct {
	grpc.ServerStream
	method string
}

func (s fakeMethodStream) Context() context.Context {
	return grpc.NewContextWithServerTransportStream(context.Background(), fakeTransportStream{method: s.method})
}

type fakeTransportStream struct {
	grpc.ServerTransportStream
	method string
}

func (s fakeTransportStream) Method() string { return s.method }
