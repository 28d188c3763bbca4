package server

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/internal/inflight"
	"github.com/sockd/sockd/internal/pipewire"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// pipeChunk is the most a Pipe reads from its socket for one PipeResponse.
// Flow control needs no buffer of its own: the downlink holds one chunk
// while gRPC's window lets it go, and the uplink holds one request while the
// socket takes it.
const pipeChunk = 64 << 10

// streamCaller is the engine identity of a Pipe. Its calls are
// blocking, so it receives no events; it exists so that the lanes see the
// pipe as a requestor distinct from its session's own nowait calls. It is
// as mortal as its session: a pipe does not outlive the session that
// opened it, as a dying Erlang process's calls do not.
type streamCaller struct {
	id   string
	gone <-chan struct{}
}

func (c *streamCaller) CallerID() string      { return c.id }
func (c *streamCaller) Deliver(engine.Event)  {}
func (c *streamCaller) Gone() <-chan struct{} { return c.gone }

// errPipeReported ends a Pipe whose socket error was sent in-band.
var errPipeReported = errors.New("socket error reported")

// errPipeClosed ends a Pipe whose client asked for the socket to be closed.
var errPipeClosed = errors.New("socket closed by the pipe's client")

// errPipeDetached ends a Pipe whose client asked to leave the socket open.
var errPipeDetached = errors.New("pipe detached by its client")

// Pipe implements sockdv1.SocketServiceServer: the client's data is written
// to the socket in order, the socket's data streams back, close_write shuts
// the socket's write side down, and the peer's shutdown reaches the client
// as eof. The socket stays open when the pipe ends, unless the client's
// close message asked for it to be closed (or the session that owns it
// ended).
func (s *Service) Pipe(stream sockdv1.SocketService_PipeServer) error {
	wire := wireStreamOf(stream.Context())
	var first pipewire.Request
	err := stream.RecvMsg(&first)
	if errors.Is(err, io.EOF) {
		return invalidArgument("socket_id", "required: the stream ended before its first message")
	}
	if err != nil {
		return err
	}
	wire.Read(first.Size())
	first.Release() // data first: no socket id, refused below
	field, id := "socket_id", first.Msg.GetSocketId()
	start := first.Msg.GetStart()
	if start != nil {
		field, id = "start.socket_id", start.GetSocketId()
	}
	sess, sock, err := s.streamSocket(stream.Context(), field, id)
	if err != nil {
		return err
	}
	if !sock.ClaimStream(stream.Context(), streamHandover) {
		return socketStreamed(field, sock.ID())
	}
	defer sock.ReleaseStream()
	// Claimed, the socket's reads are this pipe's (or the caller's own
	// calls'): what it has read is what earlier readers took.
	if start != nil && start.ReadBytes != nil && sock.BytesRead() != start.GetReadBytes() {
		return socketReadDiffers(sock.ID(), sock.BytesRead(), start.GetReadBytes())
	}
	// Its first chunk goes out whatever the bound (streamAccount.waitRoom):
	// charged from now, while the pipe lives, and refused past the bound
	// once charged, for streams opened together passed its check at their
	// start together (a reviewer's 294 pipes opened before any said its
	// socket, each prepaying after, past a bound of 254).
	auth, _ := peerAuthOf(stream.Context())
	answers := newStreamAccount(auth.answers)
	answers.prepay(pipeChunk + pipeChunkOverhead)
	defer answers.end()
	if answers != nil {
		if err := s.answersRefusal(auth); err != nil {
			return err
		}
	}
	adm, err := s.admitStream(sess)
	if err != nil {
		return err
	}
	if err := stream.Send(&sockdv1.PipeResponse{Ready: true}); err != nil {
		adm.done()
		return err
	}
	p := &pipe{stream: stream, wire: wire, sock: sock, caller: &streamCaller{id: sess.id + "/pipe", gone: sess.Gone()},
		load: sess.load, limit: s.limits.MaxPrincipalBytes, answers: answers,
		admin: func() bool { return s.isAdmin(auth.principal) }, release: adm.done}
	if start.GetHoldReads() {
		p.reading = make(chan struct{})
	}
	p.parties.Store(2) // this handler and the uplink goroutine
	defer p.leave()
	return p.run(stream.Context())
}

// streamSocket resolves a socket the caller may use and checks that it is a
// connected stream socket.
func (s *Service) streamSocket(ctx context.Context, field, id string) (*Session, *engine.Socket, error) {
	if err := checkSocketID(field, id); err != nil {
		return nil, nil, err
	}
	sess, sock, err := s.target(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if sock.Type() != unix.SOCK_STREAM {
		return nil, nil, notConnectedStream(field, id, "not a stream socket")
	}
	if _, err := sock.PeerName(); err != nil {
		return nil, nil, notConnectedStream(field, id, "not connected: "+err.Error())
	}
	return sess, sock, nil
}

// streamHandover is how long a Pipe or Relay waits for another that carries
// its socket to end before it is refused SOCKET_STREAMED: one whose client
// cancelled it may still be finishing (a relay writes out what it has read,
// for up to engine.RelayFlushTimeout), and a client that starts again at
// once should not be refused for that.
const streamHandover = engine.RelayFlushTimeout + time.Second

// pipe is one Pipe stream bound to one socket.
type pipe struct {
	stream sockdv1.SocketService_PipeServer
	// wire is the stream on its connection, told what the pipe has read
	// of it, once what it holds is counted as the pipe's.
	wire   inflight.Stream
	sock   *engine.Socket
	caller *streamCaller
	// What the uplink holds while the socket takes it counts among its
	// principal's bytes, up to limit, as a waiting Send's data does.
	load  *principalLoad
	limit int
	// What the downlink read stays on the connection's answer account
	// while gRPC holds it, and while that is saturated it reads no more
	// until gRPC has let go of what it sent (streamAccount.waitRoom): a
	// client that reads nothing of its pipes held 220 KB a pipe, uncounted
	// (a reviewer's 1,000 pipes: 220 MB past a 16 MiB bound).
	answers *streamAccount
	admin   func() bool // whether the pipe's principal is an admin (waitRoom)
	// closing: the client asked for the close, so the downlink's read that
	// the close ends is no failure to report.
	closing atomic.Bool
	// reading, when not nil, holds the downlink until the uplink closes it
	// (once) on the client's read (PipeStart.hold_reads).
	reading  chan struct{}
	readOnce sync.Once

	// The pipe's pending-operation place is given back (release) when
	// both the handler and the uplink goroutine have left: the uplink may
	// outlive the handler, since its Recv ends only once the handler has
	// returned.
	parties atomic.Int32
	release func()
}

func (p *pipe) leave() {
	if p.parties.Add(-1) == 0 {
		p.release()
	}
}

// run moves bytes both ways until both directions are done: the client has
// stopped sending and the peer has shut down, or either side failed.
func (p *pipe) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	up := make(chan error, 1)
	down := make(chan error, 1)
	go func() {
		defer p.leave()
		err := p.uplink(ctx)
		up <- err
		if errors.As(err, new(socketFailure)) {
			p.discardUplink()
		}
	}()
	go func() { down <- p.downlink(ctx) }()
	upDone, downDone := false, false
	// Once the downlink has sent eof, nothing but the client's next message
	// would end the uplink's wait: the socket's close, the session's end and
	// ctx's are watched here then, and answered as the downlink answers them.
	var sockClosed, sessEnded, ended <-chan struct{}
	for !upDone || !downDone {
		select {
		case err := <-up:
			upDone = true
			if err == nil {
				continue
			}
			// Only the downlink sends on the stream: stop it first.
			cancel()
			if !downDone {
				if derr := <-down; errors.Is(derr, errPipeReported) {
					return nil // it reported the socket's error: one is enough
				}
			}
			if errors.Is(err, errPipeClosed) || errors.Is(err, errPipeDetached) {
				return nil
			}
			var se socketFailure
			if errors.As(err, &se) {
				return p.stream.Send(&sockdv1.PipeResponse{Error: se.err})
			}
			return err
		case err := <-down:
			downDone = true
			if err == nil {
				sockClosed, sessEnded, ended = p.sock.Done(), p.caller.gone, ctx.Done()
				continue
			}
			// The uplink's stream.Recv ends when the handler returns.
			if errors.Is(err, errPipeReported) {
				return nil
			}
			return err
		case <-sockClosed:
			if p.closing.Load() {
				sockClosed = nil // the client's own close, which the uplink answers
				continue
			}
			return p.stream.Send(&sockdv1.PipeResponse{Error: socketError(engine.ErrClosed)})
		case <-sessEnded:
			return p.stream.Send(&sockdv1.PipeResponse{Error: socketError(engine.ErrCancelled)})
		case <-ended:
			// The client went away, or a policy reload took the right the
			// pipe was opened by.
			return context.Cause(ctx)
		}
	}
	return nil
}

// socketFailure carries a socket error out of the uplink, so that the
// downlink's goroutine, the only sender, is stopped before it is reported.
type socketFailure struct{ err *sockdv1.SocketError }

func (f socketFailure) Error() string { return f.err.GetReason() }

// uplink writes the client's data to the socket. It returns nil when the
// client has finished sending.
func (p *pipe) uplink(ctx context.Context) error {
	for {
		// With pipewire's codec (installed by the daemon) data stays in
		// gRPC's buffers until the socket has it.
		var req pipewire.Request
		err := p.stream.RecvMsg(&req)
		if errors.Is(err, io.EOF) {
			// A client that sends nothing more will not say read: a
			// held downlink would wait for ever, its peer's end untold.
			p.startReading()
			return nil
		}
		if err != nil {
			return err
		}
		if req.Held() {
			n := req.Len()
			if err := p.holdUpload(ctx, n); err != nil {
				req.Release()
				return err
			}
			p.wire.Read(req.Size())
			res := p.sock.SendMsg(ctx, p.caller, req.Iov(), nil, nil, 0, engine.Timeout{Kind: engine.WaitInfinity})
			req.Release()
			p.load.release(n)
			if err := p.sent(res); err != nil {
				return err
			}
			continue
		}
		if _, data := req.Msg.GetMsg().(*sockdv1.PipeRequest_Data); !data {
			p.wire.Read(req.Size())
		}
		switch msg := req.Msg.GetMsg().(type) {
		case *sockdv1.PipeRequest_Data:
			if err := p.holdUpload(ctx, len(msg.Data)); err != nil {
				return err
			}
			p.wire.Read(req.Size())
			res := p.sock.Send(ctx, p.caller, msg.Data, 0, engine.Timeout{Kind: engine.WaitInfinity})
			p.load.release(len(msg.Data))
			if err := p.sent(res); err != nil {
				return err
			}
		case *sockdv1.PipeRequest_CloseWrite:
			if !msg.CloseWrite {
				continue
			}
			if se, err := outcome(p.sock.PassOnEnd()); err != nil {
				return err
			} else if se != nil {
				return socketFailure{se}
			}
		case *sockdv1.PipeRequest_Close:
			if !msg.Close {
				continue
			}
			p.closing.Store(true)
			if se, err := outcome(p.sock.Close()); err != nil {
				return err
			} else if se != nil && se.GetKind() != sockdv1.SocketError_KIND_CLOSED {
				return socketFailure{se}
			}
			return errPipeClosed
		case *sockdv1.PipeRequest_Detach:
			if !msg.Detach {
				continue
			}
			return errPipeDetached
		case *sockdv1.PipeRequest_Read:
			if msg.Read {
				p.startReading()
			}
		case *sockdv1.PipeRequest_SocketId:
			return invalidArgument("socket_id", "only the first message names the socket")
		case *sockdv1.PipeRequest_Start:
			return invalidArgument("start", "only the first message names the socket")
		default:
			return invalidArgument("msg", "empty PipeRequest")
		}
	}
}

// startReading lets a held downlink read (PipeStart.hold_reads).
func (p *pipe) startReading() {
	if p.reading != nil {
		p.readOnce.Do(func() { close(p.reading) })
	}
}

// holdUpload counts n bytes of the upload among the principal's bytes while
// the socket takes them, and waits while its bound, or the daemon's, leaves
// no room: meanwhile the pipe reads nothing more, and the client's window
// holds back what it sends. Ending the pipe instead lost what the client
// had sent (a reviewer's net.Conn, whose writes had returned, lost them all
// when blocking recvs of the same principal filled the bound).
func (p *pipe) holdUpload(ctx context.Context, n int) error {
	var err error
	if werr := pollUntil(ctx, func() bool {
		err = p.load.hold(n, p.limit)
		return status.Code(err) != codes.ResourceExhausted
	}); werr != nil {
		return werr
	}
	return err
}

// maxUploadWait is the longest a stream that waits for room (a pipe's
// upload, an answer's sender: pollUntil) sleeps before it looks again.
const maxUploadWait = 50 * time.Millisecond

// discardUplink reads and drops what the client still sends after the
// socket refused the uplink, until the stream ends. The error is reported
// after what the downlink had read, which may wait for the client to read
// it; a client that sends everything before it reads would otherwise wait
// for the daemon to read while the daemon waits for it.
func (p *pipe) discardUplink() {
	for {
		var req pipewire.Request
		if err := p.stream.RecvMsg(&req); err != nil {
			return
		}
		p.wire.Read(req.Size())
		req.Release()
	}
}

// sent is the uplink's error for a send's result, nil if all was sent.
func (p *pipe) sent(res engine.SendResult) error {
	se, err := pipeOutcome(res.Err)
	if err != nil {
		return err
	}
	if se != nil {
		return socketFailure{se}
	}
	return nil
}

// downlink streams what the socket receives to the client, then eof when
// the peer shuts down. A socket error is sent in-band and ends the pipe.
func (p *pipe) downlink(ctx context.Context) error {
	if p.reading != nil {
		// Until the client says read; the socket's close and the session's
		// end are reported as the first read would find them.
		select {
		case <-p.reading:
		case <-ctx.Done():
		case <-p.sock.Done():
		case <-p.caller.gone:
		}
	}
	for {
		// Ended (a detach, or the uplink failed): read nothing more, so that
		// what stays in the socket is there for the next reader. A recv
		// tries the socket before it looks at ctx.
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := p.answers.waitRoom(ctx, p.admin); err != nil {
			return err
		}
		// Each read goes into a chunk that the transport gives back once it
		// has written the bytes: nothing is copied per read but a small one.
		res, buf := p.sock.RecvInto(ctx, p.caller, chunks, pipeChunk, 0, engine.Timeout{Kind: engine.WaitInfinity})
		if len(res.Data) > 0 {
			if err := p.stream.SendMsg(pipewire.ResponseBuffer(p.outgoing(buf, res.Data))); err != nil {
				return err
			}
		} else if buf != nil {
			chunks.Put(buf)
		}
		switch {
		case res.Err == nil:
			continue
		case errors.Is(res.Err, engine.ErrClosed) && !p.sock.Closed():
			// Also when a reset came after the peer's end, or before it
			// and the uplink's send took its error: the end reads the
			// same either way (package net's Read says io.EOF too), and
			// that error follows (a reviewer's econnreset for a clean end,
			// when this told the two apart by the socket's state).
			return p.stream.Send(&sockdv1.PipeResponse{Eof: true})
		case errors.Is(res.Err, engine.ErrClosed) && p.closing.Load():
			return nil // the client's own close, which the uplink answers
		}
		se, err := pipeOutcome(res.Err)
		if err != nil {
			return err
		}
		if err := p.stream.Send(&sockdv1.PipeResponse{Error: se}); err != nil {
			return err
		}
		return errPipeReported
	}
}

// outgoing is the buffer that hands data, read into the chunk buf, to
// gRPC, on the pipe's answer account until gRPC is done with it. A read of
// a quarter chunk or less is copied into a buffer of its size and the chunk
// goes back to its pool: gRPC queues a stream's messages up to its window
// of their bytes, and each small read kept its whole chunk, and was
// charged it (a reviewer's unread pipes of 100-byte reads: 41 MB each).
func (p *pipe) outgoing(buf *[]byte, data []byte) mem.Buffer {
	held, pool := buf, mem.BufferPool(chunks)
	if len(data) <= pipeChunk/4 {
		held, pool = pipewire.CopyToAnswerBuffer(data)
		chunks.Put(buf)
	} else {
		*buf = data
	}
	if p.answers != nil {
		pool = pipewire.Charged(pool, p.answers, cap(*held)+pipeChunkOverhead)
	}
	return mem.NewBuffer(held, pool)
}

// pipeChunkOverhead is what a Pipe's message costs gRPC beside its bytes
// while queued on its stream: its frame, its buffer's and its list's
// entries (the stream's own cost is counted once, as it opens).
const pipeChunkOverhead = 512

// pipeOutcome is outcome for a pipe's send or recv: one its session's end
// cut short ends the pipe in-band, cancelled, as the pipe's own watch of
// the session does (a Relay's too), rather than fail the stream as a
// blocking call of the session does: what the pipe carried stays told.
func pipeOutcome(err error) (*sockdv1.SocketError, error) {
	if errors.Is(err, engine.ErrCallerGone) {
		err = engine.ErrCancelled
	}
	return outcome(err)
}

// chunks recycles the downlinks' read buffers of pipeChunk bytes: a read
// fills what is sent.
var chunks = new(inflight.UnclearedPool)
