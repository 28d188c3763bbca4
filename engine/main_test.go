package engine

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if goroutines or file descriptors leak: every
// engine the tests start is closed, and so must be every fd they open.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(fdCheckingM{m})
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
