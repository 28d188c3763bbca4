package server

import (
	"testing"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
