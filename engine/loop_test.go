package engine

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threads returns the process's thread count.
func threads(t *testing.T) int {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("Threads:")); ok {
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// DESIGN §4: the daemon never blocks an OS thread on a socket. A loop waits
// in the runtime's poller; a loop blocked in epoll_wait would hold a thread
// each, and 64 of them 64 threads.
func TestLoopsHoldNoThreads(t *testing.T) {
	before := threads(t)
	e := newEngine(t, Config{Loops: 64})
	// Give every loop an edge to harvest and wait again after, so that each
	// has run and parked.
	c := newRecorder("loops")
	for range 64 {
		cl, sv := pair(t, e, c, unix.AF_UNIX)
		r := sv.Recv(bg, c, 1, 0, nowait)
		if r.Err != nil || r.Select == nil {
			t.Fatalf("recv: %+v", r)
		}
		mustSend(t, cl, c, "x")
		c.expect(t, EventSelect, r.Select.Handle)
	}
	time.Sleep(50 * time.Millisecond)
	if grown := threads(t) - before; grown >= 16 {
		t.Fatalf("64 idle loops added %d threads", grown)
	}
}
