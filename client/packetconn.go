package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// PacketConn is a net.PacketConn over a datagram socket that lives in the
// daemon. Every ReadFrom and WriteTo is a RecvFrom or SendTo call (a
// ReadFrom may take the answer of one an earlier ReadFrom stopped waiting
// for); a deadline becomes the call's timeout.
type PacketConn struct {
	sess    *Session
	id      string
	network string
	local   net.Addr

	mu                          sync.Mutex
	readDeadline, writeDeadline movingDeadline
	// reads are the RecvFroms in flight or answered whose answers no
	// ReadFrom has taken yet.
	reads  []*readCall
	closed chan struct{}
	// closing ends the calls in flight when the conn closes.
	closing       context.Context
	cancelClosing context.CancelFunc
	once          sync.Once
	unkeep        func() // ends the session's keeper's work for it
}

// movingDeadline is a read or write deadline with a context that is
// cancelled, and replaced, whenever the deadline moves earlier (or is set
// where there was none): a ReadFrom or WriteTo waiting under the old one
// then looks again, as net's calls see deadline changes. One moved later or
// cleared needs no wake-up: the call times out at the old one and goes on.
type movingDeadline struct {
	at     time.Time
	moved  context.Context
	cancel context.CancelFunc
}

func newMovingDeadline() movingDeadline {
	moved, cancel := context.WithCancel(context.Background())
	return movingDeadline{moved: moved, cancel: cancel}
}

func (d *movingDeadline) set(t time.Time) {
	old := d.at
	d.at = t
	if !t.IsZero() && (old.IsZero() || t.Before(old)) {
		d.cancel()
		d.moved, d.cancel = context.WithCancel(context.Background())
	}
}

func (d *movingDeadline) passed() bool { return !d.at.IsZero() && !time.Now().Before(d.at) }

// call is a RecvFrom or SendTo in flight for a PacketConn, on a goroutine
// of its own, so that a ReadFrom or WriteTo can stop waiting for it (its
// deadline came, or moved earlier) without cancelling it: a datagram the
// daemon has read is then not lost, and one it is sending not sent twice.
type call[R any] struct {
	done     chan struct{}
	deadline time.Time // the deadline its timeout came from; zero for none
	start    time.Time
	cancel   context.CancelFunc
	resp     R
	err      error // resp and err are set when done is closed
}

func startCall[R any](parent context.Context, deadline time.Time, f func(context.Context) (R, error)) *call[R] {
	ctx, cancel := context.WithCancel(parent)
	c := &call[R]{done: make(chan struct{}), deadline: deadline, start: time.Now(), cancel: cancel}
	go func() {
		defer close(c.done)
		defer cancel()
		c.resp, c.err = f(ctx)
	}()
	return c
}

// await waits for c to answer, or for deadline to come (when it is earlier
// than the one c's timeout came from) or move earlier (moved is
// cancelled): true when c answered.
func (c *call[R]) await(deadline time.Time, moved context.Context) bool {
	var expired <-chan time.Time
	if !deadline.IsZero() && (c.deadline.IsZero() || deadline.Before(c.deadline)) {
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case <-c.done:
		return true
	case <-moved.Done():
	case <-expired:
	}
	return false
}

// readCall is a RecvFrom for ReadFrom. One a ReadFrom stopped waiting for
// is left for the next ReadFrom, which takes its datagram.
type readCall struct {
	*call[*sockdv1.RecvFromResponse]
	waiting bool // a ReadFrom waits for it; under PacketConn.mu
}

// ListenPacket opens a datagram socket in the daemon bound to address:
// network "udp", "udp4" or "udp6" with an IP literal (or none, for the
// unspecified address) and port, or "unixgram" with a path (an abstract name
// written "@name", as package net writes it). As package net's, a udp6
// socket takes IPv6 only, a udp one on ":port" or "[::]:port" both
// families (on ":port" IPv4 only, when the daemon's host has no IPv6).
func (s *Session) ListenPacket(ctx context.Context, network, address string) (*PacketConn, error) {
	addr, domain, protocol, err := packetAddr(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	if both := dualStack(network, address); both != nil {
		if p, err := s.listenPacket(ctx, network, both, Inet6, protocol); err == nil || !noIPv6(err) {
			return p, err
		}
	}
	return s.listenPacket(ctx, network, addr, domain, protocol)
}

// listenPacket is ListenPacket of a parsed address.
func (s *Session) listenPacket(ctx context.Context, network string, addr *sockdv1.SockAddr, domain Domain, protocol Protocol) (*PacketConn, error) {
	open, err := s.Open(ctx, domain, Dgram, protocol, OpenOpts{})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	id := open.GetSocketId()
	if domain == Inet6 {
		err = s.setV6Only(ctx, id, network)
	}
	if err == nil {
		_, err = s.Bind(ctx, id, addr)
	}
	var p *PacketConn
	if err == nil {
		p, err = s.NewPacketConn(ctx, network, id)
	}
	if err != nil {
		s.CloseSocket(context.WithoutCancel(ctx), id)
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return p, nil
}

// NewPacketConn binds a PacketConn to the datagram socket id, which the
// session must be able to use. network names the socket's kind in errors
// and addresses: "udp", "udp4", "udp6" or "unixgram".
func (s *Session) NewPacketConn(ctx context.Context, network, id string) (*PacketConn, error) {
	name, err := s.SockName(ctx, id)
	if err != nil {
		return nil, err
	}
	p := &PacketConn{sess: s, id: id, network: network, local: NetAddr(network, name.GetAddress()), closed: make(chan struct{}),
		readDeadline: newMovingDeadline(), writeDeadline: newMovingDeadline()}
	p.closing, p.cancelClosing = context.WithCancel(context.Background())
	p.unkeep = s.keepFor(id)
	return p, nil
}

// packetAddr is address for network, and what to open for it.
func packetAddr(network, address string) (*sockdv1.SockAddr, Domain, Protocol, error) {
	switch network {
	case "udp", "udp4", "udp6":
		sa, d, err := inetSockAddr(network, address)
		return sa, d, UDP, err
	case "unixgram":
		sa, err := unixSockAddr(address)
		return sa, Local, DefaultProtocol, err
	}
	return nil, Domain{}, Protocol{}, net.UnknownNetworkError(network)
}

// maxDatagram is the largest UDP datagram: a larger buffer reads no more.
// A local datagram may be larger, up to what the daemon lets one read ask
// for (maxRead).
const (
	maxDatagram = 1<<16 - 1
	maxRead     = 4<<20 - 256<<10
)

// readSize is what a RecvFrom for a ReadFrom into a buffer of size bytes
// asks for: the buffer's size, up to the largest datagram it could read.
func readSize(network string, size int) int {
	if network == "unixgram" {
		return min(size, maxRead)
	}
	return min(size, maxDatagram)
}

// errMissingAddress is WriteTo's error for a nil address, as net's.
var errMissingAddress = errors.New("missing address")

// SocketID is the daemon socket behind the PacketConn.
func (p *PacketConn) SocketID() string { return p.id }

// ReadFrom implements net.PacketConn. A datagram longer than b is truncated.
// A deadline moved earlier while it waits takes effect at once, and no
// datagram is lost to it: the call it cut short stays in flight, and the
// next ReadFrom takes its datagram, cut to the smaller of the two buffers
// (package net's would fill the second whole). Each waiting call asks for
// its buffer's size, which the daemon counts among the principal's bytes
// while it waits: asking for whole datagrams, a reviewer's 100 PacketConns
// reading into 1500 bytes each passed a 4 MiB bound.
// A daemon out of reach is waited for, as Listener.Accept waits, for as long
// as the session's grace keeps the socket there.
func (p *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	outage := newOutage(p.sess.graceOrDefault())
	for {
		p.mu.Lock()
		deadline, moved := p.readDeadline.at, p.readDeadline.moved // a move after this cancels moved
		t, err := p.timeout(deadline, "read")
		var c *readCall
		if err == nil {
			c = p.readCallFor(len(b), t, deadline)
			c.waiting = true
		}
		p.mu.Unlock()
		if err != nil {
			return 0, nil, err
		}
		answered := c.await(deadline, moved)
		p.mu.Lock()
		c.waiting = false
		if answered {
			p.reads = slices.DeleteFunc(p.reads, func(r *readCall) bool { return r == c })
		}
		p.mu.Unlock()
		if !answered {
			continue // the deadline came or moved earlier, or the conn closed: the next round says which
		}
		switch err := c.err; {
		case err != nil && p.isClosed():
			return 0, nil, p.opError("read", nil, net.ErrClosed)
		case outOfReach(err) && p.waitOut(outage, moved, deadline, c.start):
			continue // the daemon is back, or the deadline has come: the next round says which
		case errors.Is(err, ErrTimeout) && !p.readDeadlinePassed():
			continue // moved later or cleared while it waited
		case err != nil:
			return 0, nil, p.opError("read", nil, err)
		}
		n := copy(b, c.resp.GetData())
		return n, NetAddr(p.network, c.resp.GetSource()), nil
	}
}

// readCallFor is the read a ReadFrom into size bytes waits for: one that
// another ReadFrom stopped waiting for (one that has answered first), else
// a new one. p.mu must be held.
func (p *PacketConn) readCallFor(size int, t Timeout, deadline time.Time) *readCall {
	var left *readCall
	for _, c := range p.reads {
		switch {
		case c.waiting:
		case isClosed(c.done):
			return c
		case left == nil:
			left = c
		}
	}
	if left != nil {
		return left
	}
	size = readSize(p.network, size)
	c := &readCall{call: startCall(p.closing, deadline, func(ctx context.Context) (*sockdv1.RecvFromResponse, error) {
		return p.sess.RecvFrom(ctx, p.id, int64(size), t)
	})}
	p.reads = append(p.reads, c)
	return c
}

// waitOut is outage.waitOut for a read begun at start, ended also by the
// read's deadline, if set, or its move: true when the read should go on
// (the daemon may be back, or the deadline has passed or moved, which the
// next round answers).
func (p *PacketConn) waitOut(outage *outage, moved context.Context, deadline, start time.Time) bool {
	ctx := moved
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(moved, deadline)
		defer cancel()
	}
	return outage.waitOut(ctx, p.sess.client, start) || ctx.Err() != nil
}

// readDeadlinePassed reports whether the read deadline is set and past.
func (p *PacketConn) readDeadlinePassed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readDeadline.passed()
}

// WriteTo implements net.PacketConn. A deadline moved while it waits takes
// effect at once. When the deadline comes, the call is cancelled, and its
// answer says whether the datagram went, but for the instant the daemon
// sends it as the cancel arrives: WriteTo then reports a timeout for a
// datagram that went.
func (p *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if addr == nil {
		return 0, p.opError("write", nil, errMissingAddress)
	}
	dest, err := p.destination(addr)
	if err != nil {
		return 0, p.opError("write", addr, err)
	}
	for {
		p.mu.Lock()
		deadline, moved := p.writeDeadline.at, p.writeDeadline.moved
		t, err := p.timeout(deadline, "write")
		p.mu.Unlock()
		if err != nil {
			return 0, err
		}
		c := startCall(p.closing, deadline, func(ctx context.Context) (*sockdv1.SendToResponse, error) {
			return p.sess.SendTo(ctx, p.id, b, dest, t)
		})
		cut := false
		for !cut && !c.await(deadline, moved) {
			p.mu.Lock()
			deadline, moved = p.writeDeadline.at, p.writeDeadline.moved
			cut = p.writeDeadline.passed() || p.isClosed()
			p.mu.Unlock()
			if cut {
				c.cancel()
				<-c.done
			}
		}
		n := int(c.resp.GetBytesSent())
		switch err := c.err; {
		case err != nil && p.isClosed():
			return n, p.opError("write", addr, net.ErrClosed)
		case err != nil && cut:
			return n, p.opError("write", addr, os.ErrDeadlineExceeded)
		case errors.Is(err, ErrTimeout) && !p.writeDeadlinePassed():
			continue // moved later or cleared while it waited; a datagram that timed out was not sent
		case err != nil:
			return n, p.opError("write", addr, err)
		}
		return n, nil
	}
}

// writeDeadlinePassed reports whether the write deadline is set and past.
func (p *PacketConn) writeDeadlinePassed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writeDeadline.passed()
}

// destination is addr as the socket's family takes it: an IPv4 address to
// an IPv6 socket (which receives from IPv4 peers as well) is sent to as
// its IPv4-mapped IPv6 address, so that a reply reaches any peer ReadFrom
// reported.
func (p *PacketConn) destination(addr net.Addr) (*sockdv1.SockAddr, error) {
	// An address of another kind is refused, as package net refuses it
	// (EINVAL): its String would parse as something else (a UDP address as
	// a relative unix path).
	if p.network == "unixgram" {
		if _, err := addrOfKind[*net.UnixAddr](addr); err != nil {
			return nil, err
		}
		return unixSockAddr(addr.String())
	}
	if _, err := addrOfKind[*net.UDPAddr](addr); err != nil {
		return nil, err
	}
	local, ok := p.local.(*net.UDPAddr)
	if !ok || local.IP.To4() != nil {
		dest, _, err := inetSockAddr(p.network, addr.String())
		return dest, err
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return nil, fmt.Errorf("address %q: want an IP literal and a port: %w", addr, err)
	}
	ip := ap.Addr()
	if ip.Is4() {
		ip = netip.AddrFrom16(ip.As16())
	}
	return inet6SockAddr(ip, ap.Port())
}

// addrOfKind is addr as the address kind A a PacketConn's network takes:
// EINVAL for another kind, a missing address for a nil one.
func addrOfKind[A interface{ *net.UnixAddr | *net.UDPAddr }](addr net.Addr) (A, error) {
	var none A
	switch a, ok := addr.(A); {
	case !ok:
		return none, fmt.Errorf("address %v: a %T, want a %T: %w", addr, addr, none, syscall.EINVAL)
	case a == none:
		return none, errMissingAddress
	default:
		return a, nil
	}
}

// timeout turns deadline into the call's Timeout, failing at once when it
// has passed or the conn is closed.
func (p *PacketConn) timeout(deadline time.Time, op string) (Timeout, error) {
	select {
	case <-p.closed:
		return Timeout{}, p.opError(op, nil, net.ErrClosed)
	default:
	}
	if deadline.IsZero() {
		return Infinity, nil
	}
	left := time.Until(deadline)
	if left <= 0 {
		return Timeout{}, p.opError(op, nil, os.ErrDeadlineExceeded)
	}
	// A deadline past what one call may wait (2^32-1 ms, some 50 days) is
	// waited for a call at a time: a call that times out before it starts
	// again.
	return Millis(min(max(left.Milliseconds(), 1), math.MaxUint32)), nil
}

// Close implements net.PacketConn: it closes the daemon socket, which ends
// any call waiting on it.
func (p *PacketConn) Close() error {
	err := net.ErrClosed
	p.once.Do(func() {
		close(p.closed)
		p.mu.Lock()
		// Ends waiting calls even if the daemon cannot be reached.
		p.readDeadline.cancel()
		p.writeDeadline.cancel()
		p.mu.Unlock()
		p.cancelClosing()
		if p.unkeep != nil { // nil in a PacketConn made by hand, in tests
			p.unkeep()
		}
		_, err = p.sess.closeWithPrompt(func() error { return p.sess.closeSocket(p.id) })
	})
	if err != nil {
		return p.opError("close", nil, err)
	}
	return nil
}

// LocalAddr implements net.PacketConn.
func (p *PacketConn) LocalAddr() net.Addr { return p.local }

// SetDeadline implements net.PacketConn.
func (p *PacketConn) SetDeadline(t time.Time) error {
	if p.isClosed() {
		return p.opError("set", nil, net.ErrClosed)
	}
	p.mu.Lock()
	p.readDeadline.set(t)
	p.writeDeadline.set(t)
	p.mu.Unlock()
	return nil
}

// SetReadDeadline implements net.PacketConn.
func (p *PacketConn) SetReadDeadline(t time.Time) error {
	if p.isClosed() {
		return p.opError("set", nil, net.ErrClosed)
	}
	p.mu.Lock()
	p.readDeadline.set(t)
	p.mu.Unlock()
	return nil
}

func (p *PacketConn) isClosed() bool {
	select {
	case <-p.closed:
		return true
	default:
		return false
	}
}

// SetWriteDeadline implements net.PacketConn.
func (p *PacketConn) SetWriteDeadline(t time.Time) error {
	if p.isClosed() {
		return p.opError("set", nil, net.ErrClosed)
	}
	p.mu.Lock()
	p.writeDeadline.set(t)
	p.mu.Unlock()
	return nil
}

// opError wraps err; a timeout socket error becomes os.ErrDeadlineExceeded,
// and a socket gone matches net.ErrClosed, as the net package reports them.
func (p *PacketConn) opError(op string, addr net.Addr, err error) error {
	if errors.Is(err, ErrTimeout) {
		err = os.ErrDeadlineExceeded
	}
	err = p.sess.adapterError(err)
	return &net.OpError{Op: op, Net: p.network, Source: p.local, Addr: addr, Err: err}
}
