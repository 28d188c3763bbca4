package client

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"google.golang.org/grpc/mem"

	"github.com/sockd/sockd/internal/pipewire"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// A writeJob is one Write's bytes, or the half-close, on its way to the
// writer goroutine. The writer copies the bytes a message at a time, as it
// sends them, while their Write waits: a Write of any size costs one
// message's copy in memory, and a Write that returns early (its deadline,
// CloseWrite, Close) has the writer start no further copy of the caller's
// slice, which the caller may then reuse.
type writeJob struct {
	data       []byte // the Write's slice: read only under mu, before stopped
	closeWrite bool   // no bytes: the half-close, after what was written before

	mu      sync.Mutex
	stopped bool // its Write returned early: start no further piece
	started int  // bytes of the pieces whose sending began
}

type writeResult struct {
	n   int
	err error
}

// next copies the job's next message, of at most maxPipeMessage bytes, and
// counts it as started; nil when all are, or the job was stopped.
func (j *writeJob) next() mem.Buffer {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.stopped || j.started == len(j.data) {
		return nil
	}
	n := min(len(j.data)-j.started, maxPipeMessage)
	piece := mem.Copy(j.data[j.started:j.started+n], mem.DefaultBufferPool())
	j.started += n
	return piece
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
			c.sendMu.Lock()
			var res writeResult
			switch {
			case isClosed(c.done): // Close may have the stream now: send nothing after its message
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
				return
			}
		case <-c.done:
			return
		case <-c.streamEnded:
			// Nothing more can be sent: Writes and queue see the end too.
			return
		}
	}
}

// maxPipeMessage is the most one PipeRequest carries: a Write of more is
// sent as several messages, below the daemon's message size limit, and
// large enough that per-message costs vanish next to the bytes.
const maxPipeMessage = 1 << 20

// send writes a Write's bytes to the stream, a message each, until its
// Write stops it, and reports the bytes sent. Sending hands a message's
// copy to the transport, which frees it once written.
func (c *Conn) send(j *writeJob) writeResult {
	var sent int
	for piece := j.next(); piece != nil; piece = j.next() {
		n := piece.Len()
		if err := c.stream.SendMsg(pipewire.RequestBuffer(piece)); err != nil {
			return writeResult{n: sent, err: c.whyEnded(err)}
		}
		sent += n
	}
	return writeResult{n: sent}
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
	if err := c.failedSocket(); err != nil {
		// As the kernel answers a write after the socket failed: the
		// daemon would drop the bytes.
		return 0, c.opError("write", err)
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
	j := &writeJob{data: b}
	if err := c.queue(j); err != nil {
		return 0, c.opError("write", err)
	}
	select {
	case res := <-c.written:
		return c.wrote(res, len(b))
	case <-c.streamEnded:
		select {
		case res := <-c.written:
			return c.wrote(res, len(b))
		default:
			return c.leave(j, c.whyEnded(io.EOF))
		}
	case <-expired:
		return c.leave(j, os.ErrDeadlineExceeded)
	case <-c.shutdown:
		return c.leave(j, syscall.EPIPE)
	case <-c.done:
		return c.leave(j, net.ErrClosed)
	}
}

// wrote is the answer to a Write of n bytes.
func (c *Conn) wrote(res writeResult, n int) (int, error) {
	if res.err != nil {
		return res.n, c.opError("write", res.err)
	}
	return n, nil
}

// leave ends a Write before its answer came (why: its deadline, CloseWrite
// or Close), reporting the bytes whose sending began. Unless the Conn is
// closed, whatever woke it, the answer is still owed (inFlight).
func (c *Conn) leave(j *writeJob, why error) (int, error) {
	n := j.stop()
	if isClosed(c.done) {
		return n, c.opError("write", net.ErrClosed)
	}
	c.inFlight = true
	return n, c.opError("write", why)
}

// queue hands j to the writer goroutine, after what was queued before; a
// Write's bytes are refused once CloseWrite has queued the half-close.
func (c *Conn) queue(j *writeJob) error {
	c.queueMu.Lock()
	defer c.queueMu.Unlock()
	switch {
	case isClosed(c.done):
		return net.ErrClosed
	case isClosed(c.streamEnded):
		return c.whyEnded(io.EOF)
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
	case <-c.streamEnded:
		return c.whyEnded(io.EOF)
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
	case <-c.streamEnded:
		// The write may never be answered (the writer has returned); one
		// that is stays in written, which no later Write waits for: they
		// all find the stream ended.
		return c.opError(op, c.whyEnded(io.EOF))
	case <-expired:
		return c.opError(op, os.ErrDeadlineExceeded)
	case <-c.done:
		return c.opError(op, net.ErrClosed)
	}
}
