package engine

import (
	"bytes"
	"os"
	"runtime"
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
	// Nothing else runs meanwhile, so the runtime has no other reason to
	// start threads, however many cores the machine has.
	before := threads(t)
	newEngine(t, Config{Loops: 64})
	time.Sleep(50 * time.Millisecond) // every loop has started and waits
	if grown := threads(t) - before; grown >= 16 {
		t.Fatalf("64 idle loops added %d threads", grown)
	}
}

// DESIGN §4: a pending nowait recv costs memory, not a goroutine. Many
// sockets each wait, then all become readable at once: every requestor gets
// its select, or in completion mode its data, through one loop harvesting
// many times over, and no goroutine was parked for any.
func TestManyPendingRecvs(t *testing.T) {
	t.Run("select", func(t *testing.T) { manyPendingRecvs(t, nowait) })
	t.Run("completion", func(t *testing.T) { manyPendingRecvs(t, completion()) })
}

func manyPendingRecvs(t *testing.T, mode Timeout) {
	const n = 2000 // 4000 descriptors: well inside the machine's 20,000
	e := newEngine(t, Config{Loops: 1})
	c := newRecorder("many")
	c.events = make(chan Event, n)
	peers := make([]int, n)
	handles := map[uint64]bool{}
	before := runtime.NumGoroutine()
	for i := range n {
		cl, sv := pair(t, e, c, unix.AF_UNIX)
		cl.Control(func(fd int) error { peers[i] = fd; return nil })
		r := sv.Recv(bg, c, 1, 0, mode)
		if r.Err != nil || r.Select == nil {
			t.Fatalf("recv %d: %+v", i, r)
		}
		handles[r.Select.Handle] = true
	}
	if len(handles) != n {
		t.Fatalf("%d distinct handles for %d recvs", len(handles), n)
	}
	if grown := runtime.NumGoroutine() - before; grown > 50 {
		t.Fatalf("%d pending recvs added %d goroutines", n, grown)
	}
	// On one P the loops cannot run while the writes go on, so that they
	// find far more ready sockets than one epoll_wait returns (256).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, fd := range peers {
		if _, err := unix.Write(fd, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	want := EventSelect
	if mode.Completion {
		want = EventCompletion
	}
	deadline := time.After(30 * time.Second)
	for len(handles) > 0 {
		select {
		case ev := <-c.events:
			if ev.Kind != want || !handles[ev.Handle] {
				t.Fatalf("unexpected event kind %d handle %d", ev.Kind, ev.Handle)
			}
			if want == EventCompletion && (ev.Completion.Recv == nil || string(ev.Completion.Recv.Data) != "x") {
				t.Fatalf("completion of %d: %+v", ev.Handle, ev.Completion)
			}
			delete(handles, ev.Handle)
		case <-deadline:
			t.Fatalf("%d of %d events never came", len(handles), n)
		}
	}
}
