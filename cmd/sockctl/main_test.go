package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"

	"github.com/sockd/sockd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m)
}

// sockctl runs a command line and returns its exit status and output.
func sockctl(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// absentDaemon is an address where no daemon listens. Usage errors must be
// found before sockctl tries to connect: with it they still exit 2, not 3.
func absentDaemon(t *testing.T) string {
	return "unix://" + filepath.Join(t.TempDir(), "absent.sock")
}

func TestUsageErrors(t *testing.T) {
	addr := absentDaemon(t)
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"nosuchverb"}, `unknown command "nosuchverb"`},
		{[]string{"accept"}, "accepts 1 arg(s), received 0"},
		{[]string{"open", "inet"}, "accepts between 2 and 3 arg(s)"},
		{[]string{"open", "inet", "streem"}, `invalid type "streem"`},
		{[]string{"open", "inet", "stream", "tcp6"}, `invalid protocol "tcp6"`},
		{[]string{"open", "unix", "stream"}, `invalid domain "unix"`},
		{[]string{"bind", "S", "localhost:80"}, `invalid address "localhost:80"`},
		{[]string{"connect", "S", "[::1]"}, ""}, // valid: fails later, not here
		{[]string{"sendto", "S", "x", "1.2.3.4:99999"}, `port "99999"`},
		{[]string{"sendmsg", "S", "x", "--to", "nowhere"}, `invalid address "nowhere"`},
		{[]string{"send", "S", "zz", "--hex"}, "--hex"},
		{[]string{"send", "S", "x", "--flag", "peak"}, `invalid message flag "peak"`},
		{[]string{"recv", "S", "--timeout", "soon"}, `invalid timeout "soon"`},
		{[]string{"recv", "S", "--length", "-1"}, "--length must not be negative"},
		{[]string{"recv", "S", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"recv", "S", "--nowait", "--timeout", "1s"}, "none of the others can be"},
		{[]string{"recvmsg", "S", "--control-length", "-1"}, "--control-length must not be negative"},
		{[]string{"shutdown", "S", "both"}, `invalid shutdown direction "both"`},
		{[]string{"cancel", "S", "seven"}, `invalid handle "seven"`},
		{[]string{"cancel", "S", "7", "--op", "read"}, `invalid operation "read"`},
		{[]string{"events", "extra"}, `sockctl events takes no arguments, got "extra"`},
		{[]string{"session", "open"}, `unknown command "open"`},
		{[]string{"help", "bogus"}, `unknown help topic "bogus"`},
		{[]string{"help", "session", "open"}, `unknown help topic "session open"`},
		{[]string{"watch", "--interval", "0"}, "--interval must be positive"},
		{[]string{"-o", "yaml", "info", "S"}, `--output "yaml": want table or json`},
		{[]string{"--session", "", "info", "S"}, "--session"},
		{[]string{"--dial-timeout", "soon", "info", "S"}, "invalid argument"},
		{[]string{"--dial-timeout", "0", "info", "S"}, "--dial-timeout 0s: want a positive duration"},
		{[]string{"--dial-timeout", "-1s", "info", "S"}, "--dial-timeout -1s: want a positive duration"},
	}
	for _, tt := range tests {
		code, stdout, stderr := sockctl(t, append([]string{"--addr", addr}, tt.args...)...)
		if tt.want == "" {
			if code != exitUnreachable {
				t.Errorf("%v: exit %d, want %d (valid arguments, no daemon); stderr %q", tt.args, code, exitUnreachable, stderr)
			}
			continue
		}
		if code != exitUsage || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q in stderr", tt.args, code, stdout, stderr, exitUsage, tt.want)
		}
		if !strings.HasPrefix(stderr, "error: ") || !strings.Contains(stderr, "--help' for usage.") {
			t.Errorf("%v: stderr %q, want an error line and a pointer to --help", tt.args, stderr)
		}
	}
}

// unreadStdin fails the test that reads it.
type unreadStdin struct{ t *testing.T }

func (r unreadStdin) Read([]byte) (int, error) {
	r.t.Error("standard input read before the usage error was found")
	return 0, io.EOF
}

// A usage error is found before DATA "-" reads standard input, which may
// take long to end (a reviewer's `sleep 3 | sockctl send X - --timeout
// abc` waited for it).
func TestUsageErrorsBeforeStandardInput(t *testing.T) {
	addr := absentDaemon(t)
	for _, args := range [][]string{
		{"send", "S", "-", "--timeout", "abc"},
		{"sendto", "S", "-", "nowhere"},
		{"sendto", "S", "-", "1.2.3.4:9", "--flag", "peak"},
		{"sendmsg", "S", "-", "--to", "nowhere"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"--addr", addr}, args...), unreadStdin{t}, &out, &errOut)
		if code != exitUsage {
			t.Errorf("%v: exit %d (%s), want %d", args, code, errOut.String(), exitUsage)
		}
	}
}

func TestBadDaemonAddressIsUsageError(t *testing.T) {
	code, _, stderr := sockctl(t, "--addr", "relative.sock", "info", "S")
	if code != exitUsage || !strings.Contains(stderr, `invalid sockd address "relative.sock"`) {
		t.Errorf("exit %d, stderr %q; want exit %d for a malformed --addr", code, stderr, exitUsage)
	}
}

func TestUnreachableDaemon(t *testing.T) {
	addr := absentDaemon(t)
	for _, args := range [][]string{
		{"open", "inet", "stream"},
		{"events"},
		{"session", "close"},
	} {
		code, stdout, stderr := sockctl(t, append([]string{"--addr", addr}, args...)...)
		if code != exitUnreachable || stdout != "" || !strings.HasPrefix(stderr, "error: cannot reach sockd at "+addr) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d", args, code, stdout, stderr, exitUnreachable)
		}
	}
}

func TestUnreachableFromEnvironment(t *testing.T) {
	addr := absentDaemon(t)
	t.Setenv("SOCKD_ADDR", addr)
	code, _, stderr := sockctl(t, "info", "S")
	if code != exitUnreachable || !strings.Contains(stderr, addr) {
		t.Errorf("exit %d, stderr %q; want exit %d naming %s", code, stderr, exitUnreachable, addr)
	}
}

// TestDaemonRefusesCall runs against a gRPC server that does not offer the
// sockd service: the call fails with UNIMPLEMENTED, which is exit 1.
func TestDaemonRefusesCall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grpc.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	go srv.Serve(l)
	defer srv.Stop()

	code, stdout, stderr := sockctl(t, "--addr", path, "open", "inet", "stream")
	if code != exitFailure || stdout != "" || !strings.HasPrefix(stderr, "error: unimplemented: ") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and an unimplemented error", code, stdout, stderr, exitFailure)
	}
}

// TestDaemonNeverAnswers runs against a gRPC server that takes every call
// and never answers: the first call is bounded by --dial-timeout and the
// daemon is reported unreachable, with or without a session.
func TestDaemonNeverAnswers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grpc.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		<-ss.Context().Done()
		return ss.Context().Err()
	}))
	go srv.Serve(l)
	defer srv.Stop()

	for _, args := range [][]string{{"number-of"}, {"open", "inet", "stream"}} {
		code, stdout, stderr := sockctl(t, append([]string{"--addr", path, "--dial-timeout", "300ms"}, args...)...)
		if code != exitUnreachable || stdout != "" || !strings.HasPrefix(stderr, "error: cannot reach sockd at ") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d", args, code, stdout, stderr, exitUnreachable)
		}
	}
}

func TestHelpListsEveryVerb(t *testing.T) {
	code, stdout, _ := sockctl(t, "--help")
	if code != exitOK {
		t.Fatalf("--help: exit %d", code)
	}
	for _, verb := range []string{"open", "bind", "listen", "connect", "accept", "send", "recv", "sendto",
		"recvfrom", "sendmsg", "recvmsg", "shutdown", "close", "cancel", "sockname", "peername", "info",
		"events", "session"} {
		if !strings.Contains(stdout, "\n  "+verb+" ") {
			t.Errorf("--help does not list %s", verb)
		}
		if code, _, stderr := sockctl(t, verb, "--help"); code != exitOK {
			t.Errorf("%s --help: exit %d, stderr %q", verb, code, stderr)
		}
		if code, out, stderr := sockctl(t, "help", verb); code != exitOK || !strings.Contains(out, "sockctl "+verb) {
			t.Errorf("help %s: exit %d, stdout %q, stderr %q", verb, code, out, stderr)
		}
	}
}
