// Package leakcheck is the TestMain of sockd's packages: a test run fails if
// it leaves goroutines running (goleak) or file descriptors open, since the
// daemon must close every socket's fd exactly once and end every goroutine
// it starts.
package leakcheck

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Main runs m's tests, then fails the run if goroutines or fds leaked.
// Call it from TestMain: func TestMain(m *testing.M) { leakcheck.Main(m) }.
func Main(m *testing.M, opts ...goleak.Option) {
	goleak.VerifyTestMain(fdCheckingM{m}, opts...)
}

type fdCheckingM struct{ m *testing.M }

func (f fdCheckingM) Run() int {
	startRuntimePoller()
	before := countFDs()
	code := f.m.Run()
	if after := countFDs(); code == 0 && after != before {
		fmt.Fprintf(os.Stderr, "fd leak: %d open before the tests, %d after\n", before, after)
		return 1
	}
	return code
}

func countFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		panic(err)
	}
	return len(entries)
}

// startRuntimePoller makes the Go runtime create its own epoll and eventfd
// now (a pipe is pollable), so they are not mistaken for a leak later.
func startRuntimePoller() {
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	r.Close()
	w.Close()
}
