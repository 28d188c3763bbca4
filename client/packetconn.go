package client

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// PacketConn is a net.PacketConn over a datagram socket that lives in the
// daemon. Every ReadFrom and WriteTo is one RecvFrom or SendTo call; a
// deadline becomes the call's timeout, so nothing waits in the client.
type PacketConn struct {
	sess    *Session
	id      string
	network string
	local   net.Addr

	mu                          sync.Mutex
	readDeadline, writeDeadline time.Time
	closed                      chan struct{}
	once                        sync.Once
}

// ListenPacket opens a UDP socket in the daemon bound to address (an IP
// literal and port). network is "udp", "udp4" or "udp6".
func (s *Session) ListenPacket(ctx context.Context, network, address string) (*PacketConn, error) {
	addr, domain, err := inetSockAddr(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	open, err := s.Open(ctx, domain, Dgram, UDP, OpenOpts{})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	id := open.GetSocketId()
	_, err = s.Bind(ctx, id, addr)
	var name *sockdv1.SockNameResponse
	if err == nil {
		name, err = s.SockName(ctx, id)
	}
	if err != nil {
		s.CloseSocket(context.WithoutCancel(ctx), id)
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return &PacketConn{sess: s, id: id, network: network, local: NetAddr(network, name.GetAddress()), closed: make(chan struct{})}, nil
}

// errMissingAddress is WriteTo's error for a nil address, as net's.
var errMissingAddress = errors.New("missing address")

// SocketID is the daemon socket behind the PacketConn.
func (p *PacketConn) SocketID() string { return p.id }

// ReadFrom implements net.PacketConn. A datagram longer than b is truncated.
func (p *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	t, err := p.timeout(p.readDeadlineOf, "read")
	if err != nil {
		return 0, nil, err
	}
	resp, err := p.sess.RecvFrom(context.Background(), p.id, int64(len(b)), t)
	if err != nil {
		return 0, nil, p.opError("read", nil, err)
	}
	n := copy(b, resp.GetData())
	return n, NetAddr(p.network, resp.GetSource()), nil
}

// WriteTo implements net.PacketConn.
func (p *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if addr == nil {
		return 0, p.opError("write", nil, errMissingAddress)
	}
	dest, _, err := inetSockAddr(p.network, addr.String())
	if err != nil {
		return 0, p.opError("write", addr, err)
	}
	t, err := p.timeout(p.writeDeadlineOf, "write")
	if err != nil {
		return 0, err
	}
	resp, err := p.sess.SendTo(context.Background(), p.id, b, dest, t)
	if err != nil {
		return int(resp.GetBytesSent()), p.opError("write", addr, err)
	}
	return int(resp.GetBytesSent()), nil
}

// timeout turns the deadline into the call's Timeout, failing at once when
// it has passed or the conn is closed.
func (p *PacketConn) timeout(of func() time.Time, op string) (Timeout, error) {
	select {
	case <-p.closed:
		return Timeout{}, p.opError(op, nil, net.ErrClosed)
	default:
	}
	d := of()
	if d.IsZero() {
		return Infinity, nil
	}
	left := time.Until(d)
	if left <= 0 {
		return Timeout{}, p.opError(op, nil, os.ErrDeadlineExceeded)
	}
	return Millis(max(left.Milliseconds(), 1)), nil
}

func (p *PacketConn) readDeadlineOf() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readDeadline
}

func (p *PacketConn) writeDeadlineOf() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writeDeadline
}

// Close implements net.PacketConn: it closes the daemon socket, which ends
// any call waiting on it.
func (p *PacketConn) Close() error {
	err := net.ErrClosed
	p.once.Do(func() {
		close(p.closed)
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		_, err = p.sess.CloseSocket(ctx, p.id)
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
	p.mu.Lock()
	p.readDeadline, p.writeDeadline = t, t
	p.mu.Unlock()
	return nil
}

// SetReadDeadline implements net.PacketConn.
func (p *PacketConn) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	p.readDeadline = t
	p.mu.Unlock()
	return nil
}

// SetWriteDeadline implements net.PacketConn.
func (p *PacketConn) SetWriteDeadline(t time.Time) error {
	p.mu.Lock()
	p.writeDeadline = t
	p.mu.Unlock()
	return nil
}

// opError wraps err; a timeout socket error becomes os.ErrDeadlineExceeded,
// and closed becomes net.ErrClosed, as the net package reports them.
func (p *PacketConn) opError(op string, addr net.Addr, err error) error {
	switch {
	case errors.Is(err, ErrTimeout):
		err = os.ErrDeadlineExceeded
	case errors.Is(err, ErrClosed):
		err = net.ErrClosed
	}
	return &net.OpError{Op: op, Net: p.network, Source: p.local, Addr: addr, Err: err}
}
