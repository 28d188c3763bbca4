package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/sockd/sockd/internal/pipewire"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Conn is a net.Conn over a connected stream socket that lives in the
// daemon. Its bytes flow through one Pipe stream; deadlines work as on any
// net.Conn: a call that reaches its deadline fails with an error for which
// errors.Is(err, os.ErrDeadlineExceeded) holds, and so does every later call
// until the deadline is moved.
//
// Close closes the daemon socket after the bytes Writes handed over (see
// SetLinger). A Write that its deadline, CloseWrite or Close cut short
// reports the bytes whose sending had begun; they are delivered, as bytes
// in a kernel's send buffer are.
//
// Unlike an EventStream or a Listener, a Conn does not outlast its gRPC
// connection: bytes in flight on its Pipe when the connection broke may or
// may not have reached the socket, so Reads and Writes fail from then on (a
// *net.OpError around the Pipe's UNAVAILABLE status); the daemon socket
// stays the session's until Close closes it or the session ends.
type Conn struct {
	sess          *Session
	id            string
	network       string
	local, remote net.Addr

	stream pipeStream
	cancel context.CancelFunc

	// incoming holds up to readAhead messages the reader goroutine has
	// taken from the stream before Read: up to 1 MiB besides the gRPC
	// window, as a socket's receive buffer holds, so that the pipe's end
	// behind data nobody has read yet is seen by Write (see readAhead).
	incoming chan pipeMessage
	done     chan struct{} // closed by Close
	// streamEnded is closed when the pipe stream has ended; end is its
	// last message, when incoming had no room for it (set before).
	streamEnded chan struct{}
	end         *pipeMessage
	// sessionEnded is closed once the session has ended (watchSessionEnd).
	sessionEnded   <-chan struct{}
	unwatchSession func()
	// abandoned: the reader dropped messages once the session or client
	// was gone, so that the stream's end is no peer's end of data.
	abandoned atomic.Bool

	readMu   sync.Mutex
	leftover pipewire.Data // what Read has not taken of the last data
	readErr  error         // sticky: eof or the pipe's end

	writeMu  sync.Mutex
	writes   chan *writeJob   // to the writer goroutine, in order: Writes and the half-close
	written  chan writeResult // the answers to Writes
	inFlight bool             // a Write that returned early still owes an answer (writeMu)
	// queueMu orders a Write's check of shutWr and its job against
	// CloseWrite's: no bytes may follow the half-close.
	queueMu sync.Mutex
	shutWr  atomic.Bool // CloseWrite was called: writes fail with epipe
	// failureTold: a Read or Write returned the socket error that ended
	// the pipe, which Close then does not repeat.
	failureTold atomic.Bool
	shutdown    chan struct{} // closed by CloseWrite: a Write waiting returns
	// sendMu is held by whoever sends on the stream: the writer goroutine
	// for a write or the half-close, Close for its message, one at a time
	// (gRPC allows one sender).
	sendMu sync.Mutex

	// linger is SetLinger's seconds; negative, as newConn starts it, for
	// the default.
	linger atomic.Int64

	// failed is closed, and failure set, when the daemon reports that the
	// socket failed or the stream ended: a write the stream refuses then
	// answers with why.
	failed     chan struct{}
	failure    error
	failedOnce sync.Once

	readDeadline, writeDeadline deadline
	closeOnce                   sync.Once
}

type pipeMessage struct {
	resp *pipewire.Response
	err  error
}

// pipeStream is what a Conn uses of its Pipe stream, which runs with
// pipewire's codec: data comes as pipewire.Response, is sent as
// pipewire.RequestBuffer, and every other message is a PipeRequest.
type pipeStream interface {
	SendMsg(m any) error
	RecvMsg(m any) error
}

// NewConn binds a Conn to the connected stream socket id, which the session
// must be able to use. network names the socket's kind in errors and
// addresses: "tcp", "tcp4", "tcp6" or "unix".
func (s *Session) NewConn(ctx context.Context, network, id string) (*Conn, error) {
	return s.newConn(ctx, network, id, nil)
}

// newConn is NewConn, binding the pipe on start's conditions when not nil;
// with start.HoldReads, it tells the pipe to read once it is bound, before
// it returns.
func (s *Session) newConn(ctx context.Context, network, id string, start *sockdv1.PipeStart) (*Conn, error) {
	local, err := s.SockName(ctx, id)
	if err != nil {
		return nil, err
	}
	remote, err := s.PeerName(ctx, id)
	if err != nil {
		return nil, err
	}
	streamCtx, cancel := context.WithCancel(context.Background())
	stream, err := s.api().Pipe(s.OutgoingContext(streamCtx), grpc.ForceCodecV2(pipewire.Codec()))
	if err == nil {
		first := &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: id}}
		if start != nil {
			first.Msg = &sockdv1.PipeRequest_Start{Start: start}
		}
		err = sendOpening(stream, first)
	}
	if err == nil {
		err = awaitReady(ctx, stream, cancel)
	}
	if err == nil && start.GetHoldReads() {
		err = sendOpening(stream, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Read{Read: true}})
	}
	if err != nil {
		cancel()
		return nil, err
	}
	c := newConn(s, id, network, stream, cancel)
	c.local, c.remote = NetAddr(network, local.GetAddress()), NetAddr(network, remote.GetAddress())
	c.start()
	return c, nil
}

// sendOpening sends one of the messages that open a pipe, before any data
// can come: a stream that ended meanwhile answers io.EOF, and its status,
// which says why (UNAVAILABLE for a broken connection, which a Listener
// binds again), comes from its next receive.
func sendOpening(stream pipeStream, m *sockdv1.PipeRequest) error {
	err := stream.SendMsg(m)
	if !errors.Is(err, io.EOF) {
		return err
	}
	end := new(pipewire.Response)
	if rerr := stream.RecvMsg(end); rerr != nil && !errors.Is(rerr, io.EOF) {
		return rerr
	}
	end.Release()
	return err
}

// awaitReady waits for the daemon's first message, which says the pipe is
// bound (or the stream's end, which says why not), so that NewConn answers
// a refusal itself rather than the first Read or Write. ctx bounds the wait:
// cancel ends the stream.
func awaitReady(ctx context.Context, stream pipeStream, cancel context.CancelFunc) error {
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	first := new(pipewire.Response)
	if err := stream.RecvMsg(first); err != nil {
		return err
	}
	if !stop() { // ctx ended as the answer came: the stream is cancelled
		first.Release()
		return ctx.Err()
	}
	if first.Held() || !first.Msg.GetReady() {
		first.Release()
		return errors.New("pipe: the daemon's first message is not ready")
	}
	return nil
}

// newConn makes a Conn on stream, not started.
func newConn(s *Session, id, network string, stream pipeStream, cancel context.CancelFunc) *Conn {
	c := &Conn{
		sess: s, id: id, network: network,
		stream: stream, cancel: cancel,
		incoming:    make(chan pipeMessage, readAhead),
		done:        make(chan struct{}),
		streamEnded: make(chan struct{}),
		writes:      make(chan *writeJob, 1),
		written:     make(chan writeResult, 1),
		shutdown:    make(chan struct{}),
		failed:      make(chan struct{}),
	}
	c.sessionEnded, c.unwatchSession = s.client.watchSessionEnd(s.id)
	c.readDeadline.init()
	c.writeDeadline.init()
	c.linger.Store(-1)
	return c
}

// start runs the goroutines that move the stream's messages.
func (c *Conn) start() {
	go c.readLoop()
	go c.writeLoop()
}

// Dial opens a stream socket in the daemon, connects it to address (an IP
// literal and port: the daemon does not resolve names; ":port" is the
// daemon's own host, as package net's) and returns it as a Conn. network is
// "tcp", "tcp4" or "tcp6".
func (s *Session) Dial(ctx context.Context, network, address string) (*Conn, error) {
	addr, err := streamAddr(network, address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return s.dialAddr(ctx, network, addr)
}

// DialAddr opens a stream socket of addr's family (inet, inet6 or local) in
// the daemon, connects it to addr and returns it as a Conn.
func (s *Session) DialAddr(ctx context.Context, addr *sockdv1.SockAddr) (*Conn, error) {
	network, _, _, _ := streamKind(addr)
	return s.dialAddr(ctx, network, addr)
}

// dialAddr is DialAddr with the network the caller named ("tcp" stays
// "tcp" in addresses and errors, as in package net).
func (s *Session) dialAddr(ctx context.Context, network string, addr *sockdv1.SockAddr) (*Conn, error) {
	id, err := s.openStream(ctx, addr)
	if err == nil {
		var c *Conn
		if c, err = s.NewConn(ctx, network, id); err == nil {
			return c, nil
		}
		s.CloseSocket(context.WithoutCancel(ctx), id)
	}
	return nil, dialError(ctx, network, addr, err)
}

// OpenStream opens a stream socket of addr's family (inet, inet6 or local)
// in the daemon, connects it to addr and returns its id, for calls that use
// the socket itself rather than a Conn (such as Relay).
func (s *Session) OpenStream(ctx context.Context, addr *sockdv1.SockAddr) (string, error) {
	id, err := s.openStream(ctx, addr)
	if err != nil {
		network, _, _, _ := streamKind(addr)
		return "", dialError(ctx, network, addr, err)
	}
	return id, nil
}

func (s *Session) openStream(ctx context.Context, addr *sockdv1.SockAddr) (string, error) {
	id, err := s.OpenStreamFor(ctx, addr)
	if err != nil {
		return "", err
	}
	if _, err := s.Connect(ctx, id, addr, Infinity); err != nil {
		s.CloseSocket(context.WithoutCancel(ctx), id)
		return "", err
	}
	return id, nil
}

// OpenStreamFor opens a stream socket of addr's family (inet, inet6 or
// local) that could connect to addr, and returns its id, not connected:
// OpenStream's first half, for a caller that connects it itself.
func (s *Session) OpenStreamFor(ctx context.Context, addr *sockdv1.SockAddr) (string, error) {
	return s.OpenStreamOnce(ctx, addr, "")
}

// OpenStreamOnce is OpenStreamFor with a request id (OpenOpts.RequestID):
// made again with it, it answers the socket the first call opened.
func (s *Session) OpenStreamOnce(ctx context.Context, addr *sockdv1.SockAddr, requestID string) (string, error) {
	_, domain, protocol, err := streamKind(addr)
	if err != nil {
		return "", err
	}
	open, err := s.Open(ctx, domain, Stream, protocol, OpenOpts{RequestID: requestID})
	if err != nil {
		return "", err
	}
	return open.GetSocketId(), nil
}

// dialError is a failed dial as package net reports one: the address
// dialled, a context's end as net.Dialer's (errors.Is context.Canceled, or
// os.ErrDeadlineExceeded, a net.Error whose Timeout is true; the daemon
// answers a deadline it was told of with its timeout).
func dialError(ctx context.Context, network string, addr *sockdv1.SockAddr, err error) error {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		err = fmt.Errorf("%w (%w)", context.Canceled, err)
	case errors.Is(err, ErrTimeout) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = dialTimeout{}
	}
	return &net.OpError{Op: "dial", Net: network, Addr: NetAddr(network, addr), Err: err}
}

// dialTimeout is a dial's timeout as net.Dialer's: an "i/o timeout"
// net.Error that errors.Is context.DeadlineExceeded, and also
// os.ErrDeadlineExceeded, as the deadlines of this package's conns are.
type dialTimeout struct{}

func (dialTimeout) Error() string   { return "i/o timeout" }
func (dialTimeout) Timeout() bool   { return true }
func (dialTimeout) Temporary() bool { return true }
func (dialTimeout) Is(target error) bool {
	return target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded
}

// streamAddr is address for a stream network of package net's (tcp, tcp4,
// tcp6); other networks are net.UnknownNetworkError, as net.Dial says.
func streamAddr(network, address string) (*sockdv1.SockAddr, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		addr, _, err := inetSockAddr(network, address)
		return addr, err
	}
	return nil, net.UnknownNetworkError(network)
}

// streamKind is what to open for a stream socket to or at addr.
func streamKind(addr *sockdv1.SockAddr) (network string, d Domain, p Protocol, err error) {
	switch addr.GetFamily().(type) {
	case *sockdv1.SockAddr_Inet:
		return "tcp4", Inet, TCP, nil
	case *sockdv1.SockAddr_Inet6:
		return "tcp6", Inet6, TCP, nil
	case *sockdv1.SockAddr_Local:
		return "unix", Local, DefaultProtocol, nil
	}
	return "", Domain{}, Protocol{}, fmt.Errorf("address %s: want inet, inet6 or local", FormatAddr(addr))
}

// SocketID is the daemon socket behind the Conn.
func (c *Conn) SocketID() string { return c.id }

// readLoop hands the pipe's messages to Read. After Close it keeps reading,
// dropping what comes, until the stream ends, which tells Close the daemon
// has closed the socket; so it does once its session has ended or its
// client has closed its connection, whose Conns nobody reads. The stream's
// end it leaves in c.end when Read has no room for it, and returns: a Conn
// nobody closes or reads keeps no goroutine once its session or client is
// closed (a reviewer's kept two each for ever).
func (c *Conn) readLoop() {
	defer close(c.streamEnded)
	defer c.unwatchSession()
	for {
		resp := new(pipewire.Response)
		err := c.stream.RecvMsg(resp)
		switch {
		case err != nil:
			c.fail(err)
		case !resp.Held() && resp.Msg.GetError() != nil:
			c.fail(&SocketError{Proto: resp.Msg.GetError()})
		}
		if err != nil {
			select {
			case c.incoming <- pipeMessage{resp, err}:
			default:
				c.end = &pipeMessage{resp, err}
			}
			return
		}
		if c.abandoned.Load() {
			resp.Release() // after a message dropped, no later one: no gap
			continue
		}
		select {
		case c.incoming <- pipeMessage{resp, err}:
			continue // a Read waiting takes it, though the session is closing
		default:
		}
		select {
		case c.incoming <- pipeMessage{resp, err}:
		case <-c.done:
			resp.Release()
		case <-c.sess.client.gone:
			// Nobody will read it: the stream ends with the client.
			c.abandoned.Store(true)
			resp.Release()
		case <-c.sessionEnded:
			c.abandoned.Store(true) // nor here: the session has ended
			resp.Release()
		}
	}
}

// readAhead is how many of the pipe's messages (of up to 64 KiB each) the
// Conn reads ahead of Read. Once the socket fails (its peer's reset), the
// daemon reports the error after the data it had read, and Writes, which it
// drops from then on, as a kernel drops a reset socket's send buffer,
// succeed until the Conn sees it: a reviewer's writes went on for 300 MB a
// second behind 1 MiB that nobody read. The data left after a reset is
// what the socket had received, some hundreds of KiB on loopback.
const readAhead = 16

// fail records why the pipe ended, once.
func (c *Conn) fail(err error) {
	c.failedOnce.Do(func() {
		c.failure = err
		close(c.failed)
	})
}

// whyEnded turns the io.EOF with which gRPC refuses a send on an ended
// stream into the reason the stream ended, which the read side receives:
// the socket's error (econnreset, epipe, ...) rather than a bare EOF.
func (c *Conn) whyEnded(err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	// The reason follows the end at once, unless the read side is still
	// full of data nobody has read: it waits behind that. Unknown, it is
	// a broken pipe, never io.EOF, which a writer would take for a clean
	// end.
	select {
	case <-c.failed:
		if !errors.Is(c.failure, io.EOF) {
			c.failureTold.Store(true)
			return c.failure
		}
	case <-time.After(failureWait):
	}
	return syscall.EPIPE
}

// failedSocket is the socket error that ended the pipe, once the Conn has
// seen it; nil before, or when the pipe ended otherwise.
func (c *Conn) failedSocket() error {
	var se *SocketError
	if isClosed(c.failed) && errors.As(c.failure, &se) {
		return se
	}
	return nil
}

// failureWait bounds how long a refused write waits for the reason.
const failureWait = 200 * time.Millisecond

// Read implements net.Conn.
func (c *Conn) Read(b []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	// As net's reads do, a closed Conn or a passed deadline fails the call
	// even when data is waiting, and an empty read of an open Conn returns
	// at once.
	select {
	case <-c.done:
		return 0, c.opError("read", net.ErrClosed)
	default:
	}
	if len(b) == 0 {
		return 0, nil
	}
	select {
	case <-c.readDeadline.wait():
		return 0, c.opError("read", os.ErrDeadlineExceeded)
	default:
	}
	for c.leftover.Len() == 0 {
		if c.readErr != nil {
			var se *SocketError
			if errors.As(c.readErr, &se) {
				c.failureTold.Store(true)
			}
			return 0, c.readErr
		}
		select {
		case msg := <-c.incoming:
			c.take(msg)
		case <-c.streamEnded:
			// The stream's end, after what came before it.
			select {
			case msg := <-c.incoming:
				c.take(msg)
			default:
				if c.end != nil {
					c.take(*c.end)
					c.end = nil
				}
			}
		case <-c.readDeadline.wait():
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		case <-c.done:
			return 0, c.opError("read", net.ErrClosed)
		}
	}
	return c.leftover.Read(b), nil
}

// take absorbs one message of the pipe.
func (c *Conn) take(msg pipeMessage) {
	if msg.resp.Held() {
		c.leftover = msg.resp.Data
		return
	}
	resp := msg.resp.Msg
	switch {
	case msg.err != nil && c.abandoned.Load():
		c.readErr = c.opError("read", net.ErrClosed)
	case msg.err != nil && errors.Is(msg.err, io.EOF):
		c.readErr = io.EOF
	case msg.err != nil:
		c.readErr = c.opError("read", msg.err)
	case resp.GetError() != nil:
		c.readErr = c.opError("read", &SocketError{Proto: resp.GetError()})
	case resp.GetEof():
		c.readErr = io.EOF
	}
	c.leftover = pipewire.DataOf(resp.GetData()) // a response with more than data: decoded in full
}

// CloseWrite shuts down the socket's write side: the peer reads end of
// data after the bytes Writes handed over, and the Conn can still read. As
// shutdown(2) does, it returns at once, even when those bytes wait for the
// peer to read; a Write waiting meanwhile returns epipe.
func (c *Conn) CloseWrite() error {
	switch {
	case isClosed(c.done):
		return c.opError("close", net.ErrClosed)
	case c.shutWr.Load():
		return nil
	case isClosed(c.failed):
		if errors.Is(c.failure, io.EOF) { // the daemon ended the pipe: the socket is gone
			return c.opError("close", net.ErrClosed)
		}
		return c.opError("close", c.failure)
	}
	if err := c.queue(&writeJob{closeWrite: true}); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// CloseRead shuts down the socket's read side, as *net.TCPConn's does:
// Read returns what had arrived before it, then io.EOF, and the Conn can
// still write.
func (c *Conn) CloseRead() error {
	if isClosed(c.done) {
		return c.opError("close", net.ErrClosed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if _, err := c.sess.Shutdown(ctx, c.id, sockdv1.ShutdownHow_SHUTDOWN_HOW_READ); err != nil {
		return c.opError("close", err)
	}
	return nil
}

// Close implements net.Conn: it ends the pipe and closes the daemon socket.
func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = c.closePipe()
	})
	if err != nil {
		return c.opError("close", err)
	}
	return nil
}

// closePipe has the daemon close the socket through the pipe, after the
// bytes earlier Writes handed over. A Read or Write blocked on the Conn
// returns net.ErrClosed at once, and so does every later call. The close message waits for a send in
// progress and for the stream's flow control, as a TCP close lingers, for
// up to the linger time; past it, or when the stream is already broken, the
// stream is cancelled and the socket closed with a call of its own (as a
// Listener's Close does, through an outage too), and what had not reached
// the daemon is lost.
//
// By default (SetLinger < 0) Close returns once the daemon has closed the
// socket or, when that takes longer than closePrompt (the bytes wait for a
// peer that does not read), at once, leaving them to drain for up to 10 s,
// as the kernel does a TCP socket's: those bytes are in this process, so
// Client.Close and Session.Close wait for them. With SetLinger(sec > 0)
// Close waits up to sec, as Linux's close does with SO_LINGER.
func (c *Conn) closePipe() error {
	close(c.done)
	if c.linger.Load() >= 0 {
		return c.finishClose(c.lingerTime())
	}
	_, err := c.sess.closeWithPrompt(func() error { return c.finishClose(closeTimeout) })
	return err
}

// closePrompt is how long a Close with the default linger waits for the
// daemon to close the socket before it leaves the rest to the background.
const closePrompt = 250 * time.Millisecond

// finishClose sends the close message within linger (none when it is 0),
// waits for the stream's end, and falls back to closing the socket with a
// call of its own. After CloseWrite, a socket error that ended the pipe,
// which no Read or Write has returned, is its answer: no Write could see
// the bytes it lost (a reviewer's nc exited 0 with its last input refused
// with epipe). One a Read returned is not told twice, as package net's
// Close does not tell it (a reviewer's).
func (c *Conn) finishClose(linger time.Duration) (err error) {
	defer c.cancel()
	defer func() {
		if err == nil && c.shutWr.Load() && !c.failureTold.Load() {
			err = c.failedSocket()
		}
	}()
	if linger > 0 {
		sent := make(chan error, 1)
		go func() {
			c.sendMu.Lock()
			defer c.sendMu.Unlock()
			sent <- c.stream.SendMsg(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Close{Close: true}})
		}()
		timer := time.NewTimer(linger)
		defer timer.Stop()
		select {
		case err := <-sent:
			if err == nil {
				select {
				case <-c.streamEnded:
					if errors.Is(c.failure, io.EOF) {
						return nil // the daemon closed the socket and ended the pipe
					}
					// A broken stream, or one the socket's error ended
					// first: the close message may not have reached the
					// daemon.
				case <-timer.C:
				}
			}
		case <-timer.C:
		}
	}
	c.cancel() // ends a send still waiting, the close message's or a write's
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if c.linger.Load() > 0 {
		// SetLinger's time is spent here: the daemon's close must not linger
		// again (a socket closes on in the background, as after a linger's
		// timeout); one the pipe's close already closed is gone.
		c.setDaemonLingerWithin(ctx, &sockdv1.Linger{Onoff: false})
	}
	// An outage is waited out in the background, so that a Close bounded
	// by its linger stays so.
	_, err = c.sess.closeWithPrompt(func() error { return c.sess.closeSocket(c.id) })
	return err
}

// SetLinger is net.TCPConn's: how Close treats data not yet sent, in both
// legs. The daemon socket's SO_LINGER is set as package net sets it (sec < 0
// off, the kernel sending in the background; sec == 0 a reset at Close,
// unsent data discarded; sec > 0 Close waiting up to sec seconds for the
// peer to take it), and bytes earlier Writes handed over may take as long
// to reach the daemon: with sec < 0 up to 10 s, Close returning after
// 250 ms at the most (the rest drains in the background, and
// Client.Close waits for it); with sec > 0 up to sec seconds, Close waiting
// for them; with sec == 0 none.
func (c *Conn) SetLinger(sec int) error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	if err := c.setDaemonLingerWithin(ctx, &sockdv1.Linger{Onoff: sec >= 0, Linger: uint32(min(max(sec, 0), math.MaxInt32))}); err != nil {
		return c.opError("set", err)
	}
	c.linger.Store(int64(sec))
	return nil
}

// setDaemonLingerWithin sets the daemon socket's SO_LINGER.
func (c *Conn) setDaemonLingerWithin(ctx context.Context, l *sockdv1.Linger) error {
	key := &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, Name: "linger"}
	_, err := c.sess.SetOpt(ctx, c.id, key, &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Linger{Linger: l}})
	return err
}

// lingerTime is how long Close waits for written bytes (SetLinger).
func (c *Conn) lingerTime() time.Duration {
	if sec := c.linger.Load(); sec >= 0 {
		return time.Duration(min(sec, math.MaxInt32)) * time.Second // as SO_LINGER takes it; more would overflow
	}
	return closeTimeout
}

// closeTimeout bounds each step of a Close of a Conn, Listener or PacketConn
// (a variable for tests).
var closeTimeout = 10 * time.Second

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: c.local, Addr: c.remote, Err: c.sess.adapterError(err)}
}
