package client

import (
	"net"
	"os"
	"sync"
	"syscall"

	"google.golang.org/grpc/mem"

	"github.com/sockd/sockd/internal/pipewire"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

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
