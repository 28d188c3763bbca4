package engine

import (
	"bytes"
	"os"
	"strconv"
	"testing"
	"time"
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
	// Nothing else runs meanwhile, so the runtime has no other reason to
	// start threads, however many cores the machine has.
	before := threads(t)
	newEngine(t, Config{Loops: 64})
	time.Sleep(50 * time.Millisecond) // every loop has started and waits
	if grown := threads(t) - before; grown >= 16 {
		t.Fatalf("64 idle loops added %d threads", grown)
	}
}
