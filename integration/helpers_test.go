package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Bounds used throughout: how long a call or an awaited event may take before
// the test fails, and how long "nothing arrives" is watched for.
const (
	callTimeout = 10 * time.Second
	eventWait   = 5 * time.Second
	quietWindow = 300 * time.Millisecond
)

// ---------------------------------------------------------------------------
// Socket variants: the reference's _tcp4/_tcp6/_tcpL/_udp4/_udp6/_udpL suffixes.

// variant is one (domain, type, protocol) combination of the reference's test names.
type variant struct {
	name   string
	domain sockdv1.Domain
	typ    sockdv1.Type
	proto  sockdv1.Protocol
}

var (
	tcp4  = variant{"tcp4", sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_STREAM, sockdv1.Protocol_PROTOCOL_TCP}
	tcp6  = variant{"tcp6", sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_STREAM, sockdv1.Protocol_PROTOCOL_TCP}
	tcpL  = variant{"tcpL", sockdv1.Domain_DOMAIN_LOCAL, sockdv1.Type_TYPE_STREAM, sockdv1.Protocol_PROTOCOL_UNSPECIFIED}
	udp4  = variant{"udp4", sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_DGRAM, sockdv1.Protocol_PROTOCOL_UDP}
	udp6  = variant{"udp6", sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_DGRAM, sockdv1.Protocol_PROTOCOL_UDP}
	udpL  = variant{"udpL", sockdv1.Domain_DOMAIN_LOCAL, sockdv1.Type_TYPE_DGRAM, sockdv1.Protocol_PROTOCOL_UNSPECIFIED}
	seqpL = variant{"seqpL", sockdv1.Domain_DOMAIN_LOCAL, sockdv1.Type_TYPE_SEQPACKET, sockdv1.Protocol_PROTOCOL_UNSPECIFIED}

	streamVariants = []variant{tcp4, tcp6, tcpL}
	dgramVariants  = []variant{udp4, udp6, udpL}
)

// connectionOriented reports whether sockets of v are paired by listen/accept.
func (v variant) connectionOriented() bool {
	return v.typ == sockdv1.Type_TYPE_STREAM || v.typ == sockdv1.Type_TYPE_SEQPACKET
}

// loopback is an address to bind a socket of v to: the loopback address with
// port 0, or a fresh path in a private directory for local sockets.
func (v variant) loopback(t testing.TB) *sockdv1.SockAddr {
	t.Helper()
	switch v.domain {
	case sockdv1.Domain_DOMAIN_INET:
		return inetAddr("127.0.0.1", 0)
	case sockdv1.Domain_DOMAIN_INET6:
		return inet6Addr("::1", 0)
	default:
		return localAddr(localPath(t))
	}
}

func inetAddr(ip string, port uint32) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet{Inet: &sockdv1.InetAddr{
		Host: &sockdv1.InetAddr_Address{Address: ip}, Port: port}}}
}

func inet6Addr(ip string, port uint32) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet6{Inet6: &sockdv1.Inet6Addr{
		Host: &sockdv1.Inet6Addr_Address{Address: ip}, Port: port}}}
}

func localAddr(path string) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: []byte(path)}}}
}

var localSeq atomic.Int64

// localPath returns an unused path for a unix-domain socket, short enough for
// sun_path, in a directory removed when the test ends.
func localPath(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, fmt.Sprintf("s%d", localSeq.Add(1)))
}

// ---------------------------------------------------------------------------
// Timeouts.

func infinity() *sockdv1.Timeout {
	return &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}
}

func millis(ms int64) *sockdv1.Timeout {
	return &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: ms}}
}

// nowait is Erlang's nowait; nowaitHandle(h) is nowait with the caller's own Handle.
func nowait() *sockdv1.Timeout { return nowaitHandle(0) }

func nowaitHandle(h uint64) *sockdv1.Timeout {
	return &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Handle: h}}}
}

// ---------------------------------------------------------------------------
// Sessions.

// newSession is newRawSession with a grace long enough that the session never
// expires while a test runs without an Events stream attached.
func newSession(t testing.TB) *rawSession {
	t.Helper()
	return newRawSessionGrace(t, time.Minute)
}

// call returns a context for one unary call of s.
func (s *rawSession) call() (context.Context, context.CancelFunc) { return s.ctx(callTimeout) }

// open opens a socket of variant v.
func (s *rawSession) open(t testing.TB, v variant) string {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Open(ctx, &sockdv1.OpenRequest{Domain: v.domain, Type: v.typ, Protocol: v.proto})
	if err != nil {
		t.Fatalf("open %s: %v", v.name, err)
	}
	requireOK(t, "open "+v.name, resp.GetError())
	if resp.GetSocketId() == "" {
		t.Fatalf("open %s: no socket id", v.name)
	}
	return resp.GetSocketId()
}

func (s *rawSession) bind(t testing.TB, id string, addr *sockdv1.SockAddr) {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Bind(ctx, &sockdv1.BindRequest{SocketId: id, Address: addr})
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	requireOK(t, "bind", resp.GetError())
}

func (s *rawSession) listen(t testing.TB, id string) {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Listen(ctx, &sockdv1.ListenRequest{SocketId: id})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	requireOK(t, "listen", resp.GetError())
}

func (s *rawSession) sockname(t testing.TB, id string) *sockdv1.SockAddr {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.SockName(ctx, &sockdv1.SockNameRequest{SocketId: id})
	if err != nil {
		t.Fatalf("sockname: %v", err)
	}
	requireOK(t, "sockname", resp.GetError())
	return resp.GetAddress()
}

func (s *rawSession) peername(t testing.TB, id string) *sockdv1.SockAddr {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.PeerName(ctx, &sockdv1.PeerNameRequest{SocketId: id})
	if err != nil {
		t.Fatalf("peername: %v", err)
	}
	requireOK(t, "peername", resp.GetError())
	return resp.GetAddress()
}

// bound opens a socket of v bound to its loopback address and returns it with
// the address the kernel gave it.
func (s *rawSession) bound(t testing.TB, v variant) (string, *sockdv1.SockAddr) {
	t.Helper()
	id := s.open(t, v)
	s.bind(t, id, v.loopback(t))
	return id, s.sockname(t, id)
}

// listener opens a bound, listening socket of v.
func (s *rawSession) listener(t testing.TB, v variant) (string, *sockdv1.SockAddr) {
	t.Helper()
	id, addr := s.bound(t, v)
	s.listen(t, id)
	return id, addr
}

// connect connects id to addr, waiting as long as it takes.
func (s *rawSession) connect(t testing.TB, id string, addr *sockdv1.SockAddr) {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Connect(ctx, &sockdv1.ConnectRequest{SocketId: id, Address: addr, Timeout: infinity()})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	requireOK(t, "connect", resp.GetError())
	if resp.GetAsync() != nil {
		t.Fatalf("blocking connect answered select: %v", resp.GetAsync())
	}
}

// accept accepts one connection on the listening socket id.
func (s *rawSession) accept(t testing.TB, id string) string {
	t.Helper()
	resp := s.acceptT(t, id, millis(eventWait.Milliseconds()))
	requireOK(t, "accept", resp.GetError())
	if resp.GetSocketId() == "" {
		t.Fatalf("accept: no socket (async %v)", resp.GetAsync())
	}
	return resp.GetSocketId()
}

// acceptT calls Accept with the given timeout and returns the raw response.
func (s *rawSession) acceptT(t testing.TB, id string, to *sockdv1.Timeout) *sockdv1.AcceptResponse {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Accept(ctx, &sockdv1.AcceptRequest{SocketId: id, Timeout: to})
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	return resp
}

// pair returns two connected sockets of v: for connection-oriented types a
// client and the server side accepted from a listener; for datagram types two
// bound sockets each connected to the other.
func (s *rawSession) pair(t testing.TB, v variant) (client, server string) {
	t.Helper()
	if !v.connectionOriented() {
		a, aAddr := s.bound(t, v)
		b, bAddr := s.bound(t, v)
		s.connect(t, a, bAddr)
		s.connect(t, b, aAddr)
		return a, b
	}
	l, addr := s.listener(t, v)
	client = s.open(t, v)
	s.connect(t, client, addr)
	server = s.accept(t, l)
	s.close(t, l)
	return client, server
}

// send sends all of data on a connected socket.
func (s *rawSession) send(t testing.TB, id string, data []byte) {
	t.Helper()
	resp := s.sendT(t, id, data, millis(eventWait.Milliseconds()))
	requireOK(t, "send", resp.GetError())
	if resp.GetBytesSent() != uint64(len(data)) || resp.GetAsync() != nil {
		t.Fatalf("send: sent %d of %d (unsent %d, async %v)", resp.GetBytesSent(), len(data), resp.GetBytesUnsent(), resp.GetAsync())
	}
}

func (s *rawSession) sendT(t testing.TB, id string, data []byte, to *sockdv1.Timeout) *sockdv1.SendResponse {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Send(ctx, &sockdv1.SendRequest{SocketId: id, Data: data, Timeout: to})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return resp
}

func (s *rawSession) sendTo(t testing.TB, id string, data []byte, dest *sockdv1.SockAddr) {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.SendTo(ctx, &sockdv1.SendToRequest{SocketId: id, Data: data, Address: dest, Timeout: millis(eventWait.Milliseconds())})
	if err != nil {
		t.Fatalf("sendto: %v", err)
	}
	requireOK(t, "sendto", resp.GetError())
	if resp.GetBytesSent() != uint64(len(data)) {
		t.Fatalf("sendto: sent %d of %d", resp.GetBytesSent(), len(data))
	}
}

// recv calls Recv and returns the raw response.
func (s *rawSession) recv(t testing.TB, id string, length int64, to *sockdv1.Timeout) *sockdv1.RecvResponse {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Recv(ctx, &sockdv1.RecvRequest{SocketId: id, Length: length, Timeout: to})
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return resp
}

// recvExactly reads exactly len(want) bytes from a stream socket and checks them.
func (s *rawSession) recvExactly(t testing.TB, id string, want []byte) {
	t.Helper()
	resp := s.recv(t, id, int64(len(want)), millis(eventWait.Milliseconds()))
	requireOK(t, "recv", resp.GetError())
	if string(resp.GetData()) != string(want) {
		t.Fatalf("recv = %q, want %q", clip(resp.GetData()), clip(want))
	}
}

func (s *rawSession) recvFrom(t testing.TB, id string, size int64, to *sockdv1.Timeout) *sockdv1.RecvFromResponse {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.RecvFrom(ctx, &sockdv1.RecvFromRequest{SocketId: id, BufferSize: size, Timeout: to})
	if err != nil {
		t.Fatalf("recvfrom: %v", err)
	}
	return resp
}

func (s *rawSession) recvMsg(t testing.TB, id string, size int64, to *sockdv1.Timeout) *sockdv1.RecvMsgResponse {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.RecvMsg(ctx, &sockdv1.RecvMsgRequest{SocketId: id, BufferSize: size, Timeout: to})
	if err != nil {
		t.Fatalf("recvmsg: %v", err)
	}
	return resp
}

func (s *rawSession) cancelOp(t testing.TB, id string, info *sockdv1.AsyncInfo) *sockdv1.SocketError {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Cancel(ctx, &sockdv1.CancelRequest{SocketId: id, Info: info})
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	return resp.GetError()
}

func (s *rawSession) info(t testing.TB, id string) *sockdv1.SocketInfo {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Info(ctx, &sockdv1.InfoRequest{SocketId: id})
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	return resp.GetInfo()
}

// close closes id and expects ok.
func (s *rawSession) close(t testing.TB, id string) {
	t.Helper()
	requireOK(t, "close", s.closeErr(t, id))
}

func (s *rawSession) closeErr(t testing.TB, id string) *sockdv1.SocketError {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Close(ctx, &sockdv1.CloseRequest{SocketId: id})
	if err != nil {
		t.Fatalf("close: %v", err)
	}
	return resp.GetError()
}

func (s *rawSession) shutdown(t testing.TB, id string, how sockdv1.ShutdownHow) {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Shutdown(ctx, &sockdv1.ShutdownRequest{SocketId: id, How: how})
	if err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	requireOK(t, "shutdown", resp.GetError())
}

// waitInfo polls Info of id until cond holds, for operations that block
// inside the daemon and so cannot be awaited as events.
func (s *rawSession) waitInfo(t testing.TB, id, what string, cond func(*sockdv1.SocketInfo) bool) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		in := s.info(t, id)
		if cond(in) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: info is %v", what, in)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *rawSession) waitReaders(t testing.TB, id string, n uint32) {
	t.Helper()
	s.waitInfo(t, id, fmt.Sprintf("num_readers == %d", n), func(in *sockdv1.SocketInfo) bool { return in.GetNumReaders() == n })
}

func (s *rawSession) waitAcceptors(t testing.TB, id string, n uint32) {
	t.Helper()
	s.waitInfo(t, id, fmt.Sprintf("num_acceptors == %d", n), func(in *sockdv1.SocketInfo) bool { return in.GetNumAcceptors() == n })
}

// ---------------------------------------------------------------------------
// Events.

// eventReader collects one Events stream of a session into a channel.
type eventReader struct {
	ch     chan *sockdv1.EventsResponse // closed when the stream ends
	err    error                        // the stream's end, valid once ch is closed
	cancel context.CancelFunc
}

// events attaches an Events stream to s, resuming after the given sequence.
// The stream is detached when the test ends.
func (s *rawSession) events(t testing.TB, after uint64) *eventReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := s.api.Events(ctx, &sockdv1.EventsRequest{SessionId: s.id, AfterSequence: after})
	if err != nil {
		cancel()
		t.Fatalf("events: %v", err)
	}
	r := &eventReader{ch: make(chan *sockdv1.EventsResponse, 1024), cancel: cancel}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(r.ch)
		for {
			ev, err := stream.Recv()
			if err != nil {
				r.err = err
				return
			}
			r.ch <- ev
		}
	}()
	t.Cleanup(func() {
		cancel()
		for range r.ch { // unblock the reader if the buffer is full
		}
		<-done
	})
	return r
}

func isMarker(ev *sockdv1.EventsResponse) bool {
	return ev.GetCaughtUp() != nil || ev.GetGap() != nil
}

// nextRaw returns the next message of the stream, markers included.
func (r *eventReader) nextRaw(t testing.TB) *sockdv1.EventsResponse {
	t.Helper()
	select {
	case ev, ok := <-r.ch:
		if !ok {
			t.Fatalf("event stream ended: %v", r.err)
		}
		return ev
	case <-time.After(eventWait):
		t.Fatalf("no event within %v", eventWait)
	}
	return nil
}

// expectEvent returns the next event of the session, skipping stream markers.
func (r *eventReader) expectEvent(t testing.TB) *sockdv1.EventsResponse {
	t.Helper()
	for {
		if ev := r.nextRaw(t); !isMarker(ev) {
			return ev
		}
	}
}

// expectNoEvent checks that no event (markers aside) arrives within quietWindow.
func (r *eventReader) expectNoEvent(t testing.TB) {
	t.Helper()
	timer := time.NewTimer(quietWindow)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-r.ch:
			if !ok {
				t.Fatalf("event stream ended: %v", r.err)
			}
			if !isMarker(ev) {
				t.Fatalf("unexpected event %v", ev)
			}
		case <-timer.C:
			return
		}
	}
}

// expectSelect expects the next event to be select for (socket, handle).
func (r *eventReader) expectSelect(t testing.TB, socket string, info *sockdv1.AsyncInfo) {
	t.Helper()
	ev := r.expectEvent(t)
	sel := ev.GetSelect()
	if sel == nil || ev.GetSocketId() != socket || sel.GetHandle() != info.GetHandle() || sel.GetOperation() != info.GetOperation() {
		t.Fatalf("got event %v, want select{%s, %v, handle %d}", ev, socket, info.GetOperation(), info.GetHandle())
	}
}

// expectAbort expects the next event to be abort for (socket, handle) with
// the given reason kind.
func (r *eventReader) expectAbort(t testing.TB, socket string, info *sockdv1.AsyncInfo, kind sockdv1.SocketError_Kind) {
	t.Helper()
	ev := r.expectEvent(t)
	ab := ev.GetAbort()
	if ab == nil || ev.GetSocketId() != socket || ab.GetHandle() != info.GetHandle() || ab.GetReason().GetKind() != kind {
		t.Fatalf("got event %v, want abort{%s, handle %d, %v}", ev, socket, info.GetHandle(), kind)
	}
}

// expectEnd waits for the stream to end and returns how it ended (nil for a
// clean end).
func (r *eventReader) expectEnd(t testing.TB) error {
	t.Helper()
	timer := time.NewTimer(eventWait)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-r.ch:
			if !ok {
				if errors.Is(r.err, io.EOF) {
					return nil
				}
				return r.err
			}
		case <-timer.C:
			t.Fatalf("event stream did not end within %v", eventWait)
		}
	}
}

// ---------------------------------------------------------------------------
// Outcomes.

// requireOK fails unless se is nil (the call succeeded).
func requireOK(t testing.TB, what string, se *sockdv1.SocketError) {
	t.Helper()
	if se != nil {
		t.Fatalf("%s: unexpected socket error %v", what, se)
	}
}

// requireSockErr fails unless se has the given kind and, if reason is not
// empty, that reason.
func requireSockErr(t testing.TB, what string, se *sockdv1.SocketError, kind sockdv1.SocketError_Kind, reason string) {
	t.Helper()
	if se == nil {
		t.Fatalf("%s: no socket error, want %v %s", what, kind, reason)
	}
	if se.GetKind() != kind || (reason != "" && se.GetReason() != reason) {
		t.Fatalf("%s: socket error %v, want %v %s", what, se, kind, reason)
	}
}

// requireAsync fails unless info is a select info for op, and returns it.
func requireAsync(t testing.TB, what string, info *sockdv1.AsyncInfo, op sockdv1.Operation) *sockdv1.AsyncInfo {
	t.Helper()
	if info == nil {
		t.Fatalf("%s: not pending, want select for %v", what, op)
	}
	if info.GetOperation() != op || info.GetMode() != sockdv1.AsyncMode_ASYNC_MODE_SELECT {
		t.Fatalf("%s: async %v, want select for %v", what, info, op)
	}
	return info
}

// requireStatus fails unless err is a gRPC status with code and an ErrorInfo of
// domain "sockd" whose reason is reason (any reason if empty).
func requireStatus(t testing.TB, what string, err error, code codes.Code, reason string) {
	t.Helper()
	st, ok := status.FromError(err)
	if err == nil || !ok {
		t.Fatalf("%s: error %v, want status %v", what, err, code)
	}
	if st.Code() != code {
		t.Fatalf("%s: status %v, want %v", what, st, code)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetDomain() != "sockd" || (reason != "" && info.GetReason() != reason) {
				t.Fatalf("%s: ErrorInfo %v, want domain sockd reason %q", what, info, reason)
			}
			return
		}
	}
	t.Fatalf("%s: status %v carries no ErrorInfo", what, st)
}

// requireField checks that err is INVALID_ARGUMENT naming field, in its
// ErrorInfo's metadata and its BadRequest.
func requireField(t testing.TB, what string, err error, field string) {
	t.Helper()
	requireStatus(t, what, err, codes.InvalidArgument, "")
	for _, d := range status.Convert(err).Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if got := d.GetMetadata()["field"]; got != field {
				t.Errorf("%s: ErrorInfo names field %q, want %q", what, got, field)
			}
		case *errdetails.BadRequest:
			if v := d.GetFieldViolations(); len(v) != 1 || v[0].GetField() != field {
				t.Errorf("%s: BadRequest %v, want field %q", what, v, field)
			}
		}
	}
}

// codeOf is the gRPC code of err (OK for nil).
func codeOf(err error) codes.Code { return status.Code(err) }

func requireAddr(t testing.TB, what string, got, want *sockdv1.SockAddr) {
	t.Helper()
	if !proto.Equal(got, want) {
		t.Fatalf("%s: address %v, want %v", what, got, want)
	}
}

// ---------------------------------------------------------------------------
// Concurrency.

// waitListening waits until a TCP listener accepts at addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens at %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requireRoot skips a test that needs the daemon and its clients to run as
// root (why says what for): the README's test command also runs as an
// ordinary user, whose own daemon is unrestricted for it but not an admin.
func requireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
}

// goCall runs f in a goroutine and returns a channel with its result, for
// calls that block inside the daemon while the test does something else.
func goCall[T any](f func() T) <-chan T {
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	return ch
}

// await receives from ch or fails after callTimeout.
func await[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(callTimeout):
		t.Fatalf("%s: no answer within %v", what, callTimeout)
	}
	var zero T
	return zero
}

// eventually polls cond until it holds, or fails after callTimeout.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(callTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, callTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// result pairs a response with the call's error, for goCall.
type result[T any] struct {
	resp T
	err  error
}

// ---------------------------------------------------------------------------
// Misc.

// payload returns n deterministic bytes labelled by tag.
func payload(tag string, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = tag[i%len(tag)]
	}
	return b
}

// clip shortens data for failure messages.
func clip(b []byte) string {
	if len(b) > 64 {
		return fmt.Sprintf("%s... (%d bytes)", b[:64], len(b))
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasAnyState(in *sockdv1.SocketInfo, states ...string) bool {
	for _, s := range states {
		if contains(in.GetRstates(), s) || contains(in.GetWstates(), s) {
			return true
		}
	}
	return false
}

// uniqueName returns a name no other test uses, for named sessions.
func uniqueName(t testing.TB) string {
	return fmt.Sprintf("it-%s-%d", strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()), localSeq.Add(1))
}

// tcpListener is a listener of the test's own on an IPv4 loopback port, a
// peer outside the daemon; it is closed when the test ends.
func tcpListener(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}
