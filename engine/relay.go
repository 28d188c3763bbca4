package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// spliceChunk is the most one splice(2) moves, and each pipe's capacity when
// the kernel allows it (fs.pipe-max-size, 1 MiB by default; otherwise the
// pipe keeps its 64 KiB and splices move less). A relay holds at most
// 2 × relayDepth pipes, 4 MiB in flight. Measured with bulkbench (-endpoints
// discard, 3 rounds): 256 KiB pipes 1910 MB/s and 0.40 s of CPU per GiB,
// 1 MiB 2233–2382 MB/s and 0.27–0.30 s, 2 MiB 1794 MB/s and 0.46 s.
const spliceChunk = 1 << 20

// RelayResult is what a finished Relay moved, and why it ended.
type RelayResult struct {
	AToB, BToA uint64
	// DroppedAToB and DroppedBToA are bytes read from one socket that
	// could not be written to the other: its socket failed, or its peer
	// took nothing for RelayFlushTimeout after the relay was told to end.
	// They are gone from the stream.
	DroppedAToB, DroppedBToA uint64
	// Err is nil when both directions reached end of data, otherwise what
	// ended the relay: ErrClosed (a socket was closed), an Errno
	// (econnreset, epipe, ..., or of a pipe), ctx's error, or a *QuotaError
	// when MaxSockets had no room for its pipes and it never started.
	Err error
}

// Relay joins two connected stream sockets: bytes move each way with
// splice(2) through a pipe, never through user space (except into a local
// socket acting for a user, see sendPiped), until both directions
// have reached end of data, a socket fails or is closed, or ctx ends. End of
// data on one side is passed on as shutdown(SHUT_WR) of the other; that
// side is then watched for a failure (watchFailure), which nothing would
// read otherwise. Both sockets stay open afterwards.
//
// Each direction is a blocking reader of its source and a blocking writer
// of its destination, queued in their lanes like any other blocking call,
// so the fds are pinned while a splice runs and waits cost no polling. The
// relay uses one goroutine besides the caller's.
//
// admitted, if not nil, is called once the relay has its places among
// MaxSockets, before any byte moves: a relay refused for them returns
// without calling it.
func Relay(ctx context.Context, a, b *Socket, admitted func()) RelayResult {
	// Its pipes' descriptors take places among MaxSockets: past it, the
	// daemon's own listeners could not accept.
	if err := a.e.reserveN(RelayDescriptors); err != nil {
		return RelayResult{Err: err}
	}
	defer a.e.unreserveN(RelayDescriptors)
	if admitted != nil {
		admitted()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// cause is the first error: the other half then ends with ctx's.
	var (
		mu    sync.Mutex
		cause error
	)
	rs := &relayState{}
	fail := func(err error) {
		mu.Lock()
		if cause == nil && err != errRelayFailed {
			cause = err
		}
		mu.Unlock()
		cancel()
	}
	var watches sync.WaitGroup // ended by the cancel before the return
	run := func(src, dst *Socket) moved {
		m, err := forward(ctx, rs, src, dst)
		if err != nil {
			fail(err)
			return m
		}
		// src's bytes have ended while the other direction may still write
		// to it: a reset of src (its peer gone, answering those bytes)
		// would go unseen until that direction's next write, and the relay
		// would end as if all went well (a reviewer's relay ran on, and
		// ended OK, with the bytes it had moved to src lost).
		watches.Go(func() {
			if err := watchFailure(ctx, src); err != nil && ctx.Err() == nil {
				rs.failed.Store(true)
				fail(err)
			}
		})
		return m
	}
	back := make(chan moved, 1)
	go func() { back <- run(b, a) }()
	aToB := run(a, b)
	bToA := <-back
	cancel()
	watches.Wait()
	mu.Lock()
	defer mu.Unlock()
	return RelayResult{AToB: aToB.written, BToA: bToA.written, DroppedAToB: aToB.dropped, DroppedBToA: bToA.dropped, Err: cause}
}

// watchFailure waits, as a reader of s whose incoming bytes have ended,
// until s fails (a reset: SO_ERROR) or ctx ends, and returns the failure.
// It costs no polling: an edge on s (a reset brings one) wakes it.
func watchFailure(ctx context.Context, s *Socket) error {
	job := &failureWatch{s: s}
	_, err := s.perform(ctx, &relayCaller{}, OpRecv, Timeout{Kind: WaitInfinity}, job)
	if err == nil {
		err = job.err
	}
	return err
}

// failureWatch is watchFailure's job: done once s has an error to report.
type failureWatch struct {
	s   *Socket
	err error
}

func (j *failureWatch) completion() *Completion { return nil }

func (j *failureWatch) attempt() (bool, error) {
	at := j.s.harvest()
	errno, err := unix.GetsockoptInt(j.s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		j.err = err
		return true, err
	case errno != 0:
		j.err = unix.Errno(errno)
		return true, j.err
	}
	// It waits for the next edge, but found nothing of the data, which is
	// there (an end at least): a reader after it tries the syscall, as
	// after a read of the error queue, rather than wait for an edge that
	// will not come (a reviewer's Recv queued behind it hung).
	j.s.rd.empty(at)
	j.s.rd.otherQueue = true
	return false, nil
}

// relayState is what a relay's two directions share. Linux reports a
// socket's error once: a reset that one direction's write to a socket
// takes leaves the other direction's read of it an end of data, which must
// not be passed on as one.
type relayState struct {
	failed atomic.Bool // a direction met an error
}

// errRelayFailed ends the direction that reads an end of data after the
// other direction failed: that failure is the relay's.
var errRelayFailed = errors.New("relay failed")

// fail records a direction's error; the ends of the relay's cancel are none.
func (rs *relayState) fail(err error) {
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		rs.failed.Store(true)
	}
}

// endOf decides an end of data read from src: nil for one to pass on, or
// why not: the other direction failed, or src was reset (endWasReset).
func (rs *relayState) endOf(src *Socket) error {
	if rs.failed.Load() {
		return errRelayFailed
	}
	if src.endWasReset() {
		rs.failed.Store(true)
		return unix.ECONNRESET
	}
	return nil
}

// endWasReset reports whether an end of data read from s was a reset, whose
// error the kernel gave to another call (a send): s's TCP connection is
// closed though its write side was never shut down, so no FIN of its own
// could have been acknowledged. The state is read before the flag, which a
// shutdown sets before its FIN can go: a close that FIN's acknowledgment
// made is never taken for a reset. A peer's end followed by a reset, before
// the end was read, reads as a reset too: the state tells them apart no
// more.
func (s *Socket) endWasReset() bool {
	var closed bool
	s.Control(func(fd int) error {
		state, ok := tcpState(fd)
		closed = ok && state == tcpClose
		return nil
	})
	return closed && !s.endWritten.Load()
}

// passOnEnd shuts dst's write side down, an end of data read from src.
func (rs *relayState) passOnEnd(src, dst *Socket) error {
	if err := rs.endOf(src); err != nil {
		return err
	}
	err := dst.PassOnEnd()
	rs.fail(err)
	return err
}

// moved is what one direction wrote, and what it read but could not write.
type moved struct{ written, dropped uint64 }

// RelayFlushTimeout bounds how long a relay told to end (its call ended, the
// other direction failed, or a source failed or was closed) goes on writing
// what it has already read: it
// reads nothing more, but bytes taken from a socket are not dropped while
// the other side's peer still takes them.
const RelayFlushTimeout = 2 * time.Second

// relayCaller is the requestor identity of a relay's blocking calls; blocking
// requestors receive no events.
type relayCaller struct{}

func (*relayCaller) CallerID() string { return "relay" }
func (*relayCaller) Deliver(Event)    {}

// relayDepth is how many pipes a direction cycles through: while one is
// being written to the destination, the next fills from the source, so the
// source's receive window keeps opening while the destination drains.
const relayDepth = 2

// RelayPipes is how many pipes a running Relay holds (two descriptors
// each), for callers that bound the descriptors a client may make the
// daemon hold.
const RelayPipes = 2 * relayDepth

// RelayDescriptors is how many descriptors a running Relay's pipes hold;
// they take as many places among MaxSockets.
const RelayDescriptors = 2 * RelayPipes

// filledPipe is one pipe's worth of a direction handed from its reading
// half to its writing half: n bytes, or the source's end (n == 0) or error.
type filledPipe struct {
	pipe *splicePipe
	n    int
	err  error
	// tail holds the n bytes left when they were read out of the pipe
	// (sendPiped) and not written: they are written from here.
	tail []byte
}

// forward moves src's bytes to dst until src's end of data (then dst's
// write side is shut down) or an error. Reading and writing overlap: a
// goroutine splices the source into one pipe while this one splices the
// previous pipe into the destination. Told to end (ctx), it reads no more
// and writes out what it has read, in order, within RelayFlushTimeout.
func forward(ctx context.Context, rs *relayState, src, dst *Socket) (moved, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	free := make(chan *splicePipe, relayDepth)
	for range relayDepth {
		p, err := newSplicePipe()
		if err != nil {
			close(free)
			for p := range free {
				p.close()
			}
			return moved{}, err
		}
		free <- p
	}
	full := make(chan filledPipe, relayDepth)
	readerDone := make(chan struct{})
	// A source that fails or is closed ends the relay as a cancel does:
	// what was read is flushed within RelayFlushTimeout, not for as long
	// as the destination's peer takes nothing.
	var readErr error
	go func() {
		defer close(readerDone)
		if readErr = fill(ctx, src, free, full); readErr != nil {
			rs.fail(readErr)
			cancel()
		}
	}()

	total, left, err := empty(ctx, rs, src, dst, free, full)
	cancel()
	<-readerDone
	// Every pipe is now in free, in full, or left (the one being written
	// when empty stopped); none is in a splice.
	close(free)
	close(full)
	for p := range free {
		p.close()
	}
	// Pipes are left only when empty stopped early (err is set): the
	// flush's own failures show in the dropped count, not in err.
	flushCtx, stop := context.WithTimeout(context.Background(), RelayFlushTimeout)
	defer stop()
	fl := flusher{ctx: flushCtx, rs: rs, src: src, dst: dst, m: moved{written: total}, dropping: !stopped(err)}
	if left.pipe != nil {
		fl.flush(left)
	}
	for f := range full {
		fl.flush(f)
	}
	if readErr != nil && stopped(err) {
		err = readErr // what ended it, rather than the cancel it made
	}
	return fl.m, err
}

// flusher writes out, in order, the pipes a relay read before it was told
// to end. Once it cannot write a byte (the destination failed, the flush ran
// out of time, the bytes were no longer in their pipe), it writes nothing
// more, so that what the destination's peer gets has no hole: the rest
// counts as dropped.
type flusher struct {
	ctx      context.Context
	rs       *relayState
	src, dst *Socket
	m        moved
	dropping bool
	buf      []byte // sendPiped's
}

// flush writes f, or counts it dropped, and closes its pipe. An end of data
// the relay had read is passed on as shutdown, as empty does.
func (fl *flusher) flush(f filledPipe) {
	defer f.pipe.close()
	switch {
	case f.err != nil:
		return
	case f.n == 0:
		if !fl.dropping {
			fl.rs.passOnEnd(fl.src, fl.dst) // a failure here leaves nothing to drop
		}
		return
	}
	if !fl.dropping {
		written, _ := writePipe(fl.ctx, fl.src, fl.dst, &relayCaller{}, &f, &fl.buf) // what it leaves in f is dropped below
		fl.m.written += uint64(written)
	}
	if f.n > 0 {
		fl.dropping = true
		fl.m.dropped += uint64(f.n)
		fl.src.relayDropped.Add(uint64(f.n))
	}
}

// stopped reports whether err leaves the destination writable: none, or
// the relay was told to end.
func stopped(err error) bool {
	return err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fill splices src into free pipes and hands them on, until src's end of
// data or an error (sent as the last filledPipe, and returned), or ctx ends.
func fill(ctx context.Context, src *Socket, free <-chan *splicePipe, full chan<- filledPipe) error {
	c := &relayCaller{}
	wait := Timeout{Kind: WaitInfinity}
	for {
		var p *splicePipe
		select {
		case p = <-free:
		case <-ctx.Done():
			return nil
		case <-src.closedC:
			// Not reading (every pipe waits for the destination), so no
			// abort tells it.
			return ErrClosed
		}
		in := &spliceIn{src: src, pipe: p}
		_, err := src.perform(ctx, c, OpRecv, wait, in)
		if err == nil {
			err = in.err
		}
		full <- filledPipe{pipe: p, n: in.n, err: err}
		if err == nil {
			err = in.late // its bytes are on their way; it ends the relay as a failure does
		}
		if err != nil && ctx.Err() == nil {
			return err
		}
		if err != nil || in.n == 0 {
			return nil
		}
	}
}

// empty writes filled pipes to dst and returns them to free, until the
// source's end (dst's write side is then shut down), an error, or ctx's end.
// What it writes counts as relayed out of src. left is the pipe it was
// writing when it stopped, with the bytes still in it (none: left.pipe nil).
func empty(ctx context.Context, rs *relayState, src, dst *Socket, free chan<- *splicePipe, full <-chan filledPipe) (total uint64, left filledPipe, err error) {
	c := &relayCaller{}
	var copyBuf []byte // sendPiped's
	for {
		var f filledPipe
		select {
		case f = <-full:
		case <-ctx.Done():
			return total, filledPipe{}, ctx.Err()
		}
		switch {
		case f.err != nil:
			free <- f.pipe
			return total, filledPipe{}, f.err
		case f.n == 0:
			free <- f.pipe
			if err := rs.passOnEnd(src, dst); err != nil {
				return total, filledPipe{}, err
			}
			return total, filledPipe{}, nil
		}
		written, err := writePipe(ctx, src, dst, c, &f, &copyBuf)
		total += uint64(written)
		if err != nil {
			rs.fail(err)
			return total, f, err
		}
		free <- f.pipe
	}
}

// writePipe writes what f holds to dst, counts it as relayed out of src,
// and leaves in f.n what it could not (in f.tail when those bytes are no
// longer in the pipe).
func writePipe(ctx context.Context, src, dst *Socket, c Caller, f *filledPipe, copyBuf *[]byte) (int, error) {
	written, err := writeFilled(ctx, dst, c, f, copyBuf)
	f.n -= written
	src.relayed.Add(uint64(written))
	return written, err
}

func writeFilled(ctx context.Context, dst *Socket, c Caller, f *filledPipe, copyBuf *[]byte) (int, error) {
	if f.tail != nil {
		r := dst.Send(ctx, c, f.tail, 0, Timeout{Kind: WaitInfinity})
		f.tail = f.tail[r.Sent:]
		return r.Sent, r.Err
	}
	if dst.credsMsg != nil {
		written, unsent, err := sendPiped(ctx, dst, c, *f, copyBuf)
		if len(unsent) > 0 {
			// Read out of the pipe, not written: kept for a flush.
			f.tail = bytes.Clone(unsent)
		}
		return written, err
	}
	out := &spliceOut{dst: dst, pipe: f.pipe, pending: f.n}
	_, err := dst.perform(ctx, c, OpSend, Timeout{Kind: WaitInfinity}, out)
	if err == nil {
		err = out.err
	}
	return out.moved, err
}

// sendPiped writes a filled pipe to dst through user space: a local socket
// acting for a user sends the user's credentials with its bytes (actFor),
// which splice(2) cannot attach, so its share of a relay is read from the
// pipe and sent with Send. buf is kept between calls. unsent is what was
// read out of the pipe and not sent (it aliases buf).
func sendPiped(ctx context.Context, dst *Socket, c Caller, f filledPipe, buf *[]byte) (sent int, unsent []byte, err error) {
	if *buf == nil {
		*buf = make([]byte, spliceChunk)
	}
	b := (*buf)[:f.n]
	for got := 0; got < f.n; {
		n, err := unix.Read(f.pipe.r, b[got:])
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, nil, err
		case n == 0:
			return 0, nil, unix.EIO // cannot happen: the pipe holds f.n bytes
		}
		got += n
	}
	r := dst.Send(ctx, c, b, 0, Timeout{Kind: WaitInfinity})
	if r.Err == nil && r.Sent < len(b) {
		r.Err = io.ErrShortWrite // a blocking stream send cannot stop short without an error
	}
	return r.Sent, b[r.Sent:], r.Err
}

// splicePipe is the kernel pipe a direction's bytes pass through.
type splicePipe struct{ r, w int }

func newSplicePipe() (*splicePipe, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return nil, err
	}
	// A larger pipe moves more per splice; the default (64 KiB) still works.
	unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, spliceChunk)
	return &splicePipe{r: fds[0], w: fds[1]}, nil
}

func (p *splicePipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

func sysSplice(from, to, n int) (int, error) {
	for {
		m, err := unix.Splice(from, nil, to, nil, n, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
		if err == unix.EINTR {
			continue
		}
		return int(m), err
	}
}

// spliceIn is one read of a relay: socket to pipe. The pipe is empty when it
// runs, so EAGAIN means the socket has nothing.
type spliceIn struct {
	src  *Socket
	pipe *splicePipe
	n    int // bytes now in the pipe; 0 with err nil is end of data
	err  error
	late error // an error met after n bytes went into the pipe
}

func (j *spliceIn) completion() *Completion { return nil }

func (j *spliceIn) attempt() (bool, error) {
	s := j.src
	// Fill the pipe while the socket has data: fewer, larger rounds. Once
	// the pipe holds bytes, EAGAIN may mean that it is full rather than that
	// the socket is empty, so only an EAGAIN into an empty pipe marks the
	// side empty.
	for j.n < spliceChunk {
		s.cnt.inc(cReadTries)
		at := s.harvest()
		n, err := sysSplice(s.fd, j.pipe.w, spliceChunk-j.n)
		switch {
		case err == unix.EAGAIN && j.n == 0:
			s.rd.empty(at)
			return false, nil
		case err == unix.EAGAIN:
			return j.done()
		case err != nil && j.n == 0:
			s.cnt.inc(cReadFails)
			j.err = err
			return true, err
		case err != nil:
			// Deliver what is in the pipe, then the error: the kernel
			// reports a socket error once, so the next round would meet
			// an end of data instead.
			s.cnt.inc(cReadFails)
			j.late = err
			return j.done()
		case n == 0:
			// Deliver what is in the pipe; the next round meets the end
			// again.
			return j.done()
		}
		j.n += n
		s.cnt.add(cReadByte, uint64(n))
	}
	return j.done()
}

func (j *spliceIn) done() (bool, error) {
	j.src.cnt.inc(cReadPkg)
	j.src.cnt.raise(cReadPkgMax, uint64(j.n))
	return true, nil
}

// spliceOut is one write of a relay: everything in the pipe to the socket.
// The pipe holds pending bytes, so EAGAIN means the socket is full.
type spliceOut struct {
	dst     *Socket
	pipe    *splicePipe
	pending int
	moved   int
	err     error
}

func (j *spliceOut) completion() *Completion { return nil }

func (j *spliceOut) attempt() (bool, error) {
	s := j.dst
	for j.pending > 0 {
		s.cnt.inc(cWriteTries)
		at := s.harvest()
		n, err := sysSplice(j.pipe.r, s.fd, j.pending)
		switch {
		case err == unix.EAGAIN:
			s.wr.empty(at)
			return false, nil
		case err != nil:
			s.cnt.inc(cWriteFails)
			j.err = err
			return true, err
		}
		j.pending -= n
		j.moved += n
		s.cnt.add(cWriteByte, uint64(n))
	}
	s.cnt.inc(cWritePkg)
	s.cnt.raise(cWritePkgMax, uint64(j.moved))
	return true, nil
}
