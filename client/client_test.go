package client

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestDefaultAddress(t *testing.T) {
	t.Setenv("SOCKD_ADDR", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	if got, want := DefaultAddress(), "unix:///tmp/sockd-"+strconv.Itoa(os.Getuid())+"/sockd.sock"; got != want {
		t.Errorf("DefaultAddress() = %q, want %q", got, want)
	}
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000/")
	if got, want := DefaultAddress(), "unix:///run/user/1000/sockd.sock"; got != want {
		t.Errorf("with XDG_RUNTIME_DIR: DefaultAddress() = %q, want %q", got, want)
	}
	t.Setenv("SOCKD_ADDR", "tcp://127.0.0.1:7000")
	if got, want := DefaultAddress(), "tcp://127.0.0.1:7000"; got != want {
		t.Errorf("with SOCKD_ADDR: DefaultAddress() = %q, want %q", got, want)
	}
}

func TestParseDaemonAddress(t *testing.T) {
	tests := []struct {
		in   string
		want daemonTarget
	}{
		{"unix:///run/sockd.sock", daemonTarget{"unix", "/run/sockd.sock", "unix:///run/sockd.sock", true, false}},
		{"unix:/run/sockd.sock", daemonTarget{"unix", "/run/sockd.sock", "unix:///run/sockd.sock", true, false}},
		{"/run/sockd.sock", daemonTarget{"unix", "/run/sockd.sock", "unix:///run/sockd.sock", true, false}},
		{"tcp://127.0.0.1:7000", daemonTarget{"tcp", "127.0.0.1:7000", "passthrough:///127.0.0.1:7000", true, false}},
		{"tcp://[::1]:7000", daemonTarget{"tcp", "[::1]:7000", "passthrough:///[::1]:7000", true, false}},
		{"tcp://localhost:7000", daemonTarget{"tcp", "localhost:7000", "passthrough:///localhost:7000", true, false}},
		{"tcp://10.1.2.3:7000", daemonTarget{"tcp", "10.1.2.3:7000", "passthrough:///10.1.2.3:7000", false, false}},
		{"tls://127.0.0.1:7443", daemonTarget{"tcp", "127.0.0.1:7443", "passthrough:///127.0.0.1:7443", false, true}},
		{"tls://sockd.example:7443", daemonTarget{"tcp", "sockd.example:7443", "passthrough:///sockd.example:7443", false, true}},
	}
	for _, tt := range tests {
		got, err := parseDaemonAddress(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseDaemonAddress(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "unix://relative.sock", "unix:relative", "relative.sock", "tcp://127.0.0.1", "tcp://:7000x", "http://127.0.0.1:80", "tcp://127.0.0.1:80/path", "tls://127.0.0.1", "tls://:443/x"} {
		if got, err := parseDaemonAddress(in); err == nil {
			t.Errorf("parseDaemonAddress(%q) = %+v, want an error", in, got)
		}
	}
}

func TestDialInvalidAddress(t *testing.T) {
	_, err := Dial(context.Background(), "relative.sock")
	var dialErr *DialError
	if err == nil || errors.As(err, &dialErr) {
		t.Fatalf("Dial(relative.sock) = %v, want an address error that is not a DialError", err)
	}
}

func TestDialMissingSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent.sock")
	start := time.Now()
	_, err := Dial(context.Background(), "unix://"+path)
	var dialErr *DialError
	if !errors.As(err, &dialErr) || !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Dial(absent) = %v, want a DialError wrapping ENOENT", err)
	}
	if dialErr.Address != "unix://"+path {
		t.Errorf("DialError.Address = %q", dialErr.Address)
	}
	// Dial must not sit in gRPC's reconnect backoff.
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Dial took %v to report an absent daemon", elapsed)
	}
}

func TestDialRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = Dial(context.Background(), "tcp://"+addr)
	var dialErr *DialError
	if !errors.As(err, &dialErr) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial(closed port) = %v, want a DialError wrapping ECONNREFUSED", err)
	}
}

func TestDialContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Dial(ctx, "unix://"+filepath.Join(t.TempDir(), "absent.sock"))
	var dialErr *DialError
	if !errors.As(err, &dialErr) {
		t.Fatalf("Dial(cancelled) = %v, want a DialError", err)
	}
}

// TestDialServes dials a bare gRPC server (no sockd service on it): Dial
// succeeds, and calls reach the server and come back as status errors.
func TestDialServes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grpc.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	go srv.Serve(l)
	defer srv.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	_, err = c.CreateSession(ctx, "test", time.Minute)
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("CreateSession on a server without sockd = %v, want UNIMPLEMENTED", err)
	}
}

// FuzzParseDaemonAddress: the daemon address parser (flags, SOCKD_ADDR)
// never panics, and what it accepts names a network and an address.
func FuzzParseDaemonAddress(f *testing.F) {
	for _, s := range []string{"unix:///run/sockd.sock", "/x", "tcp://127.0.0.1:7000", "tls://[::1]:1", "tls://%", "tcp://", "unix:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseDaemonAddress(s)
		if err != nil {
			return
		}
		if got.address == "" || (got.network != "unix" && got.network != "tcp") || (got.tls && got.plaintextOK) {
			t.Fatalf("parseDaemonAddress(%q) = %+v", s, got)
		}
	})
}
