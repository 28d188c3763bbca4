package main

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestExitCodeAndMessage(t *testing.T) {
	refused := &client.SocketError{Proto: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: "econnrefused", Errno: 111}}
	invalidState := &client.SocketError{Proto: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INVALID, Reason: "invalid", Invalid: "state"}}
	notFound := status.Error(codes.NotFound, `unknown socket "x"`)
	tests := []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"socket error", refused, exitFailure, "econnrefused"},
		{"invalid socket error", failure{invalidState}, exitFailure, "invalid state"},
		{"not found", failure{notFound}, exitFailure, `not_found: unknown socket "x"`},
		{"permission", status.Error(codes.PermissionDenied, "policy"), exitFailure, "permission_denied: policy"},
		{"unimplemented", failure{status.Error(codes.Unimplemented, "later")}, exitFailure, "unimplemented: later"},
		{"invalid argument", failure{status.Error(codes.InvalidArgument, "length: negative")}, exitUsage, "invalid_argument: length: negative"},
		{"unavailable", status.Error(codes.Unavailable, "draining"), exitUnreachable, "unavailable: draining"},
		{"dial", &client.DialError{Address: "unix:///x", Err: syscall.ENOENT}, exitUnreachable, "cannot reach sockd at unix:///x: no such file or directory"},
		{"usage", usage(errors.New("bad flag")), exitUsage, "bad flag"},
		{"usage inside a verb", failure{usage(errors.New("bad"))}, exitUsage, "bad"},
		{"cobra", fmt.Errorf(`unknown command "x" for "sockctl"`), exitUsage, `unknown command "x" for "sockctl"`},
		{"verb failure", failure{errors.New("reading standard input: EOF")}, exitFailure, "reading standard input: EOF"},
		{"interrupted", failure{status.Error(codes.Canceled, "context canceled")}, exitInterrupted, "interrupted"},
		{"interrupted locally", failure{context.Canceled}, exitInterrupted, "interrupted"},
		{"interrupted while dialing", &client.DialError{Address: "unix:///x", Err: context.Canceled}, exitInterrupted, "interrupted"},
		{"dial timeout", &client.DialError{Address: "unix:///x", Err: context.DeadlineExceeded}, exitUnreachable, "cannot reach sockd at unix:///x: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.code {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.code)
			}
			if got := errorMessage(tt.err); got != tt.msg {
				t.Errorf("errorMessage(%v) = %q, want %q", tt.err, got, tt.msg)
			}
		})
	}
	if got := exitCode(nil); got != exitOK {
		t.Errorf("exitCode(nil) = %d", got)
	}
}

func TestCodeName(t *testing.T) {
	for code, want := range map[codes.Code]string{
		codes.NotFound:           "not_found",
		codes.ResourceExhausted:  "resource_exhausted",
		codes.Unavailable:        "unavailable",
		codes.FailedPrecondition: "failed_precondition",
		codes.OK:                 "ok",
	} {
		if got := codeName(code); got != want {
			t.Errorf("codeName(%v) = %q, want %q", code, got, want)
		}
	}
}
