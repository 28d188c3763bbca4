package integration

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Completion mode (the seed's Windows semantics, offered on Linux): a nowait
// call in completion mode answers completion at once, and when the socket is
// ready the daemon performs the operation itself; the completion event's
// status is the response the call would have given. Every operation is run
// here in both modes, and the two must agree.

func nowaitCompletion(h uint64) *sockdv1.Timeout {
	return &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{
		Handle: h, Mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION}}}
}

// asyncResponse is what every nowait-capable response has.
type asyncResponse interface {
	proto.Message
	GetAsync() *sockdv1.AsyncInfo
	GetError() *sockdv1.SocketError
}

// completionStatus returns the response a completion event carries.
func completionStatus(c *sockdv1.CompletionEvent) asyncResponse {
	switch st := c.GetStatus().(type) {
	case *sockdv1.CompletionEvent_Accept:
		return st.Accept
	case *sockdv1.CompletionEvent_Connect:
		return st.Connect
	case *sockdv1.CompletionEvent_Send:
		return st.Send
	case *sockdv1.CompletionEvent_Recv:
		return st.Recv
	case *sockdv1.CompletionEvent_Recvfrom:
		return st.Recvfrom
	case *sockdv1.CompletionEvent_Recvmsg:
		return st.Recvmsg
	}
	return nil
}

// expectCompletion expects the next event to be the completion of info on
// socket and returns its status.
func (r *eventReader) expectCompletion(t testing.TB, socket string, info *sockdv1.AsyncInfo) asyncResponse {
	t.Helper()
	ev := r.expectEvent(t)
	c := ev.GetCompletion()
	if c == nil || ev.GetSocketId() != socket || c.GetHandle() != info.GetHandle() || c.GetOperation() != info.GetOperation() {
		t.Fatalf("got event %v, want completion{%s, %v, handle %d}", ev, socket, info.GetOperation(), info.GetHandle())
	}
	st := completionStatus(c)
	if st == nil {
		t.Fatalf("completion %v has no status", c)
	}
	return st
}

// asyncScenario is one operation made to wait. start makes the call (again,
// in select mode) with the given timeout; ready makes the socket ready; check
// inspects the final response. socket is where the events arrive.
type asyncScenario struct {
	socket string
	start  func(*sockdv1.Timeout) asyncResponse
	ready  func()
	check  func(asyncResponse)
}

type asyncCase struct {
	name    string
	op      sockdv1.Operation
	prepare func(t *testing.T, s *rawSession) asyncScenario
}

func asyncCases() []asyncCase {
	return []asyncCase{
		{"accept", sockdv1.Operation_OPERATION_ACCEPT, prepareAccept},
		{"connect", sockdv1.Operation_OPERATION_CONNECT, prepareConnect},
		{"connect-refused", sockdv1.Operation_OPERATION_CONNECT, prepareConnectRefused},
		{"send", sockdv1.Operation_OPERATION_SEND, prepareSend},
		{"sendto", sockdv1.Operation_OPERATION_SENDTO, prepareSendTo},
		{"sendmsg", sockdv1.Operation_OPERATION_SENDMSG, prepareSendMsg},
		{"recv", sockdv1.Operation_OPERATION_RECV, prepareRecv},
		{"recvfrom", sockdv1.Operation_OPERATION_RECVFROM, prepareRecvFrom},
		{"recvmsg", sockdv1.Operation_OPERATION_RECVMSG, prepareRecvMsg},
	}
}

// TestEveryOperationInBothModes runs each nowait operation in select mode
// (answer select, event, retry) and in completion mode (answer completion,
// event with the result) and checks the same result comes out.
func TestEveryOperationInBothModes(t *testing.T) {
	t.Parallel()
	for _, c := range asyncCases() {
		for _, completion := range []bool{false, true} {
			mode := "select"
			if completion {
				mode = "completion"
			}
			t.Run(c.name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				s := newSession(t)
				ev := s.events(t, 0)
				sc := c.prepare(t, s)
				to := nowaitHandle(0)
				if completion {
					to = nowaitCompletion(0)
				}
				resp := sc.start(to)
				info := resp.GetAsync()
				if info == nil {
					t.Fatalf("nowait %s did not wait: %v", c.name, resp)
				}
				wantMode := sockdv1.AsyncMode_ASYNC_MODE_SELECT
				if completion {
					wantMode = sockdv1.AsyncMode_ASYNC_MODE_COMPLETION
				}
				if info.GetOperation() != c.op || info.GetMode() != wantMode || info.GetHandle() == 0 {
					t.Fatalf("async info %v, want %v in %v with a handle", info, c.op, wantMode)
				}
				sc.ready()
				if completion {
					final := ev.expectCompletion(t, sc.socket, info)
					if final.GetAsync() != nil {
						t.Fatalf("completion status has async info: %v", final)
					}
					sc.check(final)
					ev.expectNoEvent(t)
					return
				}
				for resp.GetAsync() != nil {
					ev.expectSelect(t, sc.socket, resp.GetAsync())
					resp = sc.start(to)
				}
				sc.check(resp)
			})
		}
	}
}

func prepareAccept(t *testing.T, s *rawSession) asyncScenario {
	l, addr := s.listener(t, tcp4)
	c := s.open(t, tcp4)
	return asyncScenario{
		socket: l,
		start: func(to *sockdv1.Timeout) asyncResponse {
			return s.acceptT(t, l, to)
		},
		ready: func() { s.connect(t, c, addr) },
		check: func(r asyncResponse) {
			requireOK(t, "accept", r.GetError())
			id := r.(*sockdv1.AcceptResponse).GetSocketId()
			if id == "" {
				t.Fatal("accept: no socket id")
			}
			// The accepted socket belongs to the session: it may use it,
			// and it goes when the session goes.
			if owner := s.info(t, id).GetOwner(); owner != s.id {
				t.Fatalf("accepted socket owned by %q, want %q", owner, s.id)
			}
			s.send(t, c, []byte("ping"))
			s.recvExactly(t, id, []byte("ping"))
		},
	}
}

func (s *rawSession) connectT(t testing.TB, id string, addr *sockdv1.SockAddr, to *sockdv1.Timeout) *sockdv1.ConnectResponse {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Connect(ctx, &sockdv1.ConnectRequest{SocketId: id, Address: addr, Timeout: to})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	return resp
}

func prepareConnect(t *testing.T, s *rawSession) asyncScenario {
	l, addr := s.listener(t, tcp4)
	c := s.open(t, tcp4)
	started := false
	return asyncScenario{
		socket: c,
		start: func(to *sockdv1.Timeout) asyncResponse {
			if started {
				return s.connectT(t, c, nil, to) // connect/1 finalises
			}
			started = true
			return s.connectT(t, c, addr, to)
		},
		ready: func() {},
		check: func(r asyncResponse) {
			requireOK(t, "connect", r.GetError())
			srv := s.accept(t, l)
			s.send(t, c, []byte("hello"))
			s.recvExactly(t, srv, []byte("hello"))
		},
	}
}

func prepareConnectRefused(t *testing.T, s *rawSession) asyncScenario {
	// A port that was just bound and released refuses connections.
	probe, addr := s.bound(t, tcp4)
	s.close(t, probe)
	c := s.open(t, tcp4)
	started := false
	return asyncScenario{
		socket: c,
		start: func(to *sockdv1.Timeout) asyncResponse {
			if started {
				return s.connectT(t, c, nil, to)
			}
			started = true
			return s.connectT(t, c, addr, to)
		},
		ready: func() {},
		check: func(r asyncResponse) {
			requireSockErr(t, "connect to a closed port", r.GetError(), sockdv1.SocketError_KIND_POSIX, "econnrefused")
		},
	}
}

// bulk is the most one call carries, more than a loopback TCP connection
// buffers once streamSendScenario has made its buffers small, so that a
// nowait send of it waits for the peer to read.
const bulk = client.MaxCallData

func prepareSend(t *testing.T, s *rawSession) asyncScenario {
	c, srv := s.pair(t, tcp4)
	return streamSendScenario(t, s, c, srv, func(data []byte, to *sockdv1.Timeout) asyncResponse {
		ctx, cancel := s.call()
		defer cancel()
		resp, err := s.api.Send(ctx, &sockdv1.SendRequest{SocketId: c, Data: data, Timeout: to})
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		return resp
	})
}

func prepareSendMsg(t *testing.T, s *rawSession) asyncScenario {
	c, srv := s.pair(t, tcp4)
	return streamSendScenario(t, s, c, srv, func(data []byte, to *sockdv1.Timeout) asyncResponse {
		ctx, cancel := s.call()
		defer cancel()
		half := len(data) / 2
		resp, err := s.api.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: c, Iov: [][]byte{data[:half], data[half:]}, Timeout: to})
		if err != nil {
			t.Fatalf("sendmsg: %v", err)
		}
		return resp
	})
}

type sentCounts interface {
	GetBytesSent() uint64
	GetBytesUnsent() uint64
}

// streamSendScenario sends bulk bytes on c while srv does not read; ready
// starts draining srv. In select mode each retry sends what is left.
func streamSendScenario(t *testing.T, s *rawSession, c, srv string, send func([]byte, *sockdv1.Timeout) asyncResponse) asyncScenario {
	s.mustSetOpt(t, c, optKey(sockL, "sndbuf"), intValue(64<<10))
	s.mustSetOpt(t, srv, optKey(sockL, "rcvbuf"), intValue(64<<10))
	data := payload("bulk", bulk)
	sent := 0
	var drained <-chan struct{}
	return asyncScenario{
		socket: c,
		start: func(to *sockdv1.Timeout) asyncResponse {
			r := send(data[sent:], to)
			if r.GetAsync() == nil || r.GetAsync().GetMode() == sockdv1.AsyncMode_ASYNC_MODE_SELECT {
				sent += int(r.(sentCounts).GetBytesSent())
			}
			return r
		},
		ready: func() {
			drained = goCall(func() struct{} { drain(t, s, srv, bulk); return struct{}{} })
		},
		check: func(r asyncResponse) {
			requireOK(t, "send", r.GetError())
			counts := r.(sentCounts)
			if counts.GetBytesUnsent() != 0 {
				t.Fatalf("send left %d bytes unsent", counts.GetBytesUnsent())
			}
			if r.GetAsync() == nil && sent == 0 {
				sent = int(counts.GetBytesSent()) // completion: the event has the total
			}
			if sent != bulk {
				t.Fatalf("sent %d bytes in all, want %d", sent, bulk)
			}
			await(t, "peer reads everything", drained)
		},
	}
}

// prepareSendTo fills the receive queue of a unix datagram socket, so that a
// connected sender's sendto waits until the receiver reads. The receiver is
// not connected back: between a mutually connected pair Linux limits the
// sender by its own send buffer instead, and one read does not free enough
// of it to report the sender writable.
func prepareSendTo(t *testing.T, s *rawSession) asyncScenario {
	a, _ := s.bound(t, udpL)
	b, dest := s.bound(t, udpL)
	s.connect(t, a, dest)
	msg := []byte("datagram")
	sendTo := func(to *sockdv1.Timeout) *sockdv1.SendToResponse {
		ctx, cancel := s.call()
		defer cancel()
		resp, err := s.api.SendTo(ctx, &sockdv1.SendToRequest{SocketId: a, Data: msg, Address: dest, Timeout: to})
		if err != nil {
			t.Fatalf("sendto: %v", err)
		}
		return resp
	}
	queued := 0
	for ; ; queued++ {
		resp := sendTo(millis(0))
		if resp.GetError().GetKind() == sockdv1.SocketError_KIND_TIMEOUT {
			break
		}
		requireOK(t, "filling sendto", resp.GetError())
		if queued > 10000 {
			t.Fatal("the receive queue never filled")
		}
	}
	return asyncScenario{
		socket: a,
		start:  func(to *sockdv1.Timeout) asyncResponse { return sendTo(to) },
		ready: func() {
			requireOK(t, "recv to make room", s.recvFrom(t, b, 0, millis(0)).GetError())
		},
		check: func(r asyncResponse) {
			requireOK(t, "sendto", r.GetError())
			if n := r.(sentCounts).GetBytesSent(); n != uint64(len(msg)) {
				t.Fatalf("sendto sent %d, want %d", n, len(msg))
			}
			// One was read to make room, so the queue holds queued again,
			// the last of them the datagram that waited.
			for range queued {
				got := s.recvFrom(t, b, 0, millis(0))
				requireOK(t, "drain", got.GetError())
				if !bytes.Equal(got.GetData(), msg) {
					t.Fatalf("datagram %q, want %q", got.GetData(), msg)
				}
			}
			requireSockErr(t, "queue empty", s.recvFrom(t, b, 0, millis(0)).GetError(), sockdv1.SocketError_KIND_TIMEOUT, "")
		},
	}
}

func prepareRecv(t *testing.T, s *rawSession) asyncScenario {
	c, srv := s.pair(t, tcp4)
	return asyncScenario{
		socket: srv,
		start:  func(to *sockdv1.Timeout) asyncResponse { return s.recv(t, srv, 5, to) },
		ready:  func() { s.send(t, c, []byte("he")); s.send(t, c, []byte("llo")) },
		check: func(r asyncResponse) {
			requireOK(t, "recv", r.GetError())
			if got := r.(*sockdv1.RecvResponse).GetData(); string(got) != "hello" {
				t.Fatalf("recv = %q, want hello", got)
			}
		},
	}
}

func prepareRecvFrom(t *testing.T, s *rawSession) asyncScenario {
	r, raddr := s.bound(t, udp4)
	w, waddr := s.bound(t, udp4)
	return asyncScenario{
		socket: r,
		start:  func(to *sockdv1.Timeout) asyncResponse { return s.recvFrom(t, r, 0, to) },
		ready:  func() { s.sendTo(t, w, []byte("dgram"), raddr) },
		check: func(resp asyncResponse) {
			requireOK(t, "recvfrom", resp.GetError())
			got := resp.(*sockdv1.RecvFromResponse)
			if string(got.GetData()) != "dgram" {
				t.Fatalf("recvfrom = %q, want dgram", got.GetData())
			}
			requireAddr(t, "source", got.GetSource(), waddr)
		},
	}
}

func prepareRecvMsg(t *testing.T, s *rawSession) asyncScenario {
	r, raddr := s.bound(t, udp4)
	w, waddr := s.bound(t, udp4)
	return asyncScenario{
		socket: r,
		start:  func(to *sockdv1.Timeout) asyncResponse { return s.recvMsg(t, r, 0, to) },
		ready:  func() { s.sendTo(t, w, []byte("msg"), raddr) },
		check: func(resp asyncResponse) {
			requireOK(t, "recvmsg", resp.GetError())
			got := resp.(*sockdv1.RecvMsgResponse)
			if !bytes.Equal(bytes.Join(got.GetIov(), nil), []byte("msg")) {
				t.Fatalf("recvmsg = %q, want msg", got.GetIov())
			}
			requireAddr(t, "address", got.GetAddress(), waddr)
		},
	}
}

// TestCompletionCancel: after Cancel returns, no completion for the handle is
// delivered, even when the data it waited for arrives; the next call gets it.
func TestCompletionCancel(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	ev := s.events(t, 0)
	c, srv := s.pair(t, tcp4)
	resp := s.recv(t, srv, 4, nowaitCompletion(77))
	info := resp.GetAsync()
	if info.GetMode() != sockdv1.AsyncMode_ASYNC_MODE_COMPLETION || info.GetHandle() != 77 {
		t.Fatalf("async %v, want completion with handle 77", info)
	}
	requireOK(t, "cancel", s.cancelOp(t, srv, info))
	s.send(t, c, []byte("data"))
	ev.expectNoEvent(t)
	s.recvExactly(t, srv, []byte("data"))
	requireInvalid(t, "second cancel", s.cancelOp(t, srv, info), "completion_info")
}

// TestCompletionClose: closing the socket aborts a pending completion with
// closed, and a queued one of another session too.
func TestCompletionClose(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	other := newSession(t)
	ev := s.events(t, 0)
	otherEv := other.events(t, 0)
	l, _ := s.listener(t, tcp4)
	mine := s.acceptT(t, l, nowaitCompletion(0)).GetAsync()
	if mine == nil {
		t.Fatal("accept did not wait")
	}
	queued := other.acceptT(t, l, nowaitCompletion(0)).GetAsync()
	if queued == nil {
		t.Fatal("queued accept did not wait")
	}
	s.close(t, l)
	ev.expectAbort(t, l, mine, sockdv1.SocketError_KIND_CLOSED)
	otherEv.expectAbort(t, l, queued, sockdv1.SocketError_KIND_CLOSED)
}

// TestCompletionSessionDeath: when the session waiting in completion mode
// dies, its wait is withdrawn and the next session in the lane gets the
// data, in a completion of its own.
func TestCompletionSessionDeath(t *testing.T) {
	t.Parallel()
	owner := newSession(t)
	dying := newSession(t)
	ev := owner.events(t, 0)
	c, srv := owner.pair(t, tcp4)
	if dying.recv(t, srv, 3, nowaitCompletion(0)).GetAsync() == nil {
		t.Fatal("recv of the dying session did not wait")
	}
	next := owner.recv(t, srv, 3, nowaitCompletion(0)).GetAsync()
	if next == nil {
		t.Fatal("queued recv did not wait")
	}
	closeSession(t, dying)
	owner.send(t, c, []byte("abc"))
	got := ev.expectCompletion(t, srv, next)
	requireOK(t, "recv after death", got.GetError())
	if data := got.(*sockdv1.RecvResponse).GetData(); string(data) != "abc" {
		t.Fatalf("recv = %q, want abc", data)
	}
}

// TestCompletionOnForeignSocket: a completion-mode call on a socket the
// caller may not use is refused like any other call.
func TestCompletionOnForeignSocket(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	_, srv := s.pair(t, tcp4)
	ctx, cancel := s.call()
	defer cancel()
	_, err := s.api.Recv(ctx, &sockdv1.RecvRequest{SocketId: srv + "x", Length: 1, Timeout: nowaitCompletion(0)})
	requireStatus(t, "recv on an unknown socket", err, codes.NotFound, "SOCKET_NOT_FOUND")
}
