package engine

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// Recv is socket:recv/4 (reference §2.6). length 0 reads one buffer of otp
// rcvbuf size (up to N of them, concatenated, when rcvbuf is {N, Size} and
// they keep coming full). On a stream socket length > 0 gathers exactly
// length bytes: a nowait call that gets part of them returns it with a select
// and stays the current reader; a timed-out call returns it with ErrTimeout.
// On other socket types one datagram is returned, truncated to the buffer.
func (s *Socket) Recv(ctx context.Context, c Caller, length int, flags int, t Timeout) RecvResult {
	if length < 0 {
		return RecvResult{Err: &InvalidError{What: "length", Value: length}}
	}
	j := newRecvJob(s, OpRecv, length, 0, flags)
	j.partialFirst = t.Kind == WaitNowait && !t.Completion || t.poll()
	return j.result(s.perform(ctx, c, OpRecv, t, j))
}

// RecvFrom is socket:recvfrom/4: one message of at most bufSize bytes (0:
// otp rcvbuf size) and its source address (From is nil when the kernel
// gives none, as on a connected stream).
func (s *Socket) RecvFrom(ctx context.Context, c Caller, bufSize int, flags int, t Timeout) RecvResult {
	if bufSize < 0 {
		return RecvResult{Err: &InvalidError{What: "bufsz", Value: bufSize}}
	}
	j := newRecvJob(s, OpRecvFrom, bufSize, 0, flags)
	return j.result(s.perform(ctx, c, OpRecvFrom, t, j))
}

// BufferPool lends RecvInto its read buffers (gRPC's mem.BufferPool is
// one).
type BufferPool interface {
	Get(length int) *[]byte
	Put(*[]byte)
}

// RecvInto is RecvFrom of at most size bytes into a buffer of bufs's,
// without the source address. It is for blocking callers that recycle their
// buffers, such as Pipe's downlink, so that no buffer is allocated or copied
// per read. The buffer is taken for each read and given back if it read
// nothing, so that a call waiting for data holds none (an idle pipe held 64
// KiB). It returns the buffer that holds the result's Data, for the caller
// to hand on or give back (an empty datagram's too); nil when no read
// succeeded. A nowait call is
// {invalid, timeout}: it would read into the buffer after it returned.
func (s *Socket) RecvInto(ctx context.Context, c Caller, bufs BufferPool, size, flags int, t Timeout) (RecvResult, *[]byte) {
	if t.Kind == WaitNowait {
		return RecvResult{Err: &InvalidError{What: "timeout", Value: "nowait"}}, nil
	}
	if size <= 0 {
		return RecvResult{Err: &InvalidError{What: "bufsz", Value: size}}, nil
	}
	j := newRecvJob(s, OpRecvFrom, size, 0, flags)
	j.bufs = bufs
	return j.result(s.perform(ctx, c, OpRecvFrom, t, j)), j.lent
}

// RecvMsg is socket:recvmsg/5: one message with its source address, control
// messages (decoded, reference §7) and the kernel's msg_flags (MSG_TRUNC,
// MSG_CTRUNC, ...). bufSize 0 and ctrlSize 0 take otp rcvbuf and rcvctrlbuf.
func (s *Socket) RecvMsg(ctx context.Context, c Caller, bufSize, ctrlSize int, flags int, t Timeout) RecvResult {
	if bufSize < 0 {
		return RecvResult{Err: &InvalidError{What: "bufsz", Value: bufSize}}
	}
	if ctrlSize < 0 {
		return RecvResult{Err: &InvalidError{What: "ctrlsz", Value: ctrlSize}}
	}
	j := newRecvJob(s, OpRecvMsg, bufSize, ctrlSize, flags)
	return j.result(s.perform(ctx, c, OpRecvMsg, t, j))
}

// RecvHolds is what a completion-mode recv, recvfrom or recvmsg (op) with
// these arguments holds while it waits (see Holder), as the call would count
// it if it were made now: for admission to reserve before making it.
func (s *Socket) RecvHolds(op Op, length, ctrlSize, flags int) int {
	j := recvJob{s: s, op: op, length: length, ctrlReq: ctrlSize, flags: flags}
	return j.holds()
}

// recvJob is one recv/recvfrom/recvmsg call; its fields accumulate across
// attempts (partial stream data survives waits).
type recvJob struct {
	s       *Socket
	op      Op
	length  int // recv: bytes wanted; recvfrom/recvmsg: buffer size (0: rcvbuf)
	ctrlReq int // recvmsg: control buffer size (0: rcvctrlbuf)
	flags   int
	// The buffers an attempt reads with (settle): bufCount buffers of
	// bufSize (recv(0) on a stream gathers up to rcvbuf's N), and ctrlSize
	// of control data. Each attempt takes otp rcvbuf and rcvctrlbuf as they
	// are then, as Erlang's recv does on every retry, except a pending
	// completion's (pinned by holds): it delivers no more than was counted.
	bufCount, bufSize int
	ctrlSize          int
	pinned            bool

	from *rawSockaddr // recvfrom/recvmsg: the source address, once a read filled it
	// RecvInto: the caller's buffers, and the one the read filled, which
	// holds the data and is the caller's to give back.
	bufs BufferPool
	lent *[]byte

	data   []byte
	ctrl   []ControlMessage
	rflags int
	err    error
	// selectRead: the call read, and otp select_read left the caller a
	// new select (rearmed).
	selectRead bool
	// partialFirst: a nowait select-mode or polling recv(N) that gathered
	// bytes and then met the end of data, or an error, answers the bytes as
	// partial ({select, {SI, Data}}, {timeout, Data}); the next call finds
	// the end, or the error (kept for it: the kernel reports one once), as
	// Erlang's one read per call does (the side stays ready, so a select
	// fires at once). A call that waits answers {closed, Data}, or the
	// error with the data.
	partialFirst bool
}

// readOK implements rearmable: the call ended with a successful read.
func (j *recvJob) readOK() bool { return j.err == nil }

// rearmed implements rearmable.
func (j *recvJob) rearmed() { j.selectRead = true }

func (j *recvJob) result(sel *SelectInfo, err error) RecvResult {
	if sel != nil && sel.Completion {
		return RecvResult{Select: sel} // the data will come in the completion
	}
	r := j.recvResult()
	r.Select = sel
	if err != nil {
		r.Err = err
	}
	return r
}

func (j *recvJob) recvResult() RecvResult {
	r := RecvResult{Data: j.data, Control: j.ctrl, Flags: j.rflags, Err: j.err, SelectRead: j.selectRead}
	if j.from != nil {
		r.From = j.from.decode()
	}
	return r
}

// holds is the most a waiting recv will hold: a stream recv(N) gathers up
// to N bytes across waits, and every form's completion carries up to its
// buffer (plus control data for recvmsg). A recvfrom keeps no buffer while
// it waits, but a bound on what completions hold must count what each
// pending one will deliver, or many of them completing at once could pile
// up far past it. The buffers are settled and pinned from then on.
func (j *recvJob) holds() int {
	if !j.pinned {
		j.settle()
		j.pinned = true
	}
	if j.gathersBuffers() {
		return j.bufCount * j.bufSize
	}
	held := j.bufSize
	if j.op == OpRecvMsg {
		held += j.ctrlSize
	}
	return held
}

// gathersBuffers: a stream recv(0) of the data reads up to bufCount buffers.
func (j *recvJob) gathersBuffers() bool {
	return j.op == OpRecv && j.s.typ == unix.SOCK_STREAM && j.length == 0 && j.flags&(unix.MSG_OOB|unix.MSG_ERRQUEUE) == 0
}

func newRecvJob(s *Socket, op Op, length, ctrlSize, flags int) *recvJob {
	return &recvJob{s: s, op: op, length: length, ctrlReq: ctrlSize, flags: flags}
}

// settle sets the buffers the next attempt reads with: the call's sizes, or
// otp rcvbuf and rcvctrlbuf as they are now.
func (j *recvJob) settle() {
	j.bufCount, j.bufSize, j.ctrlSize = 1, j.length, j.ctrlReq
	if j.length == 0 {
		n, size := j.s.RcvBuf()
		j.bufSize = size
		if j.gathersBuffers() && j.flags&unix.MSG_PEEK == 0 { // more peeks would return the same bytes again
			j.bufCount = max(n, 1)
		}
	}
	if j.op == OpRecvMsg && j.ctrlReq == 0 {
		j.ctrlSize, _ = j.s.CtrlBufs()
	}
}

// progressed: a stream recv(N) has gathered bytes that are no longer in the
// socket (a peek's are still there).
func (j *recvJob) progressed() bool { return len(j.data) > 0 && j.flags&unix.MSG_PEEK == 0 }

func (j *recvJob) completion() *Completion {
	r := j.recvResult()
	return &Completion{Recv: &r}
}

func (j *recvJob) attempt() (bool, error) {
	if !j.pinned {
		j.settle()
	}
	stream := j.s.typ == unix.SOCK_STREAM
	// Urgent data and the error queue are no byte stream to gather from:
	// one read takes what there is.
	gathers := stream && j.length > 0 && j.flags&(unix.MSG_OOB|unix.MSG_ERRQUEUE) == 0
	switch {
	case j.op == OpRecvMsg:
		return j.recvMsg(stream)
	case j.op == OpRecvFrom:
		return j.recvOne(stream, j.bufs == nil) // RecvInto reports no source
	case gathers && j.flags&unix.MSG_PEEK == 0:
		return j.recvExactly()
	case gathers:
		return j.peekExactly()
	case j.gathersBuffers():
		return j.recvBuffers()
	}
	// A datagram, or a recv(0) peek: gathering would read the same bytes
	// again.
	return j.recvOne(stream, false)
}

// read is one read syscall with its counters. wouldBlock marks the read
// side empty: the reader will wait for the next edge.
func (j *recvJob) read(p []byte, from *rawSockaddr) (n int, wouldBlock bool, err error) {
	j.clearIfDiscarding(p)
	return j.counted(len(p), func() (int, error) { return sysRecvfrom(j.s.fd, p, j.flags, from) })
}

// clearIfDiscarding clears p before a read with MSG_TRUNC: on a stream the
// kernel then discards the bytes it counts and writes none, and the
// answer, p[:n], would carry what the buffer held before: in a pooled
// buffer, bytes another socket read, perhaps another principal's.
func (j *recvJob) clearIfDiscarding(p []byte) {
	if j.flags&unix.MSG_TRUNC != 0 {
		clear(p)
	}
}

// counted makes one read syscall (sys, into a buffer of size bytes) with
// the counters every read keeps; see read.
func (j *recvJob) counted(size int, sys func() (int, error)) (n int, wouldBlock bool, err error) {
	s := j.s
	s.cnt.inc(cReadTries)
	if j.flags&(unix.MSG_ERRQUEUE|unix.MSG_OOB) == 0 {
		// The last call answered its bytes first (partialFirst). A read of
		// the error or urgent-data queue leaves a socket error alone.
		if kept := s.takeKeptErr(); kept != nil {
			return 0, false, kept
		}
	}
	at := s.harvest()
	n, err = sys()
	if err == unix.EAGAIN {
		s.rd.empty(at)
		s.rd.otherQueue = j.flags&(unix.MSG_ERRQUEUE|unix.MSG_OOB) != 0
		return 0, true, nil
	}
	if err == nil {
		s.cnt.add(cReadByte, uint64(min(n, size))) // MSG_TRUNC makes n the datagram's real length
	}
	return n, false, err
}

// succeed ends the call with the data gathered. Data much smaller than its
// buffer (recv(N)'s gathering buffer, or a large buffer of the read's own
// that got a short read) is copied out, so that the buffer is not kept
// alive by the result; RecvInto's buffer is its caller's.
func (j *recvJob) succeed() (bool, error) {
	if j.lent == nil && cap(j.data) > 2*len(j.data)+64 {
		j.data = bytes.Clone(j.data)
	}
	j.s.cnt.inc(cReadPkg)
	j.s.cnt.raise(cReadPkgMax, uint64(len(j.data)))
	return true, nil
}

// fail ends the call with err, which is fatal for the lane: the queued
// readers are aborted with it, a peer's close and a reset as every other
// read error (OTP's recv_check_fail_gen aborts them all with the errno; a
// UDP socket's econnrefused left its queued readers waiting for data that
// its next reader would fail on).
func (j *recvJob) fail(err error) (bool, error) {
	j.s.cnt.inc(cReadFails)
	j.err = err
	j.s.keepForConnect(err)
	return true, err
}

// recvExactly gathers j.length bytes from a stream.
func (j *recvJob) recvExactly() (bool, error) {
	for len(j.data) < j.length {
		if len(j.data) == cap(j.data) {
			// Grow with the data, not with the request: a large length costs
			// memory only as bytes arrive.
			j.data = slices.Grow(j.data, min(j.length-len(j.data), max(len(j.data), maxRecvPreallocate)))
		}
		n, wouldBlock, err := j.read(j.data[len(j.data):min(cap(j.data), j.length)], nil)
		switch {
		case wouldBlock:
			return false, nil
		case err != nil && len(j.data) > 0 && j.partialFirst:
			j.s.pendingReadErr.Store(&err)
			return false, nil
		case err != nil:
			return j.fail(err)
		case n == 0 && len(j.data) > 0 && j.partialFirst:
			return false, nil
		case n == 0:
			return j.fail(ErrClosed)
		}
		j.data = j.data[:len(j.data)+n]
	}
	return j.succeed()
}

// peekExactly is recvExactly for a peek: it looks at up to j.length bytes
// and, while fewer are there and more may come, waits for more as a read
// that found the socket empty does, looking again from the start each time
// (the bytes stay in the socket; Erlang's loop would append them again).
// Meanwhile j.data is what the last look saw: a nowait call answers
// {select, {SI, Data}} with it, a timeout {timeout, Data}. Once the peer has
// shut down, or when a TCP socket's buffer could never hold the length, no
// more can come: it answers what is there. An edge that brings no more
// bytes than the last look saw (the one epoll reports when it first watches
// the socket, or with a room-to-write wakeup) is no news (noNews).
func (j *recvJob) peekExactly() (bool, error) {
	size := min(j.length, maxRecvPreallocate)
	for {
		if cap(j.data) < size {
			j.data = make([]byte, 0, size)
		}
		at := j.s.harvest()
		n, wouldBlock, err := j.read(j.data[:size], nil)
		switch {
		case wouldBlock:
			j.data = j.data[:0]
			return false, nil
		case err != nil:
			return j.fail(err)
		case n == 0:
			return j.fail(ErrClosed)
		}
		j.data = j.data[:n]
		switch {
		case n >= j.length:
			return j.succeed()
		case n == size:
			// The buffer came back full: look again with a larger one.
			size = min(j.length, 2*size)
			continue
		case peerShutDown(j.s.fd) || j.beyondBuffer():
			return j.succeed()
		}
		// Not empty, but short: wait for the next edge, and let a reader
		// that becomes current meanwhile try at once (the side has data).
		j.s.rd.empty(at)
		j.s.rd.otherQueue, j.s.rd.peeked = true, n
		return false, nil
	}
}

// beyondBuffer reports a TCP peek of more than the socket's receive buffer
// (SO_RCVBUF) can ever hold: nothing is read while it waits, so the rest
// could never come. Short of that it waits, as MSG_PEEK|MSG_WAITALL does,
// to its timeout if the buffer's own bookkeeping leaves too little room. A
// local stream's sender decides what it may queue, so there a peek of more
// than that waits to its timeout too.
func (j *recvJob) beyondBuffer() bool {
	if j.s.protocol != unix.IPPROTO_TCP && j.s.protocol != unix.IPPROTO_MPTCP {
		return false
	}
	size, err := unix.GetsockoptInt(j.s.fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	return err == nil && j.length > size
}

// peerShutDown reports whether a stream's peer will send no more
// (POLLRDHUP), which a peek cannot see while bytes wait before the end.
func peerShutDown(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
	n, err := unix.Poll(pfd, 0)
	return err == nil && n > 0 && pfd[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
}

// recvBuffers reads what a stream has, one rcvbuf-sized buffer, or up to N
// of them while they come back full (otp rcvbuf {N, Size}).
func (j *recvJob) recvBuffers() (bool, error) {
	size := j.bufSize
	var buf []byte
	var pooled *[scratchSize]byte
	if size <= scratchSize {
		buf, pooled = borrow(size)
		defer giveBack(pooled)
	}
	for range j.bufCount {
		if pooled == nil {
			// A buffer of our own: read into the data's spare room, not
			// into a fresh buffer to copy from.
			j.data = slices.Grow(j.data, size)
			buf = j.data[len(j.data) : len(j.data)+size]
		}
		got, wouldBlock, err := j.read(buf, nil)
		switch {
		case wouldBlock && len(j.data) == 0:
			j.data = nil // a waiting call holds no buffer
			return false, nil
		case wouldBlock:
			return j.succeed()
		case err != nil:
			return j.fail(err) // with any data already read
		case got == 0 && len(j.data) == 0:
			return j.fail(ErrClosed)
		case got == 0:
			return j.succeed() // the next call sees the end
		}
		if pooled == nil {
			j.data = j.data[:len(j.data)+got]
		} else {
			j.data = append(j.data, buf[:got]...)
		}
		if got < size {
			break
		}
	}
	return j.succeed()
}

// scratchSize is the size of the buffers borrow lends; larger reads
// allocate their own.
const scratchSize = 64 << 10

var scratch = sync.Pool{New: func() any { return new([scratchSize]byte) }}

// borrow lends a read buffer of size bytes, to give back with giveBack(pooled).
// A read copies out only what it got, so an attempt that finds nothing
// allocates nothing, a short read into a large buffer keeps no large buffer
// alive, and a waiting call (above all a pending completion, which no RPC
// ends) holds no buffer while it waits.
//
// pooled is nil when the buffer is larger than the pooled ones and so a
// fresh one of the caller's own: it may keep it instead of a copy.
func borrow(size int) (buf []byte, pooled *[scratchSize]byte) {
	if size > scratchSize {
		return make([]byte, size), nil
	}
	pooled = scratch.Get().(*[scratchSize]byte)
	return pooled[:size], pooled
}

// giveBack returns a buffer borrow lent from the pool (nil: none).
func giveBack(pooled *[scratchSize]byte) {
	if pooled != nil {
		scratch.Put(pooled)
	}
}

// recvOne reads one message: a datagram (truncated to the buffer), or, on a
// stream (recvfrom, or a peek), what is there.
func (j *recvJob) recvOne(stream, withFrom bool) (bool, error) {
	var (
		buf    []byte
		pooled *[scratchSize]byte
		lent   *[]byte
	)
	if j.bufs != nil {
		lent = j.bufs.Get(j.bufSize)
		buf = (*lent)[:j.bufSize]
		defer func() {
			if j.lent == nil {
				j.bufs.Put(lent)
			}
		}()
	} else {
		buf, pooled = borrow(j.bufSize)
		defer giveBack(pooled)
	}
	if withFrom && j.from == nil {
		j.from = new(rawSockaddr)
	}
	n, wouldBlock, err := j.read(buf, j.from)
	switch {
	case wouldBlock:
		return false, nil
	case err != nil:
		return j.fail(err)
	case n == 0 && stream && len(buf) > 0 && j.flags&unix.MSG_ERRQUEUE == 0:
		return j.fail(ErrClosed) // an error-queue message may carry no bytes
	}
	j.data = buf[:min(n, len(buf))] // MSG_TRUNC makes n the datagram's real length
	j.lent = lent
	if pooled != nil {
		j.data = bytes.Clone(j.data)
	}
	return j.succeed()
}

// recvMsg reads one message with its address and control data.
func (j *recvJob) recvMsg(stream bool) (bool, error) {
	s := j.s
	buf, pooled := borrow(j.bufSize)
	defer giveBack(pooled)
	oob, pooledOOB := borrow(j.ctrlSize)
	defer giveBack(pooledOOB)
	if j.from == nil {
		j.from = new(rawSockaddr)
	}
	j.clearIfDiscarding(buf)
	var m msgResult
	_, wouldBlock, err := j.counted(len(buf), func() (n int, err error) {
		m, err = sysRecvmsg(s.fd, buf, oob, j.flags, j.from)
		return m.n, err
	})
	switch {
	case wouldBlock:
		return false, nil
	case err != nil:
		return j.fail(err)
	case m.n == 0 && m.oobn == 0 && stream && len(buf) > 0 && j.flags&unix.MSG_ERRQUEUE == 0:
		return j.fail(ErrClosed)
	}
	j.data = buf[:min(m.n, len(buf))]
	if pooled != nil {
		j.data = bytes.Clone(j.data)
	}
	// The kernel echoes MSG_CMSG_CLOEXEC, which sysRecvmsg adds to every
	// call: the caller sees it only if it asked for it.
	j.rflags = m.flags
	if j.flags&unix.MSG_CMSG_CLOEXEC == 0 {
		j.rflags &^= unix.MSG_CMSG_CLOEXEC
	}
	// A malformed control buffer keeps what decoded plus a BadControlLevel
	// message; the data itself is good, so the call succeeds.
	// The decoded messages keep slices of what they decode: give them a copy.
	j.ctrl, _ = DecodeControl(bytes.Clone(oob[:min(m.oobn, len(oob))]))
	return j.succeed()
}
