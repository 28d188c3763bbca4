package client

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/internal/leakcheck"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m)
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

// Plain tcp:// to a daemon off the loopback is refused before any dialling,
// with a message that says why (a tls:// address is the way).
func TestDialPlainTCPOffLoopback(t *testing.T) {
	_, err := Dial(context.Background(), "tcp://10.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("Dial(tcp://10.0.0.1:1) = %v, want a refusal that names the loopback", err)
	}
	var dialErr *DialError
	if errors.As(err, &dialErr) {
		t.Fatalf("Dial(tcp://10.0.0.1:1) = %v: a malformed address, not an unreachable daemon", err)
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

// A unix socket whose accept queue is full (EAGAIN) is dialled again until
// it takes the connection, within the dial's context.
func TestDialWaitsOutAFullAcceptQueue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	// Fill the queue until a connect answers EAGAIN.
	var queued []net.Conn
	defer func() {
		for _, c := range queued {
			c.Close()
		}
	}()
	for {
		c, err := net.Dial("unix", path)
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		queued = append(queued, c)
	}
	// A queue that stays full: Dial ends with its context, saying why.
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = Dial(short, "unix://"+path)
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "accept queue is full") {
		t.Errorf("Dial of a socket whose queue stays full: %v", err)
	}
	// Make room in 100 ms: accept the queued connections and the dial's.
	accepted := make(chan []int, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		var fds []int
		for range len(queued) + 1 {
			nfd, _, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
			if err != nil {
				break
			}
			fds = append(fds, nfd)
		}
		accepted <- fds
	}()
	d := &recordingDialer{network: "unix", address: path}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.dial(ctx, "")
	if err != nil {
		t.Fatalf("dial of a socket whose queue is full for 100 ms: %v", err)
	}
	c.Close()
	for _, nfd := range <-accepted {
		unix.Close(nfd)
	}
}
