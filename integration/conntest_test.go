package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
	"golang.org/x/net/nettest"
)

// TestConnConformance runs golang.org/x/net/nettest's net.Conn suite
// (basic and racy I/O, past, present and future deadlines, Close unblocking
// a pending call, every method at once) on a pair of client.Conns whose
// sockets both live in the daemon: a Listener's accepted socket and a
// socket dialled to it.
func TestConnConformance(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		l, err := s.ListenTCP(ctx, "tcp", "127.0.0.1:0", 1)
		if err != nil {
			return nil, nil, nil, err
		}
		defer l.Close()
		accepted := make(chan net.Conn, 1)
		failed := make(chan error, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				failed <- err
				return
			}
			accepted <- c
		}()
		c1, err = s.Dial(ctx, "tcp", l.Addr().String())
		if err != nil {
			return nil, nil, nil, err
		}
		select {
		case c2 = <-accepted:
		case err = <-failed:
			c1.Close()
			return nil, nil, nil, err
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

// An empty Read returns at once with 0, nil, as package net's does, rather
// than wait for data; after Close it fails with net.ErrClosed.
func TestConnEmptyRead(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	l := tcpListener(t)
	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	c, err := s.Dial(ctx, "tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	read := goCall(func() error {
		n, err := c.Read(nil)
		if n != 0 || err != nil {
			return fmt.Errorf("empty read: %d, %v; want 0, nil", n, err)
		}
		return nil
	})
	select {
	case err := <-read:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(eventWait):
		t.Fatal("an empty read waits for data")
	}
	c.Close()
	if _, err := c.Read(nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("empty read after Close: %v, want net.ErrClosed", err)
	}
}

// After CloseWrite a Write fails with epipe, as after shutdown(2), and the
// read side goes on: the peer's reply, then end of data.
func TestConnWriteAfterCloseWrite(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	l := tcpListener(t)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(io.Discard, c) // until the half-close
		c.Write([]byte("reply"))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	c, err := s.Dial(ctx, "tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Write([]byte("more")); n != 0 || !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write after CloseWrite: %d, %v; want 0, epipe", n, err)
	}
	c.SetReadDeadline(time.Now().Add(eventWait))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "reply" {
		t.Fatalf("read after CloseWrite: %q, %v; want \"reply\" and end of data", got, err)
	}
}

// Bytes written after the peer has gone are reported lost: by the Write,
// the CloseWrite, or, when both had handed them over already, by Close.
// (A reviewer's sockctl nc exited 0 with its last input refused with
// epipe: nothing had told it.)
func TestConnReportsWritesThePeerRefused(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	l := tcpListener(t)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("bye"))
		c.Close() // gone: what comes next is answered with a reset
	}()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	c, err := s.Dial(ctx, "tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(c); err != nil || string(got) != "bye" {
		t.Fatalf("read %q, %v", got, err)
	}
	var reported []error
	note := func(err error) {
		if err != nil {
			reported = append(reported, err)
		}
	}
	_, err = c.Write([]byte("late")) // the peer's kernel resets the connection
	note(err)
	time.Sleep(200 * time.Millisecond)
	_, err = c.Write([]byte("later")) // the daemon's send fails
	note(err)
	note(c.CloseWrite())
	note(c.Close())
	var se *client.SocketError
	if len(reported) == 0 || !errors.As(reported[0], &se) {
		t.Fatalf("writes lost to a peer that went away reported %v, want a socket error", reported)
	}
}

// A socket error a Read has returned is not Close's to repeat, as package
// net's Close does not (a reviewer's Close after CloseWrite answered the
// econnreset its Read had returned).
func TestConnCloseDoesNotRepeatAReadError(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	l := tcpListener(t)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c) // until the half-close
		c.Write([]byte("bye"))
		c.(*net.TCPConn).SetLinger(0)
		c.Close() // a reset
	}()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	c, err := s.Dial(ctx, "tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("request"))
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(callTimeout))
	var se *client.SocketError
	if got, err := io.ReadAll(c); string(got) != "bye" || !errors.As(err, &se) {
		t.Fatalf("read %q, %v; want bye and the reset", got, err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close after the Read returned the reset: %v, want nil", err)
	}
}

// After CloseRead, as after a *net.TCPConn's, Read returns what had arrived
// and then end of data, and the Conn still writes.
func TestConnCloseRead(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	l := tcpListener(t)
	peerGot := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(peerGot)
			return
		}
		defer c.Close()
		c.Write([]byte("before"))
		buf := make([]byte, 5)
		io.ReadFull(c, buf)
		peerGot <- string(buf)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	c, err := s.Dial(ctx, "tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var _ interface{ CloseRead() error } = c
	buf := make([]byte, 6)
	c.SetReadDeadline(time.Now().Add(callTimeout))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "before" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if err := c.CloseRead(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read after CloseRead: %d, %v; want end of data", n, err)
	}
	if _, err := c.Write([]byte("after")); err != nil {
		t.Fatalf("write after CloseRead: %v", err)
	}
	if got := await(t, "the peer's read", peerGot); got != "after" {
		t.Fatalf("the peer read %q, want \"after\"", got)
	}
	c.Close()
	if err := c.CloseRead(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("CloseRead after Close: %v, want net.ErrClosed", err)
	}
}

// When its session ends, the calls blocked in a session's adapters return
// errors that match net.ErrClosed, as a closed connection's in package net,
// and closing them afterwards succeeds: their sockets are closed already.
func TestAdaptersWhenTheSessionEnds(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	l, err := s.ListenTCP(ctx, "tcp", "127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := s.ListenPacket(ctx, "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peers := tcpListener(t)
	go func() {
		if p, err := peers.Accept(); err == nil {
			defer p.Close()
			io.Copy(io.Discard, p)
		}
	}()
	conn, err := s.Dial(ctx, "tcp4", peers.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	blocked := []<-chan error{
		goCall(func() error { _, err := l.Accept(); return err }),
		goCall(func() error { _, _, err := pc.ReadFrom(make([]byte, 10)); return err }),
		goCall(func() error { _, err := conn.Read(make([]byte, 10)); return err }),
	}
	time.Sleep(100 * time.Millisecond) // all three wait in the daemon
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for i, done := range blocked {
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("call %d after the session ended: %v, want net.ErrClosed", i, err)
			}
			// Networks as the caller named them, as package net reports.
			if op := (*net.OpError)(nil); !errors.As(err, &op) || op.Net != []string{"tcp", "udp4", "tcp4"}[i] {
				t.Errorf("call %d: %#v, want a *net.OpError of network %s", i, err, []string{"tcp", "udp4", "tcp4"}[i])
			}
		case <-time.After(eventWait):
			t.Fatalf("call %d still blocked after the session ended", i)
		}
	}
	for i, closer := range []io.Closer{l, pc, conn} {
		if err := closer.Close(); err != nil {
			t.Errorf("close %d after the session ended: %v", i, err)
		}
	}
}
