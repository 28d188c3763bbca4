package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

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
type Conn struct {
	sess          *Session
	id            string
	network       string
	local, remote net.Addr

	stream pipeStream
	cancel context.CancelFunc

	// incoming holds at most one message: the reader goroutine waits for
	// Read to take it, so the gRPC window is the only buffer.
	incoming chan pipeMessage
	done     chan struct{} // closed by Close
	// streamEnded is closed when the pipe stream has ended.
	streamEnded chan struct{}

	readMu   sync.Mutex
	leftover pipewire.Data // what Read has not taken of the last data
	readErr  error         // sticky: eof or the pipe's end

	writeMu  sync.Mutex
	writes   chan *writeJob   // to the writer goroutine, in order: Writes and the half-close
	written  chan writeResult // the answers to Writes
	inFlight bool             // a Write that returned early still owes an answer (writeMu)
	// queueMu orders a Write's check of shutWr and its job against
	// CloseWrite's: no bytes may follow the half-close.
	queueMu  sync.Mutex
	shutWr   atomic.Bool   // CloseWrite was called: writes fail with epipe
	shutdown chan struct{} // closed by CloseWrite: a Write waiting returns
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
		err = stream.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: id}})
	}
	if err == nil {
		err = awaitReady(ctx, stream, cancel)
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
		incoming:    make(chan pipeMessage, 1),
		done:        make(chan struct{}),
		streamEnded: make(chan struct{}),
		writes:      make(chan *writeJob, 1),
		written:     make(chan writeResult, 1),
		shutdown:    make(chan struct{}),
		failed:      make(chan struct{}),
	}
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
// literal and port: the daemon does not resolve names) and returns it as a
// Conn. network is "tcp", "tcp4" or "tcp6".
func (s *Session) Dial(ctx context.Context, network, address string) (*Conn, error) {
	addr, _, err := inetSockAddr(network, address)
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
	id, err := s.OpenStream(ctx, addr)
	if err != nil {
		return nil, err
	}
	c, err := s.NewConn(ctx, network, id)
	if err != nil {
		s.CloseSocket(context.WithoutCancel(ctx), id)
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return c, nil
}

// OpenStream opens a stream socket of addr's family (inet, inet6 or local)
// in the daemon, connects it to addr and returns its id, for calls that use
// the socket itself rather than a Conn (such as Relay).
func (s *Session) OpenStream(ctx context.Context, addr *sockdv1.SockAddr) (string, error) {
	network, domain, protocol, err := streamKind(addr)
	if err != nil {
		return "", &net.OpError{Op: "dial", Net: network, Err: err}
	}
	open, err := s.Open(ctx, domain, Stream, protocol, OpenOpts{})
	if err != nil {
		return "", &net.OpError{Op: "dial", Net: network, Err: err}
	}
	id := open.GetSocketId()
	if _, err := s.Connect(ctx, id, addr, Infinity); err != nil {
		s.CloseSocket(context.WithoutCancel(ctx), id)
		return "", &net.OpError{Op: "dial", Net: network, Err: err}
	}
	return id, nil
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
// has closed the socket.
func (c *Conn) readLoop() {
	defer close(c.streamEnded)
	for {
		resp := new(pipewire.Response)
		err := c.stream.RecvMsg(resp)
		switch {
		case err != nil:
			c.fail(err)
		case !resp.Held() && resp.Msg.GetError() != nil:
			c.fail(&SocketError{Proto: resp.Msg.GetError()})
		}
		select {
		case c.incoming <- pipeMessage{resp, err}:
		case <-c.done:
			resp.Release()
		}
		if err != nil {
			return
		}
	}
}

// fail records why the pipe ended, once.
func (c *Conn) fail(err error) {
	c.failedOnce.Do(func() {
		c.failure = err
		close(c.failed)
	})
}

// A writeJob is one Write's bytes, or the half-close, on its way to the
// writer goroutine.
type writeJob struct {
	pieces     []mem.Buffer // a Write's copy, a message each
	closeWrite bool         // no bytes: the half-close, after what was written before

	mu      sync.Mutex
	stopped bool // its Write returned early: start no further piece
	started int  // bytes of the pieces whose sending began
	taken   bool // the writer goroutine has it: it frees what it does not send
	dropped bool // its Write gave it up untaken (Close) and freed it
}

// take hands j to the writer goroutine, unless its Write dropped it.
func (j *writeJob) take() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.taken = !j.dropped
	return j.taken
}

// drop is stop for a Write that ends with the Conn: a job the writer
// goroutine never took, and now never will, is freed here.
func (j *writeJob) drop() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stopped = true
	if !j.taken {
		j.dropped = true
		freeAll(j.pieces)
	}
	return j.started
}

type writeResult struct {
	n   int
	err error
}

// begin reports whether a piece of n bytes may be sent, and counts it.
func (j *writeJob) begin(n int) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stopped {
		return false
	}
	j.started += n
	return true
}

// stop keeps the writer from starting further pieces and returns the bytes
// of those it has started: a piece being sent cannot be taken back, so they
// count as written, as bytes in a kernel's send buffer do, and go out
// before anything written later.
func (j *writeJob) stop() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stopped = true
	return j.started
}

func (c *Conn) writeLoop() {
	for {
		select {
		case j := <-c.writes:
			if !j.take() {
				continue
			}
			c.sendMu.Lock()
			var res writeResult
			switch {
			case isClosed(c.done): // Close may have the stream now: send nothing after its message
				freeAll(j.pieces)
				res.err = net.ErrClosed
			case j.closeWrite:
				// Its failure ends the stream, which the reads report.
				c.stream.SendMsg(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_CloseWrite{CloseWrite: true}})
			default:
				res = c.send(j)
			}
			c.sendMu.Unlock()
			if j.closeWrite {
				continue
			}
			select {
			case c.written <- res:
			case <-c.done:
				c.freeQueued()
				return
			}
		case <-c.done:
			c.freeQueued()
			return
		}
	}
}

// freeQueued frees, once the Conn is closed, the copy of a job no one will
// send: queued by a Write that its deadline or CloseWrite ended before
// Close (one that Close ends drops its own, writeJob.drop).
func (c *Conn) freeQueued() {
	for {
		select {
		case j := <-c.writes:
			if j.take() {
				freeAll(j.pieces)
			}
		default:
			return
		}
	}
}

// maxPipeMessage is the most one PipeRequest carries: a Write of more is
// sent as several messages, below the daemon's message size limit, and
// large enough that per-message costs vanish next to the bytes.
const maxPipeMessage = 1 << 20

// send writes a Write's pieces to the stream, a message each, until its
// Write stops it, and reports the bytes sent. Sending hands a piece to the
// transport, which frees it once written; what is not sent is freed here.
func (c *Conn) send(j *writeJob) writeResult {
	var sent int
	for i, piece := range j.pieces {
		n := piece.Len()
		if !j.begin(n) {
			freeAll(j.pieces[i:])
			return writeResult{n: sent}
		}
		if err := c.stream.SendMsg(pipewire.RequestBuffer(piece)); err != nil {
			freeAll(j.pieces[i+1:])
			return writeResult{n: sent, err: c.whyEnded(err)}
		}
		sent += n
	}
	return writeResult{n: sent}
}

// copyPieces copies b into pooled buffers of at most maxPipeMessage bytes:
// the stream may hold on to what it sends after SendMsg returns, and
// buffers from gRPC's pool, given back by the transport, spare the garbage
// collector a fresh megabyte per Write.
func copyPieces(b []byte) []mem.Buffer {
	pieces := make([]mem.Buffer, 0, (len(b)+maxPipeMessage-1)/maxPipeMessage)
	for len(b) > 0 {
		n := min(len(b), maxPipeMessage)
		pieces = append(pieces, mem.Copy(b[:n], mem.DefaultBufferPool()))
		b = b[n:]
	}
	return pieces
}

func freeAll(pieces []mem.Buffer) {
	for _, p := range pieces {
		p.Free()
	}
}

// whyEnded turns the io.EOF with which gRPC refuses a send on an ended
// stream into the reason the stream ended, which the read side receives:
// the socket's error (econnreset, epipe, ...) rather than a bare EOF.
func (c *Conn) whyEnded(err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	// The reason follows the end at once, unless the read side is still
	// full of data nobody has read: it waits behind that.
	select {
	case <-c.failed:
		if !errors.Is(c.failure, io.EOF) {
			return c.failure
		}
	case <-time.After(failureWait):
	}
	return err
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
			return 0, c.readErr
		}
		select {
		case msg := <-c.incoming:
			c.take(msg)
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

// Write implements net.Conn. It returns once its bytes are on their way to
// the daemon; cut short by its deadline, CloseWrite or Close, it reports the
// bytes whose sending had begun, which still go out, as bytes already in a
// kernel's send buffer do.
func (c *Conn) Write(b []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if isClosed(c.done) {
		return 0, c.opError("write", net.ErrClosed)
	}
	if c.shutWr.Load() {
		// As the kernel answers a write after shutdown(SHUT_WR); sent on,
		// it would fail in the daemon and end the pipe, reads and all.
		return 0, c.opError("write", syscall.EPIPE)
	}
	expired := c.writeDeadline.wait()
	if err := c.finishInFlight("write", expired); err != nil {
		return 0, err
	}
	select {
	case <-expired:
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	default:
	}
	j := &writeJob{pieces: copyPieces(b)}
	if err := c.queue(j); err != nil {
		freeAll(j.pieces)
		return 0, c.opError("write", err)
	}
	select {
	case res := <-c.written:
		if res.err != nil {
			return res.n, c.opError("write", res.err)
		}
		return len(b), nil
	case <-expired:
		return c.leave(j, os.ErrDeadlineExceeded)
	case <-c.shutdown:
		return c.leave(j, syscall.EPIPE)
	case <-c.done:
		return c.leave(j, net.ErrClosed)
	}
}

// leave ends a Write before its answer came (why: its deadline, CloseWrite
// or Close), reporting the bytes whose sending began. Once the Conn is
// closed, whatever woke it, the writer goroutine may be gone, so a job it
// never took is freed here; otherwise the answer is still owed (inFlight).
func (c *Conn) leave(j *writeJob, why error) (int, error) {
	if isClosed(c.done) {
		return j.drop(), c.opError("write", net.ErrClosed)
	}
	c.inFlight = true
	return j.stop(), c.opError("write", why)
}

// queue hands j to the writer goroutine, after what was queued before; a
// Write's bytes are refused once CloseWrite has queued the half-close.
func (c *Conn) queue(j *writeJob) error {
	c.queueMu.Lock()
	defer c.queueMu.Unlock()
	switch {
	case isClosed(c.done):
		return net.ErrClosed
	case c.shutWr.Load() && j.closeWrite:
		return nil // half-closed already
	case c.shutWr.Load():
		return syscall.EPIPE
	case j.closeWrite:
		c.shutWr.Store(true)
		close(c.shutdown)
	}
	select {
	case c.writes <- j:
		return nil
	case <-c.done:
		return net.ErrClosed
	}
}

// finishInFlight waits, with writeMu held, for a write that returned early
// to reach the stream, since bytes written later must follow it; op names
// the call for its error.
func (c *Conn) finishInFlight(op string, expired <-chan struct{}) error {
	if !c.inFlight {
		return nil
	}
	if isClosed(c.done) {
		return c.opError(op, net.ErrClosed)
	}
	select {
	case res := <-c.written:
		c.inFlight = false
		if res.err != nil {
			return c.opError(op, res.err)
		}
		return nil
	case <-expired:
		return c.opError(op, os.ErrDeadlineExceeded)
	case <-c.done:
		return c.opError(op, net.ErrClosed)
	}
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
// stream is cancelled and the socket closed with a call of its own (bounded
// by 10 s more), and what had not reached the daemon is lost.
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
	finished := make(chan error, 1)
	done := c.sess.client.startDrain(c.sess.id)
	go func() {
		defer done()
		finished <- c.finishClose(closeTimeout)
	}()
	timer := time.NewTimer(closePrompt)
	defer timer.Stop()
	select {
	case err := <-finished:
		return err
	case <-timer.C:
		return nil
	}
}

// closePrompt is how long a Close with the default linger waits for the
// daemon to close the socket before it leaves the rest to the background.
const closePrompt = 250 * time.Millisecond

// finishClose sends the close message within linger (none when it is 0),
// waits for the stream's end, and falls back to closing the socket with a
// call of its own.
func (c *Conn) finishClose(linger time.Duration) error {
	defer c.cancel()
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
					return nil
				case <-timer.C:
				}
			}
		case <-timer.C:
		}
	}
	c.cancel() // ends a send still waiting, the close message's or a write's
	return c.sess.closeSocket(c.id)
}

// SetLinger sets how long bytes earlier Writes handed over may take to
// reach the daemon once Close is called: with sec < 0 (the default) up to
// 10 s, Close returning after closePrompt at the most (the rest drains in
// the background, and Client.Close waits for it); with sec > 0 up to sec
// seconds, Close waiting for them; with sec == 0 none (they are discarded).
// The socket is closed in the end all the same.
func (c *Conn) SetLinger(sec int) error {
	c.linger.Store(int64(sec))
	return nil
}

// lingerTime is how long Close waits for written bytes (SetLinger).
func (c *Conn) lingerTime() time.Duration {
	if sec := c.linger.Load(); sec >= 0 {
		return time.Duration(sec) * time.Second
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

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	return c.setDeadline(t, &c.readDeadline, &c.writeDeadline)
}

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(t, &c.readDeadline) }

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(t, &c.writeDeadline) }

// setDeadline moves ds to t; on a closed Conn it fails, as net's do.
func (c *Conn) setDeadline(t time.Time, ds ...*deadline) error {
	if isClosed(c.done) {
		return c.opError("set", net.ErrClosed)
	}
	for _, d := range ds {
		d.set(t)
	}
	return nil
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: c.local, Addr: c.remote, Err: asNetClosed(err)}
}

// deadline is a settable point in time with a channel that is closed when
// it passes (the design of net.Pipe's deadlines).
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline passes
}

func (d *deadline) init() { d.cancel = make(chan struct{}) }

// set moves the deadline; the zero time means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		ch := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(ch) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

// wait returns a channel closed once the deadline has passed.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// NetAddr converts a daemon address to a net.Addr: *net.TCPAddr (or
// *net.UDPAddr when network starts with "udp") for inet and inet6,
// *net.UnixAddr for local, nil otherwise.
func NetAddr(network string, a *sockdv1.SockAddr) net.Addr {
	var ip netip.Addr
	var port uint32
	var zone string
	switch f := a.GetFamily().(type) {
	case *sockdv1.SockAddr_Inet:
		ip, _ = netip.ParseAddr(f.Inet.GetAddress())
		port = f.Inet.GetPort()
	case *sockdv1.SockAddr_Inet6:
		ip, _ = netip.ParseAddr(f.Inet6.GetAddress())
		port = f.Inet6.GetPort()
		if f.Inet6.GetScopeId() != 0 {
			zone = fmt.Sprint(f.Inet6.GetScopeId())
		}
	case *sockdv1.SockAddr_Local:
		name := string(f.Local.GetPath())
		if strings.HasPrefix(name, "\x00") {
			name = "@" + name[1:] // an abstract name, as package net writes it
		}
		return &net.UnixAddr{Name: name, Net: "unix"}
	default:
		return nil
	}
	ap := netip.AddrPortFrom(ip.WithZone(zone), uint16(port))
	if len(network) >= 3 && network[:3] == "udp" {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// inetSockAddr parses "ip:port" for network tcp*/udp* into a daemon address
// and the domain to open.
func inetSockAddr(network, address string) (*sockdv1.SockAddr, Domain, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, Domain{}, fmt.Errorf("address %q: want an IP literal and a port: %w", address, err)
	}
	ip := ap.Addr().Unmap()
	wants6 := network == "tcp6" || network == "udp6"
	wants4 := network == "tcp4" || network == "udp4"
	switch {
	case ip.Is4() && !wants6:
		return inetAddr(&sockdv1.InetAddr{Host: &sockdv1.InetAddr_Address{Address: ip.String()}, Port: uint32(ap.Port())}), Inet, nil
	case ip.Is6() && !wants4:
		return inet6Addr(&sockdv1.Inet6Addr{Host: &sockdv1.Inet6Addr_Address{Address: ip.WithZone("").String()}, Port: uint32(ap.Port())}), Inet6, nil
	}
	return nil, Domain{}, fmt.Errorf("address %q does not fit network %q", address, network)
}
