package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
)

// connLimit bounds the client connections open at once, over all the
// daemon's listeners. Each takes a descriptor from the same limit as the
// clients' sockets: unbounded, idle connections alone (20,000 of them,
// with no call made) took every descriptor, so that sockets failed with
// emfile and new clients could not connect.
type connLimit struct {
	max     int64
	open    atomic.Int64
	refused atomic.Int64
	log     *slog.Logger
}

// listener caps l's connections: one past the limit is closed as soon as it
// is accepted, and its client sees its connection end.
func (cl *connLimit) listener(l net.Listener) net.Listener {
	return &cappedListener{Listener: l, limit: cl}
}

type cappedListener struct {
	net.Listener
	limit *connLimit
}

func (l *cappedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.limit.take() {
			return &cappedConn{Conn: c, release: l.limit.release}, nil
		}
		c.Close()
	}
}

// take counts a new connection, unless the limit is reached; the first
// refusal of a run of them is logged at warn level, the rest at debug.
func (cl *connLimit) take() bool {
	if cl.open.Add(1) <= cl.max {
		cl.refused.Store(0)
		return true
	}
	cl.open.Add(-1)
	level := slog.LevelDebug
	if cl.refused.Add(1) == 1 {
		level = slog.LevelWarn
	}
	cl.log.Log(context.Background(), level, "client connection refused: --max-connections reached", "max_connections", cl.max)
	return false
}

func (cl *connLimit) release() { cl.open.Add(-1) }

// cappedConn gives its place back when it closes (once, however often gRPC
// closes it).
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// SyscallConn reaches the descriptor, for the peer's credentials
// (SO_PEERCRED) of a unix connection.
func (c *cappedConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

// connectionBudget is how many client connections may be open at once
// when --max-connections does not say: the descriptors the socket cap
// leaves (see socketBudget), less 64 for the listeners, the engine's epoll
// and wakeup descriptors, metrics and pprof. 1024 when the limit is not
// known.
func connectionBudget(limit, maxSockets int) int {
	if limit <= 0 || maxSockets <= 0 {
		return 1024
	}
	return max(limit-maxSockets-64, 16)
}
