package main

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/mem"
)

func TestConnectionBudget(t *testing.T) {
	for _, tt := range []struct{ limit, sockets, want int }{
		{20000, socketBudget(20000), 1936},
		{1024, socketBudget(1024), 192},
		{0, 0, 1024},
		{100, 90, 16},
	} {
		if got := connectionBudget(tt.limit, tt.sockets); got != tt.want {
			t.Errorf("connectionBudget(%d, %d) = %d, want %d", tt.limit, tt.sockets, got, tt.want)
		}
	}
}

// A connection past the limit is closed at once; one closed (twice) gives
// its place back once.
func TestConnLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	raw, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	cl := &connLimit{max: 1, log: slog.New(slog.DiscardHandler)}
	l := cl.listener(raw)
	defer l.Close()
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := dial()
	defer c1.Close()
	s1 := <-accepted
	c2 := dial() // refused: closed by the daemon's side at once
	defer c2.Close()
	if n, err := c2.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a connection past the limit read %d bytes", n)
	}
	s1.Close()
	s1.Close()
	cl.mu.Lock()
	open := cl.open
	cl.mu.Unlock()
	if open != 0 {
		t.Fatalf("%d connections counted after the only one closed", open)
	}
	c3 := dial()
	defer c3.Close()
	(<-accepted).Close()
}

// No peer but an administrator takes the last sixteenth, and no other peer
// more than half of the rest.
func TestConnLimitShares(t *testing.T) {
	cl := &connLimit{max: 32, log: slog.New(slog.DiscardHandler)}
	took := func(peer string, admin bool, n int) (got int) {
		for range n {
			if cl.take(peer, admin) {
				got++
			}
		}
		return got
	}
	if got := took("tcp 127.0.0.1:1", false, 32); got != 15 {
		t.Errorf("one TCP listener's clients took %d places of 32, want 15", got)
	}
	if got := took("uid 1000", false, 32); got != 15 {
		t.Errorf("a user took %d places of the 17 left, want 15", got)
	}
	if got := took("uid 1001", false, 1); got != 0 {
		t.Errorf("another user took %d of the places kept for administrators", got)
	}
	if got := took("uid 0", true, 3); got != 2 {
		t.Errorf("root took %d places, want the 2 kept", got)
	}
	cl.release("uid 1000", false)
	if got := took("uid 1001", false, 2); got != 1 {
		t.Errorf("another user took %d places, want the one given back", got)
	}
	cl.release("uid 0", true)
	cl.release("uid 0", true)
	if got := took("uid 1001", false, 2); got != 0 {
		t.Errorf("a user took %d of the places administrators gave back", got)
	}
	if got := took("uid 0", true, 3); got != 2 {
		t.Errorf("root took %d places, want the 2 it gave back", got)
	}
}

// A TCP connection keeps the TCP_USER_TIMEOUT gRPC sets only on the
// connections it sees as *net.TCPConn.
func TestConnLimitSetsTCPUserTimeout(t *testing.T) {
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := (&connLimit{max: 4, userTimeout: 10 * time.Second, log: slog.New(slog.DiscardHandler)}).listener(raw)
	defer l.Close()
	c, err := net.Dial("tcp4", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rc, err := s.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var ms int
	rc.Control(func(fd uintptr) { ms, err = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT) })
	if err != nil || ms != 10000 {
		t.Errorf("TCP_USER_TIMEOUT %d ms, %v; want 10000", ms, err)
	}
}

// The clients of a wildcard TCP listener are one peer, whatever local
// address they reached.
func TestConnLimitCountsAListenersClientsTogether(t *testing.T) {
	raw, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &connLimit{max: 4, log: slog.New(slog.DiscardHandler)} // a share of 1
	l := cl.listener(raw)
	defer l.Close()
	port := raw.Addr().(*net.TCPAddr).Port
	served := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			served <- c
		}
	}()
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		c, err := net.Dial("tcp4", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first := <-served
	defer first.Close()
	select {
	case c := <-served:
		c.Close()
		t.Fatal("a second client of the same listener, at another local address, took a place past its share")
	case <-time.After(200 * time.Millisecond):
	}
}

// A counted connection reads as gRPC reads a bare one: a buffer from the
// pool only once bytes are there, io.EOF at the peer's end, the deadline's
// error past it.
func TestCappedConnReadsOnReady(t *testing.T) {
	var _ interface {
		ReadOnReady(int, mem.BufferPool) (*[]byte, int, error)
	} = (*cappedConn)(nil)
	a, b, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := &cappedConn{Conn: a, release: func() {}}
	defer c.Close()
	pool := mem.DefaultBufferPool()
	go b.Write([]byte("hello"))
	buf, n, err := c.ReadOnReady(64, pool)
	if err != nil || string((*buf)[:n]) != "hello" {
		t.Fatalf("ReadOnReady: %q, %v", (*buf)[:n], err)
	}
	pool.Put(buf)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, _, err := c.ReadOnReady(64, pool); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadOnReady past its deadline: %v", err)
	}
	c.SetReadDeadline(time.Time{})
	b.Close()
	if _, _, err := c.ReadOnReady(64, pool); err != io.EOF {
		t.Fatalf("ReadOnReady at the peer's end: %v, want io.EOF", err)
	}
}

// What the peer wrote before its Write is seen after ReadOnReady returns its
// bytes, as after a net.Conn's Read: under -race, unix.Read gave no such
// edge and an in-process peer's test reported a race (a reviewer).
func TestCappedConnReadOnReadyHappensAfterTheWrite(t *testing.T) {
	a, b, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c := &cappedConn{Conn: a, release: func() {}}
	defer c.Close()
	written := 0
	go func() {
		written = 42
		b.Write([]byte("x"))
	}()
	pool := mem.DefaultBufferPool()
	buf, n, err := c.ReadOnReady(64, pool)
	if err != nil || n != 1 {
		t.Fatalf("ReadOnReady: %d, %v", n, err)
	}
	pool.Put(buf)
	if written != 42 {
		t.Fatal("the write before the peer's Write is not seen")
	}
}

// socketPair is a connected pair of unix stream connections.
func socketPair() (net.Conn, net.Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		conns[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	return conns[0], conns[1], nil
}
