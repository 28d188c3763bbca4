package engine

import (
	"io"
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The two benchmarks measure, in one run, a recv of 64 bytes already there
// through the engine (lane, lock, counters) against the bare syscall. Both
// read from a backlog a bare write(2) refills every 1024 reads, as
// bench/recvbench's feeders keep its sockets full: a write per read would
// add an epoll edge, and the loop's wakeup, to each.

// backlogReads is how many 64-byte reads one refill of the backlog feeds.
const backlogReads = 1024

// refill writes the next backlog into peer before every backlogReads-th read.
func refill(b *testing.B, peer, i int, backlog []byte) {
	if i%backlogReads != 0 {
		return
	}
	if _, err := unix.Write(peer, backlog); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkRecvReady(b *testing.B) {
	e := newEngine(b, Config{})
	c := newRecorder("bench")
	cl, sv := pair(b, e, c, unix.AF_UNIX)
	var peer int
	cl.Control(func(fd int) error { peer = fd; return nil })
	msg := make([]byte, 64)
	backlog := make([]byte, backlogReads*len(msg))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		refill(b, peer, i, backlog)
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
	backlog := make([]byte, backlogReads*len(msg))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		refill(b, fds[0], i, backlog)
		buf := make([]byte, len(msg)) // the engine returns a fresh buffer too
		if n, err := unix.Read(fds[1], buf); err != nil || n != len(msg) {
			b.Fatalf("read %d %v", n, err)
		}
	}
}

// The ping-pong benchmarks measure a wait: each side blocks in Recv until
// the other's message arrives, so every round trip is two edges that the
// engine's loop turns into wakeups. The anchor is the same exchange over Go's
// net package, whose waits are the runtime's own poller.

func BenchmarkPingPongEngine(b *testing.B) {
	e := newEngine(b, Config{})
	c := newRecorder("bench")
	cl, sv := pair(b, e, c, unix.AF_UNIX)
	msg := make([]byte, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r := sv.Recv(bg, c, len(msg), 0, infinity)
			if r.Err != nil || len(r.Data) == 0 {
				return
			}
			if w := sv.Send(bg, c, r.Data, 0, infinity); w.Err != nil {
				return
			}
		}
	}()
	for b.Loop() {
		if w := cl.Send(bg, c, msg, 0, infinity); w.Err != nil {
			b.Fatal(w.Err)
		}
		if r := cl.Recv(bg, c, len(msg), 0, infinity); r.Err != nil || len(r.Data) != len(msg) {
			b.Fatalf("recv: %+v", r)
		}
	}
	cl.Shutdown(unix.SHUT_WR)
	<-done
}

func BenchmarkPingPongNet(b *testing.B) {
	l, err := net.Listen("unix", filepath.Join(b.TempDir(), "pp.sock"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		sv, err := l.Accept()
		if err != nil {
			return
		}
		defer sv.Close()
		buf := make([]byte, 64)
		for {
			n, err := sv.Read(buf)
			if err != nil {
				return
			}
			if _, err := sv.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	cl, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	msg := make([]byte, 64)
	for b.Loop() {
		if _, err := cl.Write(msg); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, len(msg)) // the engine returns a fresh buffer too
		if _, err := io.ReadFull(cl, buf); err != nil {
			b.Fatal(err)
		}
	}
}
