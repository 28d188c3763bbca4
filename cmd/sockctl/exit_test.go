package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
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
		{"open's netns missing", failure{netnsHint(&client.SocketError{Proto: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: "enoent", Errno: 2,
			Message: "network namespace /run/netns/x: no such file or directory"}}, "/run/netns/x")},
			exitFailure, "enoent (no network namespace at /run/netns/x)"},
		{"open's own einval in a netns", failure{netnsHint(&client.SocketError{Proto: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: "einval", Errno: 22,
			Message: "invalid argument"}}, "/run/netns/x")},
			exitFailure, "einval"},
		{"open's other errors", failure{netnsHint(refused, "/run/netns/x")}, exitFailure, "econnrefused"},
		{"invalid socket error", failure{invalidState}, exitFailure, "invalid state"},
		{"invalid, said why", &client.SocketError{Proto: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INVALID, Reason: "invalid",
			Invalid: "socket_option", InvalidValue: "socket.rcvtimeo", Message: "invalid socket_option socket.rcvtimeo: not supported"}},
			exitFailure, "invalid socket_option socket.rcvtimeo: not supported"},
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

// With -o json a refusal of the daemon, or a daemon out of reach, is an
// error object on standard output too, as a socket error is in its result;
// a socket error (already there) and a usage error write nothing.
func TestEmitRefusal(t *testing.T) {
	refused := &client.SocketError{Proto: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: "econnrefused", Errno: 111}}
	denied, _ := status.New(codes.PermissionDenied, "policy").WithDetails(&errdetails.ErrorInfo{Reason: "POLICY_DENIED", Domain: "sockd"})
	for _, c := range []struct {
		err  error
		want string
	}{
		{failure{status.Error(codes.NotFound, `unknown socket "x"`)}, `{"error":{"reason":"not_found","kind":"rpc","message":"unknown socket \"x\""}}` + "\n"},
		{denied.Err(), `{"error":{"reason":"permission_denied","kind":"rpc","message":"policy","error_info":"POLICY_DENIED"}}` + "\n"},
		{status.Error(codes.PermissionDenied, "policy"), `{"error":{"reason":"permission_denied","kind":"rpc","message":"policy"}}` + "\n"},
		{&client.DialError{Address: "unix:///x", Err: syscall.ENOENT}, `{"error":{"reason":"unreachable","kind":"daemon","message":"cannot reach sockd at unix:///x: no such file or directory"}}` + "\n"},
		{failure{context.Canceled}, `{"error":{"reason":"interrupted","kind":"sockctl","message":"interrupted"}}` + "\n"},
		{refused, ""},
		{daemonStopping{&client.SocketError{Proto: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_CLOSED, Reason: "closed"}}},
			`{"error":{"reason":"shutting_down","kind":"daemon","message":"closed (the daemon is shutting down)"}}` + "\n"},
		{usage(errors.New("bad flag")), ""},
		{failure{status.Error(codes.InvalidArgument, "length: negative")}, ""},
	} {
		var b strings.Builder
		emitRefusal(&b, c.err)
		if b.String() != c.want {
			t.Errorf("emitRefusal(%v) wrote %q, want %q", c.err, b.String(), c.want)
		}
		// forward prints a connection it could not relay with the same object.
		if errors.As(c.err, new(daemonStopping)) {
			continue // its result says closed; this line follows it
		}
		if line, err := json.Marshal(failedView(c.err).obj); c.want != "" && (err != nil || string(line)+"\n" != c.want) {
			t.Errorf("forward's view of %v: %s %v, want %q", c.err, line, err, c.want)
		}
	}
}

func TestJSONRefusalOnStdout(t *testing.T) {
	code, stdout, stderr := sockctl(t, "--addr", absentDaemon(t), "-o", "json", "number-of")
	if code != exitUnreachable || !strings.HasPrefix(stdout, `{"error":{"reason":"unreachable"`) || !strings.Contains(stderr, "cannot reach") {
		t.Errorf("number-of -o json, no daemon: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, stdout, _ := sockctl(t, "--addr", absentDaemon(t), "number-of"); code != exitUnreachable || stdout != "" {
		t.Errorf("number-of, no daemon: exit %d, stdout %q: want nothing on stdout", code, stdout)
	}
	// nc's standard output carries the connection's data alone.
	if code, stdout, _ := sockctl(t, "--addr", absentDaemon(t), "-o", "json", "nc", "127.0.0.1", "9"); code != exitUnreachable || stdout != "" {
		t.Errorf("nc -o json, no daemon: exit %d, stdout %q: want nothing on stdout", code, stdout)
	}
}

// A tls:// daemon without the TLS flags is a usage error that names them.
func TestTLSFlagsNamed(t *testing.T) {
	t.Setenv("SOCKD_TLS_CERT", "")
	t.Setenv("SOCKD_TLS_KEY", "")
	t.Setenv("SOCKD_TLS_CA", "")
	code, _, stderr := sockctl(t, "--addr", "tls://127.0.0.1:1", "--tls-ca", "ca.pem", "number-of")
	if code != exitUsage || !strings.Contains(stderr, "--tls-cert, --tls-key and --tls-ca") {
		t.Errorf("tls:// with --tls-ca only: exit %d, %q", code, stderr)
	}
}

// nc and forward connect to a port: an address without one is the command
// line's mistake, though nc -l (and forward's LOCAL) may listen on port 0.
func TestNcWithoutPortIsAUsageError(t *testing.T) {
	for _, args := range [][]string{{"nc", "127.0.0.1"}, {"nc", "::1", "0"}, {"nc", "any"}, {"forward", "127.0.0.1:0", "any:0"}} {
		if code, _, stderr := sockctl(t, append([]string{"--addr", absentDaemon(t)}, args...)...); code != exitUsage || !strings.Contains(stderr, "connects to a port") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", args, code, stderr)
		}
	}
	if code, _, _ := sockctl(t, "--addr", absentDaemon(t), "nc", "-l", "127.0.0.1:0"); code != exitUnreachable {
		t.Errorf("nc -l 127.0.0.1:0: exit %d, want %d (it may listen on port 0)", code, exitUnreachable)
	}
}
