package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Listener is a net.Listener on a listening stream socket that lives in the
// daemon. Accept returns *Conn values, so an unmodified http.Serve can serve
// from a daemon socket.
type Listener struct {
	sess    *Session
	id      string
	network string
	addr    net.Addr

	ctx    context.Context // ended by a Close that could not reach the daemon
	cancel context.CancelFunc
	once   sync.Once
	closed atomic.Bool // Close was called
	unkeep func()      // ends the session's keeper's work for it
}

// ListenTCP opens a stream socket in the daemon, binds it to address (an IP
// literal, or none for the unspecified address, and a port: see
// inetSockAddr) and listens on it. network is "tcp", "tcp4" or "tcp6"; as
// package net's, a tcp6 socket takes IPv6 only, a tcp one on ":port" or
// "[::]:port" both families (on ":port" IPv4 only, when the daemon's host
// has no IPv6).
func (s *Session) ListenTCP(ctx context.Context, network, address string, backlog int32) (*Listener, error) {
	addr, err := streamAddr(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	if both := dualStack(network, address); both != nil {
		if l, err := s.listenAddr(ctx, network, both, backlog); err == nil || !noIPv6(err) {
			return l, err
		}
	}
	return s.listenAddr(ctx, network, addr, backlog)
}

// ListenAddr opens a stream socket of addr's family (inet, inet6 or local) in
// the daemon, binds it to addr and listens on it. As net.Listen's, an inet
// or inet6 socket is bound with {socket, reuseaddr}. As a net.UnixListener's,
// its socket file at a local path is removed when the socket closes (by
// Close, or with the session), if the path still names it, so that the
// path may be bound again: where the daemon can remove it with the
// client's own rights (BindRequest.unlink_on_close); elsewhere it stays.
func (s *Session) ListenAddr(ctx context.Context, addr *sockdv1.SockAddr, backlog int32) (*Listener, error) {
	return s.listenAddr(ctx, "", addr, backlog)
}

// listenAddr is ListenAddr with the network the caller named, or addr's
// when empty ("tcp" stays "tcp" in addresses and errors, as in package net).
func (s *Session) listenAddr(ctx context.Context, network string, addr *sockdv1.SockAddr, backlog int32) (*Listener, error) {
	kind, domain, protocol, err := streamKind(addr)
	named := network != ""
	if !named {
		network = kind
	}
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	open, err := s.Open(ctx, domain, Stream, protocol, OpenOpts{})
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	id := open.GetSocketId()
	if domain != Local {
		// As net.Listen does: a port whose last connections are in
		// TIME_WAIT can be listened on again at once.
		_, err = s.SetOpt(ctx, id, &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, Name: "reuseaddr"},
			&sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: true}})
	}
	if err == nil && domain == Inet6 && named {
		err = s.setV6Only(ctx, id, network)
	}
	if err == nil {
		_, err = s.BindUnlinking(ctx, id, addr)
	}
	if err == nil {
		_, err = s.Listen(ctx, id, backlog)
	}
	var l *Listener
	if err == nil {
		l, err = s.newListener(ctx, network, id) // a stream socket: opened above
	}
	if err != nil {
		s.CloseSocket(context.WithoutCancel(ctx), id)
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	return l, nil
}

// setV6Only sets IPV6_V6ONLY on the inet6 socket id opened for network as
// package net sets it: on for tcp6 and udp6, which take IPv6 only, off for
// tcp and udp, which on a wildcard address take both families.
func (s *Session) setV6Only(ctx context.Context, id, network string) error {
	_, err := s.SetOpt(ctx, id, &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_IPV6, Name: "v6only"},
		&sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: strings.HasSuffix(network, "6")}})
	return err
}

// NewListener wraps the listening stream socket id. A socket of another
// type is refused: the Conns it returns are Pipes, which carry streams.
func (s *Session) NewListener(ctx context.Context, network, id string) (*Listener, error) {
	info, err := s.Info(ctx, id)
	if err != nil {
		return nil, err
	}
	if info.GetType() != sockdv1.Type_TYPE_STREAM {
		return nil, fmt.Errorf("socket %s is a %s socket: a Listener accepts stream connections", id, EnumName(info.GetType()))
	}
	return s.newListener(ctx, network, id)
}

// newListener is NewListener for a socket known to be a stream's.
func (s *Session) newListener(ctx context.Context, network, id string) (*Listener, error) {
	name, err := s.SockName(ctx, id)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	return &Listener{sess: s, id: id, network: network, addr: NetAddr(network, name.GetAddress()), ctx: lctx, cancel: cancel,
		unkeep: s.keepFor(id)}, nil
}

// Accept implements net.Listener. As package net's, it skips a connection
// that failed before it could be used (the peer reset it first), and its
// errors are Temporary when a retry may succeed (emfile, or a quota of the
// daemon), so that http.Serve backs off rather than stop serving. A daemon
// out of reach (a broken connection) it waits out, calling again, for as
// long as the session's grace keeps the session there; past that the error
// is final. Once Close has begun it returns no connection: one the daemon
// accepted meanwhile is closed (an http.Server's Shutdown would otherwise
// serve it after telling every connection to go away).
//
// A connection to the daemon that breaks under an accept loses no peer's
// connection: the accept is made again with its request id (AcceptOnce),
// which answers the connection the daemon had accepted, if it had; and the
// pipe of an accepted connection that broke before Accept returned it is
// bound again (PipeStart: the pipe reads only once the client has its ready
// answer, so one that broke first read nothing).
func (l *Listener) Accept() (net.Conn, error) {
	outage := newOutage(l.sess.graceOrDefault())
	request := NewRequestID()
	for {
		start := time.Now()
		resp, err := l.sess.AcceptOnce(l.ctx, l.id, Infinity, request)
		if outOfReach(err) && !l.closed.Load() && outage.waitOut(l.ctx, l.sess.client, start) {
			continue
		}
		if ErrorReason(err) == ReasonRequestForgotten && !l.closed.Load() {
			// What that call accepted is lost; the next connection is a
			// new call's.
			request = NewRequestID()
			continue
		}
		if err != nil {
			if l.closed.Load() && (status.Code(err) == codes.Canceled || outOfReach(err)) {
				l.collectCancelled(request)
			}
			return nil, l.acceptError(err)
		}
		request = NewRequestID()
		if l.closed.Load() {
			l.sess.closeSocket(resp.GetSocketId())
			return nil, l.acceptError(net.ErrClosed)
		}
		conn, err := l.pipe(resp.GetSocketId(), outage)
		if err == nil {
			if l.closed.Load() {
				conn.Close()
				return nil, l.acceptError(net.ErrClosed)
			}
			return conn, nil
		}
		l.sess.closeSocket(resp.GetSocketId())
		switch {
		case l.closed.Load():
		case failedConnection(err):
			continue // that connection failed; the next one
		}
		return nil, l.acceptError(err)
	}
}

// collectCancelled closes, in the background, the connection the accept of
// request took if the daemon had accepted it when Close cancelled the call
// (a Close that the daemon did not answer at once), or when the call was
// lost with the connection to the daemon and Close came before it could be
// made again (waiting the outage out): the daemon keeps an
// answer to a call with a request id for the call made again, and the
// connection would stay in the session, its peer waiting, until the
// session ends. The call made again finds the answer, or accepts nothing
// (the listening socket closed) or a connection that would have been
// refused with it.
func (l *Listener) collectCancelled(request string) {
	done := l.sess.client.startDrain(l.sess.id)
	go func() {
		defer done()
		var taken string
		l.sess.untilAnswered(func(ctx context.Context) error {
			resp, err := l.sess.AcceptOnce(ctx, l.id, Millis(0), request)
			taken = resp.GetSocketId()
			return err
		})
		if taken != "" {
			l.sess.closeSocket(taken)
		}
	}()
}

// pipe makes the Conn of the accepted socket id, binding its pipe again
// when the daemon was out of reach, for as long as outage allows. Each pipe
// reads only once told, which newConn does once it is bound, and is bound
// only if the socket has read nothing: a pipe whose ready answer was lost
// read nothing, and a connection whose bytes a lost pipe took is refused
// (SOCKET_READ_DIFFERS), to be closed rather than handed on without them.
func (l *Listener) pipe(id string, outage *outage) (*Conn, error) {
	for {
		piped := time.Now()
		var nothingRead uint64
		conn, err := l.sess.newConn(l.ctx, l.network, id, &sockdv1.PipeStart{SocketId: id, ReadBytes: &nothingRead, HoldReads: true})
		if err == nil || !outOfReach(err) || l.closed.Load() || !outage.waitOut(l.ctx, l.sess.client, piped) {
			return conn, err
		}
	}
}

// failedConnection reports whether NewConn's err says the accepted
// connection failed before it could be used: a socket error (PeerName's
// enotconn), or a Pipe refused because the socket is no longer connected
// (its peer reset it in between; NewListener refused any socket but a
// stream's, the other cause of that refusal), or a pipe that broke with
// the connection to the daemon had read from it (what it read is lost),
// or still held it after the daemon was back.
func failedConnection(err error) bool {
	var se *SocketError
	switch ErrorReason(err) {
	case reasons.NotConnectedStream, reasons.SocketReadDiffers, reasons.SocketStreamed:
		return true
	}
	return errors.As(err, &se)
}

// outage paces one Accept's calls while the daemon is out of reach: often
// enough that the daemon, which keeps a session without calls for its
// grace, never goes a grace without one.
type outage struct {
	grace, minWait, maxWait, wait time.Duration
	// began stands for when the connection was lost, on a connection the
	// client does not watch: this wait's first failure.
	began time.Time
}

func newOutage(grace time.Duration) *outage {
	o := &outage{grace: grace, minWait: min(10*time.Millisecond, grace/8), maxWait: min(time.Second, grace/4)}
	o.wait = o.minWait
	return o
}

// waitOut reports, for a call begun at start that found the daemon out of
// reach, whether the session's grace may still hold it there; if so it has
// gRPC reconnect and waits for the connection, at most the pace's wait,
// before the caller calls again. false too once ctx ends.
func (o *outage) waitOut(ctx context.Context, c *Client, start time.Time) bool {
	since, known := c.outOfReach()
	if !known {
		if o.began.IsZero() {
			o.began = time.Now()
		}
		since = o.began
	}
	// A connection up again (or that answered UNAVAILABLE itself: a proxy
	// before the daemon) needs no reconnecting, only the pause.
	up := known && since.IsZero()
	if !up && time.Since(since) >= o.grace {
		return false
	}
	if time.Since(start) > o.maxWait {
		o.wait = o.minWait // that call was up a while: a new outage
	}
	if up {
		pause(ctx, o.wait)
	} else {
		c.reconnectNow(ctx, time.Now().Add(o.pace(o.grace-time.Since(since))))
	}
	o.wait = min(2*o.wait, o.maxWait)
	return ctx.Err() == nil
}

// pace is the wait before the next try with left of the grace to go: the
// doubling wait, but at most half of what is left, so that tries come
// closer as the grace ends and one comes before it whenever the daemon is
// back (the doubling alone left the last try before the grace 230 ms from
// it, in a test with a 3 s grace).
func (o *outage) pace(left time.Duration) time.Duration {
	return min(o.wait, max(left/2, o.minWait))
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

func (l *Listener) acceptError(err error) error {
	if l.closed.Load() || l.sess.client.isClosed() {
		err = net.ErrClosed
	}
	return &net.OpError{Op: "accept", Net: l.network, Addr: l.addr, Err: acceptTemporary(asNetClosed(err))}
}

// Close implements net.Listener: the daemon socket is closed, and a blocked
// Accept returns net.ErrClosed (closing a connection the daemon accepted
// just before). Its call is cancelled only when the daemon could not be
// told, or does not answer within 250 ms: a call cancelled while the
// daemon accepts would leave that connection open there, its id unknown.
//
// A daemon out of reach, or slower than 250 ms, does not hold Close:
// the socket's close goes on in the background, waiting the outage out for
// as long as the session's grace keeps the socket there (so that peers are
// refused once the daemon is back, not left queued on a socket no one
// accepts from), each call within 10 s, or until the Client is closed: Client.Close
// ends that wait (not a close call in progress); Session.Close waits for it,
// as its own call needs the daemon back. Conn and PacketConn close their
// sockets the same way.
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		l.closed.Store(true)
		if l.unkeep != nil { // nil in a Listener made by hand, in tests
			l.unkeep()
		}
		var late bool
		late, err = l.sess.closeWithPrompt(func() error { return l.sess.closeSocket(l.id) })
		if err != nil || late {
			// Accept need not wait for a close that goes on in the
			// background. What it meets then no one is told: a socket
			// left open closes with its session in any case.
			l.cancel()
		}
	})
	if err != nil {
		return &net.OpError{Op: "close", Net: l.network, Addr: l.addr, Err: err}
	}
	return nil
}

// Addr implements net.Listener.
func (l *Listener) Addr() net.Addr { return l.addr }

// SocketID is the daemon socket behind the Listener.
func (l *Listener) SocketID() string { return l.id }
