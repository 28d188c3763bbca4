package integration

import (
	"context"
	"net"
	"testing"

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
