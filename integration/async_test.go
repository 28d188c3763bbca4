package integration

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Nowait ("api_a_*") scenarios of the reference's test list (§9, items 14–21)
// and the tickets about them (otp18635). A nowait call answers select at once;
// the select event on the caller's Events stream says "retry now".

// TestNowaitConnect re-expresses api_a_connect_tcp4 (+ tcp6, tcpL): a nowait
// connect answers select (a unix-domain connect may complete at once), the
// select event follows, and connect without an address finalises it.
func TestNowaitConnect(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			ev := s.events(t, 0)
			l, addr := s.listener(t, v)
			c := s.open(t, v)

			ctx, cancel := s.call()
			defer cancel()
			resp, err := s.api.Connect(ctx, &sockdv1.ConnectRequest{SocketId: c, Address: addr, Timeout: nowait()})
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			requireOK(t, "nowait connect", resp.GetError())
			if resp.GetAsync() == nil && v.domain != sockdv1.Domain_DOMAIN_LOCAL {
				t.Fatalf("nowait connect on %s completed at once, want select", v.name)
			}
			if resp.GetAsync() != nil {
				info := requireAsync(t, "nowait connect", resp.GetAsync(), sockdv1.Operation_OPERATION_CONNECT)
				// Until connect/1 finalises it, the connect is in progress
				// (reference §1.4, §2.2): a send is {invalid, state} and
				// another session's connect is already.
				send := s.sendT(t, c, []byte("early"), millis(0))
				requireInvalid(t, "send while connecting", send.GetError(), "state")
				other := newSession(t)
				ctx2, cancel2 := other.call()
				defer cancel2()
				again, err := other.api.Connect(ctx2, &sockdv1.ConnectRequest{SocketId: c, Address: addr, Timeout: nowait()})
				if err != nil {
					t.Fatalf("second connect: %v", err)
				}
				requireSockErr(t, "another session's connect while connecting", again.GetError(), sockdv1.SocketError_KIND_ALREADY, "already")
				ev.expectSelect(t, c, info)
				fin, err := s.api.Connect(ctx, &sockdv1.ConnectRequest{SocketId: c})
				if err != nil {
					t.Fatalf("connect/1: %v", err)
				}
				requireOK(t, "connect/1", fin.GetError())
				if fin.GetAsync() != nil {
					t.Fatalf("connect/1 answered select %v; it never does", fin.GetAsync())
				}
			}
			srv := s.accept(t, l)
			requireAddr(t, "peername", s.peername(t, c), addr)
			s.send(t, c, []byte("x"))
			s.recvExactly(t, srv, []byte("x"))
		})
	}
}

// TestNowaitRecvFrom re-expresses api_a_sendto_and_recvfrom_udp4 and
// api_a_sendmsg_and_recvmsg_udp4 (+ udp6, udpL), in the async (daemon-chosen
// handle) and async_ref (caller's handle) groups: a nowait receive answers
// select with the handle, the select event arrives when a datagram does, and
// the retry returns it with its source.
func TestNowaitRecvFrom(t *testing.T) {
	t.Parallel()
	for _, v := range dgramVariants {
		for _, op := range []sockdv1.Operation{sockdv1.Operation_OPERATION_RECVFROM, sockdv1.Operation_OPERATION_RECVMSG} {
			for _, handle := range []uint64{0, 4242} {
				name := fmt.Sprintf("%s/%s/handle=%d", v.name, opName(op), handle)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					s := newSession(t)
					ev := s.events(t, 0)
					a, aAddr := s.bound(t, v)
					b, bAddr := s.bound(t, v)

					recv := func(to *sockdv1.Timeout) (data []byte, src *sockdv1.SockAddr, async *sockdv1.AsyncInfo, se *sockdv1.SocketError) {
						if op == sockdv1.Operation_OPERATION_RECVFROM {
							r := s.recvFrom(t, b, 0, to)
							return r.GetData(), r.GetSource(), r.GetAsync(), r.GetError()
						}
						r := s.recvMsg(t, b, 0, to)
						return bytes.Join(r.GetIov(), nil), r.GetAddress(), r.GetAsync(), r.GetError()
					}
					_, _, async, se := recv(nowaitHandle(handle))
					requireOK(t, "nowait "+opName(op), se)
					info := requireAsync(t, "nowait "+opName(op), async, op)
					if handle != 0 && info.GetHandle() != handle {
						t.Fatalf("select handle %d, want the caller's %d", info.GetHandle(), handle)
					}
					ev.expectNoEvent(t)

					s.sendTo(t, a, []byte("datagram"), bAddr)
					ev.expectSelect(t, b, info)
					data, src, async, se := recv(nowaitHandle(handle))
					requireOK(t, "retry", se)
					if async != nil || string(data) != "datagram" {
						t.Fatalf("retry: data %q async %v, want the datagram", data, async)
					}
					requireAddr(t, "source", src, aAddr)
					if in := s.info(t, b); in.GetNumReaders() != 0 {
						t.Errorf("num_readers = %d after the read completed, want 0", in.GetNumReaders())
					}
				})
			}
		}
	}
}

func opName(op sockdv1.Operation) string {
	return map[sockdv1.Operation]string{
		sockdv1.Operation_OPERATION_ACCEPT:   "accept",
		sockdv1.Operation_OPERATION_CONNECT:  "connect",
		sockdv1.Operation_OPERATION_RECV:     "recv",
		sockdv1.Operation_OPERATION_RECVFROM: "recvfrom",
		sockdv1.Operation_OPERATION_RECVMSG:  "recvmsg",
		sockdv1.Operation_OPERATION_SEND:     "send",
		sockdv1.Operation_OPERATION_SENDTO:   "sendto",
		sockdv1.Operation_OPERATION_SENDMSG:  "sendmsg",
	}[op]
}

// nowaitRecv issues a nowait recv-family call of op on id and returns its
// response fields.
func (s *rawSession) nowaitRecv(t testing.TB, id string, op sockdv1.Operation, length int64, to *sockdv1.Timeout) ([]byte, *sockdv1.AsyncInfo, *sockdv1.SocketError) {
	t.Helper()
	switch op {
	case sockdv1.Operation_OPERATION_RECV:
		r := s.recv(t, id, length, to)
		return r.GetData(), r.GetAsync(), r.GetError()
	case sockdv1.Operation_OPERATION_RECVFROM:
		r := s.recvFrom(t, id, length, to)
		return r.GetData(), r.GetAsync(), r.GetError()
	case sockdv1.Operation_OPERATION_RECVMSG:
		r := s.recvMsg(t, id, length, to)
		return bytes.Join(r.GetIov(), nil), r.GetAsync(), r.GetError()
	}
	t.Fatalf("not a receive: %v", op)
	return nil, nil, nil
}

// TestNowaitSendAndRecv re-expresses api_a_send_and_recv_tcp4 and
// api_a_sendmsg_and_recvmsg_tcp4 (+ tcp6, tcpL): nowait recv answers select,
// the peer's send fires the select event, and the retry returns the bytes.
func TestNowaitSendAndRecv(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		for _, op := range []sockdv1.Operation{sockdv1.Operation_OPERATION_RECV, sockdv1.Operation_OPERATION_RECVMSG} {
			t.Run(v.name+"/"+opName(op), func(t *testing.T) {
				t.Parallel()
				s := newSession(t)
				ev := s.events(t, 0)
				c, srv := s.pair(t, v)

				data, async, se := s.nowaitRecv(t, srv, op, 0, nowait())
				requireOK(t, "nowait "+opName(op), se)
				info := requireAsync(t, "nowait "+opName(op), async, op)
				if len(data) != 0 {
					t.Fatalf("nowait %s on an idle socket returned %q", opName(op), data)
				}

				sent := s.sendT(t, c, []byte("request"), nowait())
				requireOK(t, "nowait send", sent.GetError())
				if sent.GetAsync() != nil || sent.GetBytesSent() != 7 {
					t.Fatalf("nowait send: %v, want all 7 bytes sent at once", sent)
				}
				ev.expectSelect(t, srv, info)
				data, async, se = s.nowaitRecv(t, srv, op, 0, nowait())
				requireOK(t, "retry", se)
				if async != nil || string(data) != "request" {
					t.Fatalf("retry: data %q async %v, want request", data, async)
				}
			})
		}
	}
}

// TestNowaitRecvPartial follows reference §2.6: a nowait recv of Length N on a
// stream where fewer bytes arrived returns that data AND select; the reader
// stays current and its select event arrives with the rest.
func TestNowaitRecvPartial(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			ev := s.events(t, 0)
			c, srv := s.pair(t, v)
			s.send(t, c, []byte("0123456789"))

			var got []byte
			var info *sockdv1.AsyncInfo
			for len(got) < 10 { // the 10 bytes may arrive in pieces
				resp := s.recv(t, srv, int64(20-len(got)), nowait())
				requireOK(t, "nowait recv 20", resp.GetError())
				info = requireAsync(t, "nowait recv 20 with 10 available", resp.GetAsync(), sockdv1.Operation_OPERATION_RECV)
				got = append(got, resp.GetData()...)
				if len(got) < 10 {
					ev.expectSelect(t, srv, info)
				}
			}
			if string(got) != "0123456789" {
				t.Fatalf("partial data %q, want 0123456789", got)
			}
			if in := s.info(t, srv); in.GetNumReaders() != 1 {
				t.Fatalf("num_readers = %d after a partial read, want 1 (still current)", in.GetNumReaders())
			}
			s.send(t, c, []byte("abcdefghij"))
			ev.expectSelect(t, srv, info)
			rest := s.recv(t, srv, 10, nowait())
			requireOK(t, "retry", rest.GetError())
			if rest.GetAsync() != nil || string(rest.GetData()) != "abcdefghij" {
				t.Fatalf("retry: %v, want exactly abcdefghij", rest)
			}
		})
	}
}

// TestRecvPartialThenReset: bytes a reset follows are answered first by a
// nowait or polling recv(N), as partial ({select, {SI, Data}}, {timeout,
// Data}), as Erlang's one read per call answers them; the reset is the next
// call's (econnreset), not lost to the first (a reviewer's answered
// {error, {econnreset, Data}} at once).
func TestRecvPartialThenReset(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		timeout *sockdv1.Timeout
	}{{"nowait", nowait()}, {"timeout 0", millis(0)}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			l := tcpListener(t)
			id := s.open(t, tcp4)
			s.connect(t, id, inetAddr("127.0.0.1", uint32(l.Addr().(*net.TCPAddr).Port)))
			conn, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			peer := conn.(*net.TCPConn)
			peer.Write([]byte("abc"))
			peer.SetLinger(0)
			time.Sleep(50 * time.Millisecond) // the bytes are there
			peer.Close()                      // and the reset after them
			time.Sleep(50 * time.Millisecond)
			first := s.recv(t, id, 10, tc.timeout)
			if string(first.GetData()) != "abc" || first.GetError().GetReason() == "econnreset" {
				t.Fatalf("first recv: %v, want the 3 bytes as partial", first)
			}
			if tc.name == "nowait" && first.GetAsync() == nil {
				t.Fatalf("first recv: %v, want select with the bytes", first)
			}
			if tc.name == "timeout 0" {
				requireSockErr(t, "first recv", first.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
			}
			next := s.recv(t, id, 10, millis(0))
			if len(next.GetData()) != 0 || next.GetError().GetReason() != "econnreset" {
				t.Fatalf("next recv: %v, want econnreset", next)
			}
		})
	}
}

// TestNowaitSendFillsAndResumes follows reference §1.4: a nowait send on a
// stream whose peer does not read eventually answers select with the unsent
// rest; once the peer drains, the select event arrives and the rest goes out.
func TestNowaitSendFillsAndResumes(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{tcp4, tcpL} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			ev := s.events(t, 0)
			c, srv := s.pair(t, v)

			chunk := payload("fill", 1<<20)
			var sent uint64
			var info *sockdv1.AsyncInfo
			var unsent uint64
			for i := 0; info == nil; i++ {
				if i == 64 {
					t.Fatalf("64 MiB accepted without the send buffer filling")
				}
				resp := s.sendT(t, c, chunk, nowait())
				requireOK(t, "nowait send", resp.GetError())
				if resp.GetBytesSent()+resp.GetBytesUnsent() != uint64(len(chunk)) {
					t.Fatalf("sent %d + unsent %d != %d", resp.GetBytesSent(), resp.GetBytesUnsent(), len(chunk))
				}
				sent += resp.GetBytesSent()
				if resp.GetAsync() != nil {
					info = requireAsync(t, "nowait send", resp.GetAsync(), sockdv1.Operation_OPERATION_SEND)
					unsent = resp.GetBytesUnsent()
					if unsent == 0 {
						t.Fatalf("nowait send answered select with nothing unsent: %v", resp)
					}
				}
			}
			if in := s.info(t, c); in.GetNumWriters() != 1 {
				t.Errorf("num_writers = %d while the send waits, want 1", in.GetNumWriters())
			}
			drain(t, s, srv, sent)
			ev.expectSelect(t, c, info)
			// The rest may not fit the send buffer at once (a unix socket's
			// is smaller than a chunk): send it while the peer reads.
			rest := chunk[uint64(len(chunk))-unsent:]
			done := goCall(func() result[*sockdv1.SendResponse] {
				ctx, cancel := s.call()
				defer cancel()
				r, err := s.api.Send(ctx, &sockdv1.SendRequest{SocketId: c, Data: rest, Timeout: millis(eventWait.Milliseconds())})
				return result[*sockdv1.SendResponse]{r, err}
			})
			drain(t, s, srv, unsent)
			r := await(t, "send rest", done)
			if r.err != nil {
				t.Fatalf("send rest: %v", r.err)
			}
			requireOK(t, "send rest", r.resp.GetError())
			if r.resp.GetBytesSent() != unsent {
				t.Fatalf("send rest: sent %d of %d", r.resp.GetBytesSent(), unsent)
			}
		})
	}
}

// drain reads n bytes from a stream socket. A recv that gathered part of
// what it asked for when its timeout came counts that part and drain goes
// on: on a loaded machine gathering 2 MiB took up to 9 s.
func drain(t testing.TB, s *rawSession, id string, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); n > 0; {
		want := min(n, 2<<20) // stays under gRPC's default 4 MiB message limit
		resp := s.recv(t, id, int64(want), millis(eventWait.Milliseconds()))
		if se := resp.GetError(); se != nil && (se.GetKind() != sockdv1.SocketError_KIND_TIMEOUT || time.Now().After(deadline)) {
			requireOK(t, "drain", se)
		}
		n -= uint64(len(resp.GetData()))
	}
}

// TestCancelNowaitRecv re-expresses api_a_recv_cancel_tcp4,
// api_a_recvmsg_cancel_tcp4, api_a_recvfrom_cancel_udp4 and
// api_a_recvmsg_cancel_udp4 (+ inet6, local): cancel of a pending nowait
// receive answers ok, no event for its handle follows, a second cancel answers
// {invalid, SelectInfo}, and the lane is free for the next reader.
func TestCancelNowaitRecv(t *testing.T) {
	t.Parallel()
	type tc struct {
		v  variant
		op sockdv1.Operation
	}
	var cases []tc
	for _, v := range streamVariants {
		cases = append(cases, tc{v, sockdv1.Operation_OPERATION_RECV}, tc{v, sockdv1.Operation_OPERATION_RECVMSG})
	}
	for _, v := range dgramVariants {
		cases = append(cases, tc{v, sockdv1.Operation_OPERATION_RECVFROM}, tc{v, sockdv1.Operation_OPERATION_RECVMSG})
	}
	for _, c := range cases {
		t.Run(c.v.name+"/"+opName(c.op), func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			ev := s.events(t, 0)
			peer, sock := s.pair(t, c.v)

			_, async, se := s.nowaitRecv(t, sock, c.op, 0, nowait())
			requireOK(t, "nowait", se)
			info := requireAsync(t, "nowait", async, c.op)
			if n := s.info(t, sock).GetNumReaders(); n != 1 {
				t.Fatalf("num_readers = %d while pending, want 1", n)
			}
			requireOK(t, "cancel", s.cancelOp(t, sock, info))
			if n := s.info(t, sock).GetNumReaders(); n != 0 {
				t.Fatalf("num_readers = %d after cancel, want 0", n)
			}

			s.send(t, peer, []byte("after cancel"))
			ev.expectNoEvent(t)
			requireSockErr(t, "second cancel", s.cancelOp(t, sock, info), sockdv1.SocketError_KIND_INVALID, "")

			data, async, se := s.nowaitRecv(t, sock, c.op, 0, millis(eventWait.Milliseconds()))
			requireOK(t, "recv after cancel", se)
			if async != nil || string(data) != "after cancel" {
				t.Fatalf("recv after cancel: %q (async %v)", data, async)
			}
		})
	}
}

// TestCancelNowaitAccept re-expresses api_a_accept_cancel_tcp4 (+ tcp6, tcpL):
// cancel of a pending nowait accept answers ok, a connection arriving later
// produces no event, and a later accept takes it.
func TestCancelNowaitAccept(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			ev := s.events(t, 0)
			l, addr := s.listener(t, v)

			resp := s.acceptT(t, l, nowait())
			requireOK(t, "nowait accept", resp.GetError())
			info := requireAsync(t, "nowait accept", resp.GetAsync(), sockdv1.Operation_OPERATION_ACCEPT)
			if n := s.info(t, l).GetNumAcceptors(); n != 1 {
				t.Fatalf("num_acceptors = %d while pending, want 1", n)
			}
			requireOK(t, "cancel", s.cancelOp(t, l, info))
			if n := s.info(t, l).GetNumAcceptors(); n != 0 {
				t.Fatalf("num_acceptors = %d after cancel, want 0", n)
			}
			c := s.open(t, v)
			s.connect(t, c, addr)
			ev.expectNoEvent(t)
			requireSockErr(t, "second cancel", s.cancelOp(t, l, info), sockdv1.SocketError_KIND_INVALID, "")
			s.accept(t, l)
		})
	}
}

// TestQueuedReadersCancelAndClose re-expresses api_a_mrecv_cancel_tcp4,
// api_a_mrecvmsg_cancel_tcp4, api_a_mrecvfrom_cancel_udp4 and
// api_a_mrecvmsg_cancel_udp4: several sessions (Erlang processes) wait on one
// socket. The first is current, the others are queued and answered select
// without a syscall; only the current one gets the select event; cancelling
// the current one activates the next; cancelling a queued one removes it; and
// closing the socket aborts every remaining waiter with closed.
func TestQueuedReadersCancelAndClose(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v  variant
		op sockdv1.Operation
	}{
		{tcp4, sockdv1.Operation_OPERATION_RECV},
		{tcp4, sockdv1.Operation_OPERATION_RECVMSG},
		{udp4, sockdv1.Operation_OPERATION_RECVFROM},
		{udp4, sockdv1.Operation_OPERATION_RECVMSG},
	} {
		t.Run(c.v.name+"/"+opName(c.op), func(t *testing.T) {
			t.Parallel()
			owner := newSession(t)
			peer, sock := owner.pair(t, c.v)

			type waiter struct {
				s    *rawSession
				ev   *eventReader
				info *sockdv1.AsyncInfo
			}
			ws := make([]*waiter, 4)
			wait := func(w *waiter) {
				_, async, se := w.s.nowaitRecv(t, sock, c.op, 0, nowait())
				requireOK(t, "nowait", se)
				w.info = requireAsync(t, "nowait", async, c.op)
			}
			for i := range ws {
				s := newSession(t)
				ws[i] = &waiter{s: s, ev: s.events(t, 0)}
				wait(ws[i])
			}
			owner.waitReaders(t, sock, 4)

			// Cancel the current reader (0): reader 1 becomes current.
			requireOK(t, "cancel current", ws[0].s.cancelOp(t, sock, ws[0].info))
			// Cancel a queued reader (2): it leaves the queue.
			requireOK(t, "cancel queued", ws[2].s.cancelOp(t, sock, ws[2].info))
			owner.waitReaders(t, sock, 2)

			// Data: only the current reader (1) is told.
			owner.send(t, peer, []byte("first"))
			ws[1].ev.expectSelect(t, sock, ws[1].info)
			for _, i := range []int{0, 2, 3} {
				ws[i].ev.expectNoEvent(t)
			}
			data, async, se := ws[1].s.nowaitRecv(t, sock, c.op, 0, nowait())
			requireOK(t, "current reader's retry", se)
			if async != nil || string(data) != "first" {
				t.Fatalf("current reader's retry: %q async %v", data, async)
			}
			// Its read completed, so reader 3 is activated; with data waiting
			// it is told at once.
			owner.send(t, peer, []byte("second"))
			ws[3].ev.expectSelect(t, sock, ws[3].info)

			// Reader 1 queues again behind 3; closing aborts the queued one.
			// Reader 3, told to retry, hears of the close from its retry,
			// as with the NIF (its select was not cancelled, §2.4).
			wait(ws[1])
			owner.waitReaders(t, sock, 2)
			owner.close(t, sock)
			ws[1].ev.expectAbort(t, sock, ws[1].info, sockdv1.SocketError_KIND_CLOSED)
			for _, w := range ws {
				w.ev.expectNoEvent(t)
			}
			if _, _, se := ws[3].s.nowaitRecv(t, sock, c.op, 0, nowait()); se.GetKind() != sockdv1.SocketError_KIND_CLOSED {
				t.Errorf("reader 3's retry after the close: %v, want closed", se)
			}
		})
	}
}

// TestCancelAfterSelectAndCloseWhileArmed: the two cases of several readers
// that TestQueuedReadersCancelAndClose leaves out. A current reader that
// was told to retry and cancels instead (Erlang's cancel after the select
// message) passes its turn: the next reader is told, and the data is its.
// Closing a socket whose current reader waits armed aborts it and the
// queued one alike.
func TestCancelAfterSelectAndCloseWhileArmed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v  variant
		op sockdv1.Operation
	}{
		{tcp4, sockdv1.Operation_OPERATION_RECV},
		{udp4, sockdv1.Operation_OPERATION_RECVFROM},
	} {
		t.Run(c.v.name+"/"+opName(c.op), func(t *testing.T) {
			t.Parallel()
			owner := newSession(t)
			peer, sock := owner.pair(t, c.v)
			a, b := newSession(t), newSession(t)
			aEvents, bEvents := a.events(t, 0), b.events(t, 0)
			post := func(s *rawSession) *sockdv1.AsyncInfo {
				_, async, se := s.nowaitRecv(t, sock, c.op, 0, nowait())
				requireOK(t, "nowait", se)
				return requireAsync(t, "nowait", async, c.op)
			}
			aInfo, bInfo := post(a), post(b)
			owner.waitReaders(t, sock, 2)
			owner.send(t, peer, []byte("data"))
			aEvents.expectSelect(t, sock, aInfo)
			bEvents.expectNoEvent(t)
			requireOK(t, "cancel after the select", a.cancelOp(t, sock, aInfo))
			bEvents.expectSelect(t, sock, bInfo)
			data, async, se := b.nowaitRecv(t, sock, c.op, 0, nowait())
			requireOK(t, "the next reader's retry", se)
			if async != nil || string(data) != "data" {
				t.Fatalf("the next reader's retry: %q async %v, want the data", data, async)
			}
			aEvents.expectNoEvent(t)

			// Both wait again, the current one armed on an empty socket.
			aInfo, bInfo = post(a), post(b)
			owner.waitReaders(t, sock, 2)
			owner.close(t, sock)
			aEvents.expectAbort(t, sock, aInfo, sockdv1.SocketError_KIND_CLOSED)
			bEvents.expectAbort(t, sock, bInfo, sockdv1.SocketError_KIND_CLOSED)
			aEvents.expectNoEvent(t)
			bEvents.expectNoEvent(t)
		})
	}
}

// TestCloseAbortsQueuedAcceptors re-expresses api_a_maccept_cancel_tcp4: three
// sessions wait in nowait accept on one listener; closing it sends each an
// abort{Handle, closed} and none a select.
func TestCloseAbortsQueuedAcceptors(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			owner := newSession(t)
			l, _ := owner.listener(t, v)
			type acceptor struct {
				ev   *eventReader
				info *sockdv1.AsyncInfo
			}
			var as []acceptor
			for range 3 {
				s := newSession(t)
				ev := s.events(t, 0)
				resp := s.acceptT(t, l, nowait())
				requireOK(t, "nowait accept", resp.GetError())
				as = append(as, acceptor{ev, requireAsync(t, "nowait accept", resp.GetAsync(), sockdv1.Operation_OPERATION_ACCEPT)})
			}
			if n := owner.info(t, l).GetNumAcceptors(); n != 3 {
				t.Fatalf("num_acceptors = %d, want 3", n)
			}
			owner.close(t, l)
			for _, a := range as {
				a.ev.expectAbort(t, l, a.info, sockdv1.SocketError_KIND_CLOSED)
			}
			for _, a := range as {
				a.ev.expectNoEvent(t)
			}
		})
	}
}

// TestAcceptReplacedByTimeoutCall re-expresses otp18635: a nowait accept and
// then, from the same session, accept with a 500 ms timeout. Only the last
// call is valid: it times out, the first handle gets abort{Handle, cancelled},
// and no stray select arrives later when a connection comes in.
func TestAcceptReplacedByTimeoutCall(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	ev := s.events(t, 0)
	l, addr := s.listener(t, tcp4)

	first := s.acceptT(t, l, nowait())
	requireOK(t, "nowait accept", first.GetError())
	info := requireAsync(t, "nowait accept", first.GetAsync(), sockdv1.Operation_OPERATION_ACCEPT)

	second := s.acceptT(t, l, millis(500))
	requireSockErr(t, "accept(500)", second.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
	if second.GetSocketId() != "" || second.GetAsync() != nil {
		t.Fatalf("accept(500) = %v, want only the timeout", second)
	}
	ev.expectAbort(t, l, info, sockdv1.SocketError_KIND_CANCELLED)

	c := s.open(t, tcp4)
	s.connect(t, c, addr)
	ev.expectNoEvent(t)
	if n := s.info(t, l).GetNumAcceptors(); n != 0 {
		t.Fatalf("num_acceptors = %d, want 0", n)
	}
	s.accept(t, l)
}

// TestAcceptRetryAfterSelectWithNewHandle: the usual nowait loop — accept
// nowait, wait for the select event, accept nowait again (Erlang's nowait
// makes a fresh handle per call; a caller's Handle may also be reused) —
// gets the connection and no further event.
// The old handle's abort{cancelled} of otp18635 belongs to a retry that has
// to wait again (unix_socket_syncio.c, essio_accept_accepting_current_error);
// a retry that succeeds sends none (essio_accept_accepting_current_accept).
func TestAcceptRetryAfterSelectWithNewHandle(t *testing.T) {
	t.Parallel()
	for _, handles := range [][2]uint64{{0, 0}, {11, 12}, {13, 13}} {
		t.Run(fmt.Sprintf("handles=%d,%d", handles[0], handles[1]), func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			ev := s.events(t, 0)
			l, addr := s.listener(t, tcp4)
			first := s.acceptT(t, l, nowaitHandle(handles[0]))
			info := requireAsync(t, "nowait accept", first.GetAsync(), sockdv1.Operation_OPERATION_ACCEPT)
			s.connect(t, s.open(t, tcp4), addr)
			ev.expectSelect(t, l, info)
			retry := s.acceptT(t, l, nowaitHandle(handles[1]))
			requireOK(t, "retry", retry.GetError())
			if retry.GetSocketId() == "" || retry.GetAsync() != nil {
				t.Fatalf("retry after select: %v, want the connection", retry)
			}
			ev.expectNoEvent(t)
		})
	}
}

// TestSignalledReaderLocksOthersOut: reference §2.2 rule 6. A current
// reader told select that does not call again keeps the others out: a
// queued reader hears nothing and a third session's timed recv times out,
// though data is waiting; once the current reader retries, the queued one
// is told.
func TestSignalledReaderLocksOthersOut(t *testing.T) {
	t.Parallel()
	a, b, c := newSession(t), newSession(t), newSession(t)
	aEv, bEv := a.events(t, 0), b.events(t, 0)
	cl, sv := a.pair(t, tcp4)
	first := requireAsync(t, "a's recv", a.recv(t, sv, 0, nowait()).GetAsync(), sockdv1.Operation_OPERATION_RECV)
	queued := requireAsync(t, "b's recv", b.recv(t, sv, 0, nowait()).GetAsync(), sockdv1.Operation_OPERATION_RECV)
	a.send(t, cl, []byte("one"))
	aEv.expectSelect(t, sv, first)
	a.send(t, cl, []byte("two"))
	bEv.expectNoEvent(t)
	r := c.recv(t, sv, 0, millis(300))
	requireSockErr(t, "third session's recv while a holds the lane", r.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
	if got := a.recv(t, sv, 0, nowait()); string(got.GetData()) != "onetwo" {
		t.Fatalf("a's retry read %q, want onetwo", got.GetData())
	}
	a.send(t, cl, []byte("three"))
	bEv.expectSelect(t, sv, queued)
}

// TestReadErrorAbortsQueuedReaders: any read error ends every reader's hope,
// not only a peer's close or reset: a UDP socket connected to a port with no
// listener reads econnrefused once its datagram's ICMP error is back, and
// the queued readers are aborted with it, a nowait one by an abort event, a
// blocking one at once (OTP's recv_check_fail_gen).
func TestReadErrorAbortsQueuedReaders(t *testing.T) {
	t.Parallel()
	a, b, c := newSession(t), newSession(t), newSession(t)
	aEv, bEv := a.events(t, 0), b.events(t, 0)
	gone, goneAddr := a.bound(t, udp4)
	a.close(t, gone) // no listener at its port now
	id, _ := a.bound(t, udp4)
	a.connect(t, id, goneAddr)
	first := requireAsync(t, "a's recvfrom", a.recvFrom(t, id, 0, nowaitHandle(1)).GetAsync(), sockdv1.Operation_OPERATION_RECVFROM)
	queued := requireAsync(t, "b's recv", b.recv(t, id, 0, nowaitHandle(2)).GetAsync(), sockdv1.Operation_OPERATION_RECV)
	blocked := goCall(func() *sockdv1.RecvResponse { return c.recv(t, id, 0, millis(10_000)) })
	a.waitReaders(t, id, 3)
	a.sendT(t, id, []byte("ping"), millis(1000)) // the port unreachable comes back as the socket's error
	aEv.expectSelect(t, id, first)
	requireSockErr(t, "a's retry", a.recvFrom(t, id, 0, nowaitHandle(1)).GetError(), sockdv1.SocketError_KIND_POSIX, "econnrefused")
	bEv.expectAbort(t, id, queued, sockdv1.SocketError_KIND_POSIX)
	select {
	case r := <-blocked:
		requireSockErr(t, "c's blocking recv", r.GetError(), sockdv1.SocketError_KIND_POSIX, "econnrefused")
	case <-time.After(eventWait):
		t.Fatal("c's blocking recv still waits after the read error")
	}
	if n := a.info(t, id).GetNumReaders(); n != 0 {
		t.Fatalf("num_readers %d after the read error, want 0", n)
	}
}

// TestPeerCloseAbortsQueuedNowaitReaders: when the current nowait reader
// finds the peer gone, the queued readers are aborted with the same reason:
// closed after the peer's close, econnreset after its reset (reference
// §2.6).
func TestPeerCloseAbortsQueuedNowaitReaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		reset bool
		kind  sockdv1.SocketError_Kind
	}{{"close", false, sockdv1.SocketError_KIND_CLOSED}, {"reset", true, sockdv1.SocketError_KIND_POSIX}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := newSession(t), newSession(t)
			aEv, bEv := a.events(t, 0), b.events(t, 0)
			l := tcpListener(t)
			id := a.open(t, tcp4)
			a.connect(t, id, inetAddr("127.0.0.1", uint32(l.Addr().(*net.TCPAddr).Port)))
			peer, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			first := requireAsync(t, "a's recv", a.recv(t, id, 0, nowait()).GetAsync(), sockdv1.Operation_OPERATION_RECV)
			queued := requireAsync(t, "b's recv", b.recv(t, id, 0, nowait()).GetAsync(), sockdv1.Operation_OPERATION_RECV)
			if tc.reset {
				peer.(*net.TCPConn).SetLinger(0)
			}
			peer.Close()
			aEv.expectSelect(t, id, first)
			r := a.recv(t, id, 0, nowait())
			if r.GetError().GetKind() != tc.kind || tc.reset && r.GetError().GetReason() != "econnreset" {
				t.Fatalf("a's retry after the peer's %s: %v", tc.name, r.GetError())
			}
			bEv.expectAbort(t, id, queued, tc.kind)
		})
	}
}
