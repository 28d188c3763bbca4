package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// PacketConn is a net.PacketConn over a datagram socket that lives in the
// daemon. Every ReadFrom and WriteTo is one RecvFrom or SendTo call; a
// deadline becomes the call's timeout.
type PacketConn struct {
	sess    *Session
	id      string
	network string
	local   net.Addr

	mu                          sync.Mutex
	readDeadline, writeDeadline movingDeadline
	// reading is the RecvFrom in flight, if any: the next ReadFrom takes
	// its answer.
	reading *readCall
	closed  chan struct{}
	// closing ends the calls in flight when the conn closes.
	closing       context.Context
	cancelClosing context.CancelFunc
	once          sync.Once
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

// readCall is a RecvFrom in flight for ReadFrom. A deadline moved earlier
// does not cancel it, since the daemon may have taken the datagram off the
// socket by then and a cancelled call's answer is lost: the ReadFrom
// waiting on it returns at the new deadline, and the next ReadFrom takes
// the call's answer.
type readCall struct {
	done     chan struct{}
	deadline time.Time // the deadline its timeout came from; zero for none
	start    time.Time
	resp     *sockdv1.RecvFromResponse
	err      error
}

// ListenPacket opens a datagram socket in the daemon bound to address:
// network "udp", "udp4" or "udp6" with an IP literal and port, or
// "unixgram" with a path (an abstract name written "@name", as package net
// writes it).
func (s *Session) ListenPacket(ctx context.Context, network, address string) (*PacketConn, error) {
	addr, domain, protocol, err := packetAddr(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	open, err := s.Open(ctx, domain, Dgram, protocol, OpenOpts{})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	id := open.GetSocketId()
	_, err = s.Bind(ctx, id, addr)
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

// errMissingAddress is WriteTo's error for a nil address, as net's.
var errMissingAddress = errors.New("missing address")

// SocketID is the daemon socket behind the PacketConn.
func (p *PacketConn) SocketID() string { return p.id }

// ReadFrom implements net.PacketConn. A datagram longer than b is truncated.
// A deadline moved earlier while it waits takes effect at once, and no
// datagram is lost to it: the call it cut short stays in flight, and the
// next ReadFrom takes its datagram (cut to the smaller of the two buffers).
// A daemon out of reach is waited for, as Listener.Accept waits, for as long
// as the session's grace keeps the socket there.
func (p *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	outage := newOutage(p.sess.graceOrDefault())
	for {
		p.mu.Lock()
		deadline, moved := p.readDeadline.at, p.readDeadline.moved // a move after this cancels moved
		t, err := p.timeout(deadline, "read")
		call := p.reading
		if err == nil && call == nil {
			call = p.startRead(len(b), t, deadline)
			p.reading = call
		}
		p.mu.Unlock()
		if err != nil {
			return 0, nil, err
		}
		if !p.awaitRead(call, deadline, moved) {
			continue // the deadline came or moved earlier, or the conn closed: the next round says which
		}
		p.mu.Lock()
		mine := p.reading == call
		if mine {
			p.reading = nil
		}
		p.mu.Unlock()
		err = call.err
		switch {
		case !mine:
			continue // another ReadFrom took its answer
		case err != nil && p.isClosed():
			return 0, nil, p.opError("read", nil, net.ErrClosed)
		case outOfReach(err) && p.waitOut(outage, moved, deadline, call.start):
			continue // the daemon is back, or the deadline has come: the next round says which
		case errors.Is(err, ErrTimeout) && !p.readDeadlinePassed():
			continue // moved later or cleared while it waited
		case err != nil:
			return 0, nil, p.opError("read", nil, err)
		}
		n := copy(b, call.resp.GetData())
		return n, NetAddr(p.network, call.resp.GetSource()), nil
	}
}

// awaitRead waits for call to answer, or for the read deadline to come or
// move: true when call answered.
func (p *PacketConn) awaitRead(call *readCall, deadline time.Time, moved context.Context) bool {
	var expired <-chan time.Time
	if !deadline.IsZero() && (call.deadline.IsZero() || deadline.Before(call.deadline)) {
		// A call begun under a later deadline, or none: the deadline is kept here.
		timer := time.NewTimer(time.Until(deadline))
		defer timer.Stop()
		expired = timer.C
	}
	select {
	case <-call.done:
		return true
	case <-moved.Done():
	case <-expired:
	}
	return false
}

// startRead starts a RecvFrom of up to size bytes with timeout t, which
// deadline gave. Only Close cancels it.
func (p *PacketConn) startRead(size int, t Timeout, deadline time.Time) *readCall {
	if p.network == "unixgram" {
		size = min(size, maxRead)
	} else {
		size = min(size, maxDatagram)
	}
	call := &readCall{done: make(chan struct{}), deadline: deadline, start: time.Now()}
	go func() {
		defer close(call.done)
		call.resp, call.err = p.sess.RecvFrom(p.closing, p.id, int64(size), t)
	}()
	return call
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

// WriteTo implements net.PacketConn. A deadline moved earlier while it waits
// takes effect at once: the call is cancelled, and in the instant the
// daemon sends the datagram as it is cancelled, WriteTo reports a timeout
// for a datagram that went.
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
		moved := p.writeDeadline.moved
		t, err := p.timeout(p.writeDeadline.at, "write")
		p.mu.Unlock()
		if err != nil {
			return 0, err
		}
		resp, err := p.sess.SendTo(moved, p.id, b, dest, t)
		switch {
		case err != nil && moved.Err() != nil:
			continue // the deadline moved earlier, or the conn closed: the next round says which
		case errors.Is(err, ErrTimeout) && !p.writeDeadlinePassed():
			continue // moved later or cleared while it waited; a datagram that timed out was not sent
		case err != nil:
			return int(resp.GetBytesSent()), p.opError("write", addr, err)
		}
		return int(resp.GetBytesSent()), nil
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
	if p.network == "unixgram" {
		return unixSockAddr(addr.String())
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
