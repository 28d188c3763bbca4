package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

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
