package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/sockd/sockd/internal/pipewire"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
	"google.golang.org/protobuf/proto"
)

// Msg is the message of SendMsg: Erlang's msg_send().
type Msg struct {
	IOV     [][]byte                  // the data, as an I/O vector
	Addr    *sockdv1.SockAddr         // the destination, for unconnected sockets
	Control []*sockdv1.ControlMessage // ancillary data
	// RequestID, when set (NewRequestID), lets the call be made again
	// after the connection to the daemon broke under it: the daemon answers
	// what the first call sent rather than send it twice
	// (SendMsgRequest.request_id).
	RequestID string
}

// Send sends data on a connected socket. The response says how many bytes
// the OS accepted; on a partial send the caller resends the rest, after the
// select event if t was nowait.
//
// On a stream socket, a call that is not nowait sends more than MaxSendData
// in calls of that size, one after the other, within t as a whole, as Erlang's
// send loops until all is sent: each but the last continues the send
// (SendRequest.continues), so that the session stays the socket's writer
// between them and no other session's bytes come in between (the session's
// own concurrent sends on the socket may: it is one writer). The response
// counts them all, and on a socket error or a timeout says what was sent
// before it. If an RPC fails after some calls went out, the response is
// returned with the error and counts what the calls that answered sent: the
// piece in flight when the RPC failed (at most MaxSendData) may have gone
// out in part, and is counted unsent. Any other send is one call, as a
// message must be, whose data must fit in MaxCallData (else a
// *DataTooLargeError, before any call).
func (s *Session) Send(ctx context.Context, id string, data []byte, t Timeout, flags ...sockdv1.MsgFlag) (*sockdv1.SendResponse, error) {
	return s.SendOnce(ctx, id, data, t, "", flags...)
}

// SendOnce is Send with a request id (NewRequestID; at most 48 bytes), for
// a caller that makes the call again, with the same id and data, when the
// connection to the daemon broke under it (UNAVAILABLE): the daemon answers
// what the first call sent rather than send it twice, and the send goes on
// from where it stopped (SendRequest.request_id). Each of its calls is
// named by the id and its number; the session remembers how far the calls
// answered went, so that the send made again begins with the call whose
// answer was lost (the daemon keeps its last 64 answers). The writer's
// place is given back between the two, as after any failed send: another
// writer's bytes may come in between. A new send takes a new id.
func (s *Session) SendOnce(ctx context.Context, id string, data []byte, t Timeout, requestID string, flags ...sockdv1.MsgFlag) (*sockdv1.SendResponse, error) {
	if requestID == "" && len(data) <= MaxSendData || t.IsNowait() || len(data) == 0 {
		return s.sendPart(ctx, id, data, t, flags, false, 0, requestID)
	}
	if len(data) > MaxSendData {
		// Pieces keep their order but not a message's boundary: only a
		// stream may be cut (a seqpacket socket's record may be this large).
		info, err := s.Info(ctx, id)
		if err != nil {
			return nil, err
		}
		if info.GetType() != sockdv1.Type_TYPE_STREAM {
			return s.sendPart(ctx, id, data, t, flags, false, 0, requestID)
		}
	}
	var deadline time.Time
	if t.kind == waitMillis {
		deadline = time.Now().Add(time.Duration(t.millis) * time.Millisecond)
	}
	var (
		sent uint64
		// kept is the handle of the writer's place a continuing part may
		// have kept, chosen here so that the place can be given back even
		// when that part's answer was lost; 0 while none can be kept. The
		// top bit keeps it apart from the daemon's own handles. Each try
		// of a send made again has its own: the first's release, which
		// may come late, must not take the place of the next.
		handle = rand.Uint64() | 1<<63
		kept   uint64
		call   int
	)
	total := len(data)
	if requestID != "" {
		if done, ok := s.sends.take(requestID, total); ok {
			call, sent = done.call, done.sent
			data = data[sent:]
		}
	}
	// A send that stops before its last part gives the writer's place back.
	defer func() {
		if kept != 0 {
			s.releaseWriter(id, kept)
		}
	}()
	for len(data) > 0 {
		piece := data[:min(len(data), MaxSendData)]
		if !deadline.IsZero() {
			t = Millis(max(0, time.Until(deadline).Milliseconds()))
		}
		more := len(piece) < len(data)
		if more {
			kept = handle
		}
		callID := ""
		if requestID != "" {
			callID = requestID + "." + strconv.Itoa(call)
		}
		resp, err := s.sendPart(ctx, id, piece, t, flags, more, handle, callID)
		if resp == nil { // the call failed
			if requestID != "" && outOfReach(err) {
				s.sends.put(requestID, sendProgress{call: call, sent: sent, total: total})
			}
			if sent > 0 {
				return &sockdv1.SendResponse{BytesSent: sent, BytesUnsent: uint64(len(data))}, err
			}
			return nil, err
		}
		call++
		resp.Async = nil
		sent += resp.GetBytesSent()
		data = data[resp.GetBytesSent():]
		if requestID != "" && errors.Is(err, ErrCancelled) && ctx.Err() == nil {
			// The first try of a call made again was cut short with its
			// connection: the rest goes on in the next call.
			continue
		}
		if err != nil || resp.GetBytesUnsent() > 0 { // a socket error, a timeout
			resp.BytesSent, resp.BytesUnsent = sent, uint64(len(data))
			return resp, err
		}
	}
	kept = 0 // the last part, not continuing, took the place and ended the send
	return &sockdv1.SendResponse{BytesSent: sent}, nil
}

// sendProgress is how far a SendOnce of total bytes went before a call's
// answer was lost: its calls before call answered, sending sent bytes.
type sendProgress struct {
	call       int
	sent       uint64
	total      int
	rememberAt time.Time
}

// maxSendProgress bounds what a session remembers of sends to be made
// again: the oldest goes first.
const maxSendProgress = 64

// sendProgresses is a session's memory of its SendOnce calls whose
// connection broke, by request id.
type sendProgresses struct {
	mu sync.Mutex
	m  map[string]sendProgress
}

func (p *sendProgresses) put(requestID string, sp sendProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[string]sendProgress)
	}
	if _, ok := p.m[requestID]; !ok && len(p.m) >= maxSendProgress {
		oldest := ""
		for k, v := range p.m {
			if oldest == "" || v.rememberAt.Before(p.m[oldest].rememberAt) {
				oldest = k
			}
		}
		delete(p.m, oldest)
	}
	sp.rememberAt = time.Now()
	p.m[requestID] = sp
}

// take returns and forgets the progress of the send of requestID, if it is
// one of total bytes.
func (p *sendProgresses) take(requestID string, total int) (sendProgress, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sp, ok := p.m[requestID]
	delete(p.m, requestID)
	return sp, ok && sp.total == total
}

// releaseWriter gives back, in the background, the writer's place a send's
// continuing part may have kept under handle: a Cancel of it, called again
// while the daemon is out of reach and the session's grace may keep the
// place there (the part's answer is most often lost to a broken
// connection, and then so is a Cancel made at once). Client.Close waits for
// it; the Send does not, nor Session.Close, whose end of the session gives
// the place back.
func (s *Session) releaseWriter(id string, handle uint64) {
	info := &sockdv1.AsyncInfo{Operation: sockdv1.Operation_OPERATION_SEND, Handle: handle}
	done := s.client.startDrain(releaseKey(s.id))
	go func() {
		defer done()
		s.untilAnswered(func(ctx context.Context) error {
			_, err := s.Cancel(ctx, id, info)
			return err
		})
	}()
}

// releaseKey counts a session's writer releases apart from its closes
// (Client.draining); session ids have no spaces.
func releaseKey(session string) string { return "release " + session }

// MaxSendData is the most data one Send call carries when Session.Send
// cuts a stream's data into pieces.
const MaxSendData = 4 << 20

// MaxCallData is the most data a send that is one call may carry (a nowait
// send, one on a message socket, SendTo, SendMsg): the daemon's message
// limit less room for the rest of the request.
const MaxCallData = pipewire.MaxRequest - 64<<10

// DataTooLargeError refuses, before the call, a send that is one call
// with more than MaxCallData bytes, or whose request would be larger than
// the daemon takes (a SendMsg of many small pieces, or large control
// messages): gRPC would refuse the message with a word about message sizes.
type DataTooLargeError struct {
	Len int // the data's bytes
	// Request is the request's size when the data fit but the request did
	// not; 0 otherwise.
	Request int
	// Streamable says that the send, on a stream socket, could have been cut
	// into calls: it was nowait (Session.Send cuts any other).
	Streamable bool
}

func (e *DataTooLargeError) Error() string {
	msg := fmt.Sprintf("%d bytes is more than one call carries (%d)", e.Len, MaxCallData)
	if e.Request > 0 {
		msg = fmt.Sprintf("a request of %d bytes (%d of data) is more than one call carries (%d)", e.Request, e.Len, pipewire.MaxRequest)
	}
	if e.Streamable {
		msg += "; a send on a stream socket that is not nowait takes any amount"
	}
	return msg
}

// tooLarge is the refusal of data of n bytes that one call cannot carry, or
// of a request (if not nil) larger than the daemon takes; nil if it fits.
func tooLarge(n int, req proto.Message) *DataTooLargeError {
	if n > MaxCallData {
		return &DataTooLargeError{Len: n}
	}
	if req != nil {
		if size := proto.Size(req); size > pipewire.MaxRequest {
			return &DataTooLargeError{Len: n, Request: size}
		}
	}
	return nil
}

// sendPart is one Send call: a part of a stream send that continues when
// more follows, keeping the writer's place under handle.
func (s *Session) sendPart(ctx context.Context, id string, data []byte, t Timeout, flags []sockdv1.MsgFlag, more bool, handle uint64, requestID string) (*sockdv1.SendResponse, error) {
	if refused := tooLarge(len(data), nil); refused != nil {
		refused.Streamable = t.IsNowait()
		return nil, refused
	}
	req := &sockdv1.SendRequest{SocketId: id, Data: data, Flags: flags, Timeout: t.Proto(), RequestId: requestID}
	if more {
		req.Continues, req.ContinueHandle = true, handle
	}
	return result(s.api().Send(s.OutgoingContext(ctx), req))
}

// SendTo sends a datagram to addr.
func (s *Session) SendTo(ctx context.Context, id string, data []byte, addr *sockdv1.SockAddr, t Timeout, flags ...sockdv1.MsgFlag) (*sockdv1.SendToResponse, error) {
	if refused := tooLarge(len(data), nil); refused != nil {
		return nil, refused
	}
	return result(s.api().SendTo(s.OutgoingContext(ctx), &sockdv1.SendToRequest{
		SocketId: id, Data: data, Address: addr, Flags: flags, Timeout: t.Proto(),
	}))
}

// SendMsg sends a message with an I/O vector, an optional destination and
// control messages, in one call: a request larger than the daemon takes is
// a *DataTooLargeError before the call (one of more than 65,536 pieces the
// daemon refuses as too complex, RESOURCE_EXHAUSTED REQUEST_TOO_COMPLEX).
func (s *Session) SendMsg(ctx context.Context, id string, msg Msg, t Timeout, flags ...sockdv1.MsgFlag) (*sockdv1.SendMsgResponse, error) {
	total := 0
	for _, b := range msg.IOV {
		total += len(b)
	}
	req := &sockdv1.SendMsgRequest{
		SocketId: id, Iov: msg.IOV, Address: msg.Addr, Control: msg.Control, Flags: flags, Timeout: t.Proto(),
		RequestId: msg.RequestID,
	}
	if refused := tooLarge(total, req); refused != nil {
		return nil, refused
	}
	return result(s.api().SendMsg(s.OutgoingContext(ctx), req))
}

// Recv receives bytes. On a stream socket, length > 0 waits for exactly that
// many bytes and 0 takes what is there. A timeout returns the bytes read so
// far in the response, with a *SocketError whose kind is timeout.
func (s *Session) Recv(ctx context.Context, id string, length int64, t Timeout, flags ...sockdv1.MsgFlag) (*sockdv1.RecvResponse, error) {
	return result(s.api().Recv(s.OutgoingContext(ctx), &sockdv1.RecvRequest{
		SocketId: id, Length: length, Flags: flags, Timeout: t.Proto(),
	}))
}

// RecvFrom receives one message and its source address. bufSize 0 uses the
// socket's otp rcvbuf size.
func (s *Session) RecvFrom(ctx context.Context, id string, bufSize int64, t Timeout, flags ...sockdv1.MsgFlag) (*sockdv1.RecvFromResponse, error) {
	return result(s.api().RecvFrom(s.OutgoingContext(ctx), &sockdv1.RecvFromRequest{
		SocketId: id, BufferSize: bufSize, Flags: flags, Timeout: t.Proto(),
	}))
}

// RecvMsg receives one message with its source address, control messages and
// flags. bufSize and ctrlSize 0 use the socket's otp defaults.
func (s *Session) RecvMsg(ctx context.Context, id string, bufSize, ctrlSize int64, t Timeout, flags ...sockdv1.MsgFlag) (*sockdv1.RecvMsgResponse, error) {
	return result(s.api().RecvMsg(s.OutgoingContext(ctx), &sockdv1.RecvMsgRequest{
		SocketId: id, BufferSize: bufSize, ControlSize: ctrlSize, Flags: flags, Timeout: t.Proto(),
	}))
}
