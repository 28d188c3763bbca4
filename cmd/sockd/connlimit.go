package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/mem"
)

// connLimit bounds the client connections open at once, over all the
// daemon's listeners. Each takes a descriptor from the same limit as the
// clients' sockets: unbounded, idle connections alone (20,000 of them,
// with no call made) took every descriptor, so that sockets failed with
// emfile and new clients could not connect.
//
// So that no client can take every place either: a sixteenth of them (at
// least one) is kept for administrators (root and the daemon's own user on
// a unix listener), and any other peer (a uid on a unix listener; all of a
// TCP or TLS listener's clients, counted before any handshake could name
// them) holds at most half of the rest.
type connLimit struct {
	max         int
	userTimeout time.Duration // TCP_USER_TIMEOUT of TCP connections (gRPC's own setting misses wrapped ones)
	log         *slog.Logger

	mu     sync.Mutex
	open   int            // all connections
	others int            // connections of peers that are not administrators
	byPeer map[string]int // per peer that is not an administrator
	warned time.Time      // when a refusal was last logged at warn level
}

// reserve is the places kept for administrators; share the most one other
// peer may hold.
func (cl *connLimit) reserve() int { return max(cl.max/16, 1) }
func (cl *connLimit) share() int   { return max((cl.max-cl.reserve())/2, 1) }

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
		peer, admin := peerOf(c, l.Listener.Addr())
		if !l.limit.take(peer, admin) {
			c.Close()
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok && l.limit.userTimeout > 0 {
			setUserTimeout(tc, l.limit.userTimeout)
		}
		return &cappedConn{Conn: c, release: func() { l.limit.release(peer, admin) }}, nil
	}
}

// peerOf names the peer a connection of the listener at addr counts for:
// its uid on a unix listener (SO_PEERCRED), whether an administrator, or
// the listener: its TCP and TLS clients are one peer (whatever local
// address of a wildcard listener they reached), since a TLS client's name
// is known only after a handshake the cap must not wait for.
func peerOf(c net.Conn, addr net.Addr) (peer string, admin bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return addr.Network() + " " + addr.String(), false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return "unix ?", false
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) { cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if cred == nil {
		return "unix ?", false
	}
	uid := int(cred.Uid)
	return "uid " + strconv.Itoa(uid), uid == 0 || uid == os.Geteuid()
}

// take counts a new connection of peer, unless the limits refuse it.
func (cl *connLimit) take(peer string, admin bool) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	switch {
	case cl.open >= cl.max:
	case !admin && cl.others >= cl.max-cl.reserve():
	case !admin && cl.byPeer[peer] >= cl.share():
	default:
		cl.open++
		if !admin {
			cl.others++
			if cl.byPeer == nil {
				cl.byPeer = map[string]int{}
			}
			cl.byPeer[peer]++
		}
		return true
	}
	level := slog.LevelDebug
	if now := time.Now(); now.Sub(cl.warned) > time.Minute {
		level, cl.warned = slog.LevelWarn, now
	}
	cl.log.Log(context.Background(), level, "client connection refused: --max-connections reached",
		"peer", peer, "max_connections", cl.max, "open", cl.open, "of_peer", cl.byPeer[peer])
	return false
}

func (cl *connLimit) release(peer string, admin bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.open--
	if !admin {
		cl.others--
		if cl.byPeer[peer]--; cl.byPeer[peer] <= 0 {
			delete(cl.byPeer, peer)
		}
	}
}

// setUserTimeout sets TCP_USER_TIMEOUT, as gRPC does for the connections
// it sees as *net.TCPConn: sent data unacknowledged that long ends the
// connection.
func setUserTimeout(c *net.TCPConn, d time.Duration) {
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d/time.Millisecond))
		})
	}
}

// cappedConn gives its place back when it closes (once, however often gRPC
// closes it).
type cappedConn struct {
	net.Conn
	once    sync.Once
	release func()
	ready   readyReader
}

// readyReader is ReadOnReady's state, made at its first call and kept, so
// that a read allocates nothing (gRPC's reader of bare connections does the
// same). gRPC reads a connection from one goroutine.
type readyReader struct {
	raw  syscall.RawConn
	read func(fd uintptr) bool // reads into buf; false: not yet readable

	bufSize int
	pool    mem.BufferPool
	buf     *[]byte
	n       int
	err     error
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ReadOnReady reads as gRPC reads a bare *net.TCPConn or *net.UnixConn (it
// looks for this method on the connections it does not know, and so does
// inflight.Conn, which reads for it on the daemon's): a buffer is taken
// from pool only once the socket has bytes, so an idle connection pins
// none. Without it each connection has a read buffer of its own for its
// life (128 KiB: 3,000 idle connections held 415 MB; 1,000 idle ones 140
// MB of heap where they now hold 11 MB).
func (c *cappedConn) ReadOnReady(bufSize int, pool mem.BufferPool) (*[]byte, int, error) {
	r := &c.ready
	if r.raw == nil {
		sc, ok := c.Conn.(syscall.Conn)
		if !ok {
			buf := pool.Get(bufSize)
			n, err := c.Conn.Read(*buf)
			if err != nil {
				pool.Put(buf)
				return nil, 0, err
			}
			return buf, n, nil
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return nil, 0, err
		}
		r.raw = raw
		r.read = func(fd uintptr) bool {
			r.buf = r.pool.Get(r.bufSize)
			// syscall's Read, as gRPC's own reader's: the race detector
			// sees a write to the peer happen before it (through
			// syscall's I/O annotation, which x/sys/unix's is not).
			r.n, r.err = syscall.Read(int(fd), *r.buf)
			if r.err != nil {
				r.pool.Put(r.buf)
				r.buf = nil
			}
			return r.err != syscall.EAGAIN
		}
	}
	r.bufSize, r.pool = bufSize, pool
	err := r.raw.Read(r.read)
	buf, n, readErr := r.buf, r.n, r.err
	*r = readyReader{raw: r.raw, read: r.read}
	switch {
	case err != nil: // closed, or past a deadline
		if buf != nil {
			pool.Put(buf)
		}
		return nil, 0, err
	case readErr != nil:
		return nil, 0, readErr
	case n == 0:
		pool.Put(buf)
		return nil, 0, io.EOF
	}
	return buf, n, nil
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
// and wakeup descriptors, metrics and pprof (serveHTTP). 1024 when the limit is not
// known.
func connectionBudget(limit, maxSockets int) int {
	if limit <= 0 || maxSockets <= 0 {
		return 1024
	}
	return max(limit-maxSockets-64, 16)
}
