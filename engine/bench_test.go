package engine

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The two benchmarks measure, in one run, a recv of data already there
// through the engine (lane, lock, counters, and the epoll loop seeing the
// edge) against the bare syscall. Both write with a bare write(2).

func BenchmarkRecvReady(b *testing.B) {
	e := newEngine(b, Config{})
	c := newRecorder("bench")
	cl, sv := pair(b, e, c, unix.AF_UNIX)
	var peer int
	cl.Control(func(fd int) error { peer = fd; return nil })
	msg := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		unix.Write(peer, msg)
		if r := sv.Recv(bg, c, len(msg), 0, nowait); r.Err != nil || len(r.Data) != len(msg) {
			b.Fatalf("recv: %+v", r)
		}
	}
}

func BenchmarkRecvRawSyscall(b *testing.B) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	msg := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		unix.Write(fds[0], msg)
		buf := make([]byte, len(msg)) // the engine returns a fresh buffer too
		if n, err := unix.Read(fds[1], buf); err != nil || n != len(msg) {
			b.Fatalf("read %d %v", n, err)
		}
	}
}
