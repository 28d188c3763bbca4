package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// The binaries under test and the daemon shared by the tests of this package.
var (
	binDir     string
	sockdBin   string
	sockctlBin string
	daemon     *Daemon
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sockd-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-race", "-o", binDir+"/", "github.com/sockd/sockd/cmd/sockd", "github.com/sockd/sockd/cmd/sockctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building binaries:", err)
		return 1
	}
	sockdBin = filepath.Join(binDir, "sockd")
	sockctlBin = filepath.Join(binDir, "sockctl")

	daemon, err = StartDaemon(filepath.Join(dir, "run"), "--session-grace=2s")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	baseline := daemon.settledFDs()
	code := m.Run()
	if err := daemon.checkFDs(baseline); err != nil {
		fmt.Fprintln(os.Stderr, "leak:", err)
		code = 1
	}
	if err := daemon.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping sockd:", err)
		if log, rerr := os.ReadFile(daemon.stderr.Name()); rerr == nil {
			fmt.Fprintf(os.Stderr, "sockd's log:\n%s\n", log)
		}
		code = 1
	}
	if err := checkGoroutines(); err != nil {
		fmt.Fprintln(os.Stderr, "leak:", err)
		code = 1
	}
	return code
}

// Daemon is a running sockd process.
type Daemon struct {
	Addr   string // unix:///path
	Path   string
	cmd    *exec.Cmd
	stderr *os.File
	done   chan error
}

// dedicatedDaemon starts a daemon of the test's own (StartDaemon), which the
// test's cleanup stops, reporting a failure to stop cleanly.
func dedicatedDaemon(t *testing.T, dir string, args ...string) *Daemon {
	t.Helper()
	d, err := StartDaemon(dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stopping the dedicated daemon: %v", err)
		}
	})
	return d
}

// StartDaemon runs sockd on a unix socket in dir and waits until it serves.
func StartDaemon(dir string, args ...string) (*Daemon, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "sockd.sock")
	logf, err := os.Create(filepath.Join(dir, "sockd.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(sockdBin, append([]string{"--listen", "unix://" + path}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The -race binary exits with status 66 if it saw a race; it need not
	// sleep a second before exiting.
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &Daemon{Addr: "unix://" + path, Path: path, cmd: cmd, stderr: logf, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return d, nil
		}
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("sockd exited early: %v (log: %s)", err, logf.Name())
		case <-time.After(20 * time.Millisecond):
		}
	}
	d.Kill()
	return nil, fmt.Errorf("sockd did not start serving on %s", path)
}

// Stop sends SIGTERM and waits for a clean exit (status 0).
func (d *Daemon) Stop() error {
	defer d.stderr.Close()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-d.done:
		return err
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		return fmt.Errorf("sockd did not stop within 20s")
	}
}

// Kill ends the daemon at once.
func (d *Daemon) Kill() {
	d.cmd.Process.Kill()
	<-d.done
	d.stderr.Close()
}

// Dial returns raw stubs connected to the daemon.
func (d *Daemon) Dial(t testing.TB) sockdv1.SocketServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(d.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return sockdv1.NewSocketServiceClient(conn)
}

// rawSession is a session driven through the raw generated stubs.
type rawSession struct {
	t   testing.TB
	api sockdv1.SocketServiceClient
	id  string
}

// newRawSession creates a session that is closed when the test ends.
func newRawSession(t testing.TB) *rawSession {
	t.Helper()
	return newRawSessionGrace(t, 0)
}

// newRawSessionGrace creates a session with the given grace (0: the daemon's
// default) that is closed when the test ends.
func newRawSessionGrace(t testing.TB, grace time.Duration) *rawSession {
	t.Helper()
	api := daemon.Dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := &sockdv1.CreateSessionRequest{}
	if grace > 0 {
		req.Grace = durationpb.New(grace)
	}
	resp, err := api.CreateSession(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	s := &rawSession{t: t, api: api, id: resp.SessionId}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: s.id})
	})
	return s
}

// sessionOn creates a session on a dedicated daemon.
func sessionOn(t *testing.T, d *Daemon) *rawSession {
	t.Helper()
	api := d.Dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := api.CreateSession(ctx, &sockdv1.CreateSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return &rawSession{t: t, api: api, id: resp.GetSessionId()}
}

// ctx returns a context carrying the session metadata, bounded by d.
func (s *rawSession) ctx(d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	return metadata.AppendToOutgoingContext(ctx, "sockd-session", s.id), cancel
}
