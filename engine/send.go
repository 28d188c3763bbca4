package engine

import (
	"context"
	"slices"

	"golang.org/x/sys/unix"
)

// IOVMax is the most buffers one sendmsg takes (sysconf IOV_MAX on Linux).
// A longer iov is sent in chunks on a stream and refused otherwise.
const IOVMax = 1024

// Send is socket:send/4 (reference §1.4). A stream send loops until all data
// is accepted or the socket would block: a nowait call then answers Select
// with Sent/Unsent and its caller stays the current writer; a blocking call
// waits and goes on. A datagram is sent once; a partial write is reported in
// Sent/Unsent without error. Errors after a partial send keep the counts.
// MSG_NOSIGNAL is always added.
//
// In completion mode data is kept until the engine has sent it: the caller
// must not modify it meanwhile.
func (s *Socket) Send(ctx context.Context, c Caller, data []byte, flags int, t Timeout) SendResult {
	j := &sendJob{s: s, data: data, total: len(data), flags: flags}
	return j.result(s.perform(ctx, c, OpSend, t, j))
}

// SendContinued is Send of a part of a stream send whose next part the
// caller will send next (a client cutting a send larger than one message):
// once all of data is written, the caller stays the current writer, told to
// go on as if a select had been delivered to it (Select set), so that no
// other writer's bytes come between the parts, as none come into one
// Erlang send. Its next send in the lane continues (rule 2); a Cancel of
// Select, or the caller's drop, lets the lane go on. The kept request takes
// handle (0: a new one). A caller whose RequestLimiter refuses that request
// is not kept: its parts then go as separate sends; nor is one whose ctx
// ended meanwhile, which will not learn the place it would hold.
func (s *Socket) SendContinued(ctx context.Context, c Caller, data []byte, flags int, handle uint64, t Timeout) SendResult {
	j := &sendJob{s: s, data: data, total: len(data), flags: flags, continues: true, keptHandle: handle}
	r := j.result(s.perform(ctx, c, OpSend, t, j))
	if r.Select != nil && r.Unsent == 0 && ctx.Err() != nil {
		s.Cancel(c, *r.Select)
		r.Select = nil
	}
	return r
}

// SendTo is socket:sendto/5: Send to dest.
func (s *Socket) SendTo(ctx context.Context, c Caller, data []byte, flags int, dest SockAddr, t Timeout) SendResult {
	to, err := dest.raw()
	if err != nil {
		return SendResult{Unsent: len(data), Err: err}
	}
	j := &sendJob{s: s, data: data, total: len(data), flags: flags, to: to}
	return j.result(s.perform(ctx, c, OpSendTo, t, j))
}

// SendMsg is socket:sendmsg/4: the buffers of iov, to dest if non-nil, with
// control messages ctrl (encoded by EncodeControl; they must fit otp
// sndctrlbuf). An iov of more than IOVMax buffers is sent in chunks on a
// stream and is {invalid, iov} otherwise.
func (s *Socket) SendMsg(ctx context.Context, c Caller, iov [][]byte, dest *SockAddr, ctrl []ControlMessage, flags int, t Timeout) SendResult {
	j := &sendJob{s: s, msg: true, flags: flags}
	for _, b := range iov {
		if len(b) > 0 { // empty buffers carry nothing and would only count against IOVMax
			j.iov = append(j.iov, b)
			j.total += len(b)
		}
	}
	if len(j.iov) > IOVMax && s.typ != unix.SOCK_STREAM {
		return SendResult{Unsent: j.total, Err: &InvalidError{What: "iov", Value: len(iov)}}
	}
	if dest != nil {
		to, err := dest.raw()
		if err != nil {
			return SendResult{Unsent: j.total, Err: err}
		}
		j.to = to
	}
	if len(ctrl) > 0 {
		if s.credsMsg != nil && slices.ContainsFunc(ctrl, isCredentials) {
			// The kernel would take the last of two: the user's are ours to send.
			return SendResult{Unsent: j.total, Err: &InvalidError{What: "msg", Value: "ctrl: SCM_CREDENTIALS on a socket acting for a user"}}
		}
		oob, err := EncodeControl(ctrl)
		if err != nil {
			return SendResult{Unsent: j.total, Err: err}
		}
		if _, limit := s.CtrlBufs(); len(oob) > limit {
			return SendResult{Unsent: j.total, Err: &InvalidError{What: "msg", Value: "ctrl: larger than sndctrlbuf"}}
		}
		j.oob = oob
	}
	return j.result(s.perform(ctx, c, OpSendMsg, t, j))
}

func isCredentials(m ControlMessage) bool {
	return m.Level == unix.SOL_SOCKET && m.Type == unix.SCM_CREDENTIALS
}

// sendJob is one send/sendto/sendmsg call; sent accumulates across attempts.
type sendJob struct {
	s     *Socket
	data  []byte   // send, sendto: the bytes
	iov   [][]byte // sendmsg: the buffers
	total int
	to    *rawSockaddr
	oob   []byte // control data, sent with the first bytes only
	flags int
	msg   bool // sendmsg (iov, control) rather than sendto
	// continues: more of the same send follows (SendContinued), the kept
	// request taking keptHandle (0: a new one).
	continues  bool
	keptHandle uint64

	sent int
	err  error
}

// holds is the data a waiting send keeps until it is written.
func (j *sendJob) holds() int { return j.total - j.sent }

func (j *sendJob) result(sel *SelectInfo, err error) SendResult {
	if sel != nil && sel.Completion {
		return SendResult{Select: sel}
	}
	r := j.sendResult()
	r.Select = sel
	if err != nil {
		r.Err = err
	}
	return r
}

func (j *sendJob) sendResult() SendResult {
	return SendResult{Sent: j.sent, Unsent: j.total - j.sent, Err: j.err}
}

// progressed: part of a stream send is written.
func (j *sendJob) progressed() bool { return j.sent > 0 }

func (j *sendJob) completion() *Completion {
	r := j.sendResult()
	return &Completion{Send: &r}
}

func (j *sendJob) attempt() (bool, error) {
	s := j.s
	stream := s.typ == unix.SOCK_STREAM
	for {
		s.cnt.inc(cWriteTries)
		at := s.harvest()
		n, err := j.write()
		switch {
		case err == unix.EAGAIN:
			s.wr.empty(at)
			if j.to != nil && s.domain == unix.AF_UNIX && s.typ == unix.SOCK_DGRAM {
				s.pace(&s.wr)
			}
			return false, nil
		case err == unix.EINTR:
			continue // interrupted before it wrote anything: try again
		case err != nil:
			s.cnt.inc(cWriteFails)
			j.err = err
			if err == unix.EINVAL {
				return true, nil
			}
			return true, err // fatal (reference §2.2: not EINVAL, EAGAIN, EINTR): the queued writers are aborted with it
		}
		s.cnt.add(cWriteByte, uint64(n))
		s.wr.backoff = 0
		j.sent += n
		j.oob = nil
		// A datagram is written once; a stream until all is sent. A stream
		// write of 0 bytes with data left cannot happen, but must not spin.
		if !stream || j.sent >= j.total || n == 0 {
			break
		}
	}
	s.cnt.inc(cWritePkg)
	s.cnt.raise(cWritePkgMax, uint64(j.sent))
	return true, nil
}

// write makes one send syscall with what is left; or answers the error a
// recv kept (recvJob.partialFirst), which the kernel would have given to
// whichever call came first, this one (a reviewer's send answered epipe
// where Erlang's answers econnreset).
func (j *sendJob) write() (int, error) {
	if kept := j.s.takeKeptErr(); kept != nil {
		return 0, kept
	}
	flags := j.flags | unix.MSG_NOSIGNAL
	// Checked here rather than left to asUser, so that the common send
	// makes no closure.
	if u := j.s.pathUser(j.to); u != nil {
		return asUser(u, func() (int, error) { return j.sendOnce(flags) })
	}
	return j.sendOnce(flags)
}

func (j *sendJob) sendOnce(flags int) (int, error) {
	creds := j.s.credsMsg
	if !j.msg && creds == nil {
		return sysSendto(j.s.fd, j.data[j.sent:], flags, j.to)
	}
	oob := j.oob
	switch {
	case creds == nil:
	case len(oob) == 0:
		oob = creds // with every write: each skb carries its own
	default:
		oob = slices.Concat(oob, creds)
	}
	if !j.msg {
		var iov []unix.Iovec
		if rest := j.data[j.sent:]; len(rest) > 0 {
			v := unix.Iovec{Base: &rest[0]}
			v.SetLen(len(rest))
			iov = []unix.Iovec{v}
		}
		return sysSendmsg(j.s.fd, iov, oob, flags, j.to)
	}
	return sysSendmsg(j.s.fd, j.pending(), oob, flags, j.to)
}

// pending is the unsent part of the iov, at most IOVMax buffers.
func (j *sendJob) pending() []unix.Iovec {
	skip := j.sent
	iov := make([]unix.Iovec, 0, min(len(j.iov), IOVMax))
	for _, b := range j.iov {
		if skip >= len(b) {
			skip -= len(b)
			continue
		}
		b = b[skip:]
		skip = 0
		v := unix.Iovec{Base: &b[0]}
		v.SetLen(len(b))
		if iov = append(iov, v); len(iov) == IOVMax {
			break
		}
	}
	return iov
}
