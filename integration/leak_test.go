package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// The daemon must give back every descriptor it took for a session once the
// session is gone, and this test process must not leave goroutines behind.
// runMain checks both after all tests ran; TestFailedLocalConnectsDoNotLeak
// checks descriptors around one scenario.

// openFDs lists the daemon's open descriptors as "fd -> target".
func (d *Daemon) openFDs() ([]string, error) {
	dir := fmt.Sprintf("/proc/%d/fd", d.cmd.Process.Pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, e.Name()+" -> "+target)
	}
	sort.Strings(out)
	return out, nil
}

// settledFDs returns the daemon's descriptor count once it has stopped
// changing (the connections of finished clients take a moment to close).
func (d *Daemon) settledFDs() int {
	last, stable := -1, 0
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && stable < 5 {
		fds, err := d.openFDs()
		if err != nil {
			return -1
		}
		if len(fds) == last {
			stable++
		} else {
			last, stable = len(fds), 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

// checkFDs waits up to a few seconds for the daemon's descriptor count to
// return to (or below) baseline.
func (d *Daemon) checkFDs(baseline int) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		fds, err := d.openFDs()
		if err != nil {
			return err
		}
		if len(fds) <= baseline {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sockd holds %d descriptors, %d before the tests:\n\t%s",
				len(fds), baseline, strings.Join(fds, "\n\t"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkGoroutines reports goroutines this test process left running.
func checkGoroutines() error {
	// gRPC's connection goroutines finish asynchronously after
	// ClientConn.Close; goleak.Find retries until they are gone.
	return goleak.Find()
}

// TestFailedLocalConnectsDoNotLeak re-expresses otp19251 (failed local
// connects do not leak): connects to a path where nothing is bound and to a
// bound socket that does not listen fail with their POSIX errors, and once the
// sockets are closed the daemon holds exactly the descriptors it held before.
//
// It is deliberately not parallel, so that no other test's sockets are counted.
func TestFailedLocalConnectsDoNotLeak(t *testing.T) {
	s := newSession(t)
	notListening, addr := s.bound(t, tcpL) // bound, never listening: connects are refused
	before := daemon.settledFDs()

	for i := range 20 {
		for _, c := range []struct {
			dest   *sockdv1.SockAddr
			reason string
		}{
			{localAddr(localPath(t)), "enoent"},
			{addr, "econnrefused"},
		} {
			id := s.open(t, tcpL)
			ctx, cancel := s.call()
			resp, err := s.api.Connect(ctx, &sockdv1.ConnectRequest{SocketId: id, Address: c.dest, Timeout: millis(1000)})
			cancel()
			if err != nil {
				t.Fatalf("connect %d: %v", i, err)
			}
			requireSockErr(t, fmt.Sprintf("connect %d to %s", i, c.reason), resp.GetError(), sockdv1.SocketError_KIND_POSIX, c.reason)
			if in := s.info(t, id); in.GetNumWriters() != 0 {
				t.Fatalf("after a failed connect: num_writers = %d, want 0", in.GetNumWriters())
			}
			s.close(t, id)
		}
	}
	if after := daemon.settledFDs(); after > before {
		fds, _ := daemon.openFDs()
		t.Fatalf("sockd holds %d descriptors after 40 failed connects, %d before:\n\t%s", after, before, strings.Join(fds, "\n\t"))
	}
	s.close(t, notListening)
}
