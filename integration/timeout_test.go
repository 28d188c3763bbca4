package integration

import (
	"fmt"
	"testing"
	"time"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Timeout ("api_to_*") scenarios of the reference's test list (§9, items 36–39)
// and the tickets otp19063 and otp19469. Timeouts are short; durations are
// never asserted, only outcomes.

// TestConnectTimeout re-expresses api_to_connect_tcp4 (+ tcp6): with the
// listener's accept queue full the kernel drops further SYNs, so a connect
// with a timeout answers timeout.
func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{tcp4, tcp6} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			l, addr := s.bound(t, v)
			ctx, cancel := s.call()
			defer cancel()
			backlog := int32(0)
			resp, err := s.api.Listen(ctx, &sockdv1.ListenRequest{SocketId: l, Backlog: &backlog})
			if err != nil {
				t.Fatalf("listen: %v", err)
			}
			requireOK(t, "listen 0", resp.GetError())

			for i := range 8 {
				c := s.open(t, v)
				resp, err := s.api.Connect(ctx, &sockdv1.ConnectRequest{SocketId: c, Address: addr, Timeout: millis(200)})
				if err != nil {
					t.Fatalf("connect %d: %v", i, err)
				}
				if resp.GetError() == nil {
					continue // the queue had room for this one
				}
				requireSockErr(t, fmt.Sprintf("connect %d", i), resp.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
				if resp.GetAsync() != nil {
					t.Fatalf("timed-out connect also answered select: %v", resp)
				}
				return
			}
			t.Fatal("8 connects to a listener with backlog 0 that nobody accepts all succeeded; want a timeout")
		})
	}
}

// TestListenNegativeBacklog: a backlog below 0 goes to listen(2) as
// Erlang's does, and Linux takes it as somaxconn: where backlog 0 made the
// connects above time out, eight that nobody accepts all complete.
func TestListenNegativeBacklog(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	l, addr := s.bound(t, tcp4)
	ctx, cancel := s.call()
	defer cancel()
	backlog := int32(-1)
	resp, err := s.api.Listen(ctx, &sockdv1.ListenRequest{SocketId: l, Backlog: &backlog})
	if err != nil {
		t.Fatalf("listen -1: %v", err)
	}
	requireOK(t, "listen -1", resp.GetError())
	for i := range 8 {
		c := s.open(t, tcp4)
		resp, err := s.api.Connect(ctx, &sockdv1.ConnectRequest{SocketId: c, Address: addr, Timeout: millis(2000)})
		if err != nil {
			t.Fatalf("connect %d: %v", i, err)
		}
		requireOK(t, fmt.Sprintf("connect %d", i), resp.GetError())
	}
}

// TestAcceptTimeout re-expresses api_to_accept_tcp4 (+ tcp6, tcpL): accept
// with a timeout and nobody connecting answers timeout and leaves no acceptor.
func TestAcceptTimeout(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			l, _ := s.listener(t, v)
			resp := s.acceptT(t, l, millis(200))
			requireSockErr(t, "accept(200)", resp.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
			if resp.GetSocketId() != "" || resp.GetAsync() != nil {
				t.Fatalf("accept(200) = %v, want only the timeout", resp)
			}
			if n := s.info(t, l).GetNumAcceptors(); n != 0 {
				t.Fatalf("num_acceptors = %d after the timeout, want 0", n)
			}
		})
	}
}

// TestQueuedAcceptorsTimeOut re-expresses api_to_maccept_tcp4: three sessions
// wait in accept with a timeout on one listener (one current, two queued);
// each answers timeout, and no acceptor is left.
func TestQueuedAcceptorsTimeOut(t *testing.T) {
	t.Parallel()
	owner := newSession(t)
	l, _ := owner.listener(t, tcp4)
	const wait = 1500
	start := time.Now()
	var results []<-chan result[*sockdv1.AcceptResponse]
	for range 3 {
		s := newSession(t)
		results = append(results, goCall(func() result[*sockdv1.AcceptResponse] {
			ctx, cancel := s.call()
			defer cancel()
			r, err := s.api.Accept(ctx, &sockdv1.AcceptRequest{SocketId: l, Timeout: millis(wait)})
			return result[*sockdv1.AcceptResponse]{r, err}
		}))
	}
	// All three wait at once: one current, two queued.
	owner.waitAcceptors(t, l, 3)
	for i, ch := range results {
		r := await(t, "accept", ch)
		if r.err != nil {
			t.Fatalf("acceptor %d: %v", i, r.err)
		}
		requireSockErr(t, fmt.Sprintf("acceptor %d", i), r.resp.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
	}
	if n := owner.info(t, l).GetNumAcceptors(); n != 0 {
		t.Fatalf("num_acceptors = %d after every acceptor timed out, want 0", n)
	}
	// Each timed out on its own clock, together, not one after another
	// (which would take three times as long).
	if took := time.Since(start); took >= 3*wait*time.Millisecond {
		t.Fatalf("three %d ms accept timeouts took %v together", wait, took)
	}
}

// TestSendTimeout re-expresses api_to_send_tcp4 and api_to_sendmsg_tcp4
// (+ tcpL): sending to a peer that does not read eventually answers timeout,
// saying how much of the last call was sent (Erlang's {timeout, RestData}).
// api_to_sendto_udp4 has no counterpart: a UDP send does not block on Linux;
// a local datagram's does (TestSendToTimeoutLocal).
func TestSendTimeout(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{tcp4, tcpL} {
		for _, op := range []sockdv1.Operation{sockdv1.Operation_OPERATION_SEND, sockdv1.Operation_OPERATION_SENDMSG} {
			t.Run(v.name+"/"+opName(op), func(t *testing.T) {
				t.Parallel()
				s := newSession(t)
				c, _ := s.pair(t, v)
				chunk := payload("block", 1<<20)
				for i := range 64 {
					sent, unsent, se := s.sendOp(t, c, op, chunk, millis(200))
					if sent+unsent != uint64(len(chunk)) {
						t.Fatalf("send %d: sent %d + unsent %d != %d", i, sent, unsent, len(chunk))
					}
					if se == nil {
						if unsent != 0 {
							t.Fatalf("send %d: ok with %d bytes unsent on a stream", i, unsent)
						}
						continue
					}
					requireSockErr(t, fmt.Sprintf("send %d", i), se, sockdv1.SocketError_KIND_TIMEOUT, "timeout")
					if unsent == 0 {
						t.Fatalf("send %d: timeout with nothing unsent", i)
					}
					if n := s.info(t, c).GetNumWriters(); n != 0 {
						t.Fatalf("num_writers = %d after the timeout, want 0", n)
					}
					return
				}
				t.Fatal("64 MiB sent to a peer that never reads, without a timeout")
			})
		}
	}
}

// sendOp sends data with Send or SendMsg and returns (sent, unsent, error).
func (s *rawSession) sendOp(t testing.TB, id string, op sockdv1.Operation, data []byte, to *sockdv1.Timeout) (uint64, uint64, *sockdv1.SocketError) {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	if op == sockdv1.Operation_OPERATION_SENDMSG {
		r, err := s.api.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: id, Iov: [][]byte{data}, Timeout: to})
		if err != nil {
			t.Fatalf("sendmsg: %v", err)
		}
		return r.GetBytesSent(), r.GetBytesUnsent(), r.GetError()
	}
	r, err := s.api.Send(ctx, &sockdv1.SendRequest{SocketId: id, Data: data, Timeout: to})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	return r.GetBytesSent(), r.GetBytesUnsent(), r.GetError()
}

// recvOps lists the receive operations the reference tests per socket type.
func recvOps(v variant) []sockdv1.Operation {
	if v.typ == sockdv1.Type_TYPE_STREAM {
		return []sockdv1.Operation{sockdv1.Operation_OPERATION_RECV, sockdv1.Operation_OPERATION_RECVMSG}
	}
	return []sockdv1.Operation{sockdv1.Operation_OPERATION_RECV, sockdv1.Operation_OPERATION_RECVFROM, sockdv1.Operation_OPERATION_RECVMSG}
}

// TestRecvTimeout re-expresses api_to_recv_tcp4, api_to_recv_udp4,
// api_to_recvfrom_udp4, api_to_recvmsg_udp4 and api_to_recvmsg_tcp4 (+ inet6,
// local): a receive with a timeout on an idle socket answers timeout with no
// data and leaves no reader.
func TestRecvTimeout(t *testing.T) {
	t.Parallel()
	for _, v := range append(append([]variant{}, streamVariants...), dgramVariants...) {
		for _, op := range recvOps(v) {
			t.Run(v.name+"/"+opName(op), func(t *testing.T) {
				t.Parallel()
				s := newSession(t)
				_, sock := s.pair(t, v)
				data, async, se := s.nowaitRecv(t, sock, op, 0, millis(200))
				requireSockErr(t, opName(op)+"(200)", se, sockdv1.SocketError_KIND_TIMEOUT, "timeout")
				if len(data) != 0 || async != nil {
					t.Fatalf("%s(200) on an idle socket: data %q async %v", opName(op), data, async)
				}
				if n := s.info(t, sock).GetNumReaders(); n != 0 {
					t.Fatalf("num_readers = %d after the timeout, want 0", n)
				}
			})
		}
	}
}

// TestRecvZeroTimeoutPolls re-expresses otp19063: recv(S, 0, 0),
// recvfrom(S, 1024, 0) and recvmsg(S, 0) on idle sockets answer timeout at
// once; timeout 0 polls without arming a wait (read_waits stays 0).
func TestRecvZeroTimeoutPolls(t *testing.T) {
	t.Parallel()
	for _, v := range append(append([]variant{}, streamVariants...), dgramVariants...) {
		for _, op := range recvOps(v) {
			t.Run(v.name+"/"+opName(op), func(t *testing.T) {
				t.Parallel()
				s := newSession(t)
				_, sock := s.pair(t, v)
				size := int64(0)
				if op == sockdv1.Operation_OPERATION_RECVFROM {
					size = 1024
				}
				data, async, se := s.nowaitRecv(t, sock, op, size, millis(0))
				requireSockErr(t, opName(op)+"(0)", se, sockdv1.SocketError_KIND_TIMEOUT, "timeout")
				if len(data) != 0 || async != nil {
					t.Fatalf("%s(0) on an idle socket: data %q async %v", opName(op), data, async)
				}
				in := s.info(t, sock)
				if in.GetNumReaders() != 0 || in.GetCounters().GetReadWaits() != 0 {
					t.Fatalf("after %s(0): num_readers %d read_waits %d, want 0 and 0", opName(op), in.GetNumReaders(), in.GetCounters().GetReadWaits())
				}
			})
		}
	}
}

// TestRecvGathersUntilLength re-expresses otp19469_read_all (+ tcp6, tcpL): a
// stream recv(S, N, T) keeps reading chunks as they arrive until it has
// exactly N bytes.
func TestRecvGathersUntilLength(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			c, srv := s.pair(t, v)
			s.send(t, c, []byte("chunk-one;"))
			got := goCall(func() result[*sockdv1.RecvResponse] {
				ctx, cancel := s.call()
				defer cancel()
				r, err := s.api.Recv(ctx, &sockdv1.RecvRequest{SocketId: srv, Length: 30, Timeout: millis(eventWait.Milliseconds())})
				return result[*sockdv1.RecvResponse]{r, err}
			})
			s.waitReaders(t, srv, 1) // it read the first chunk and waits for more
			s.send(t, c, []byte("chunk-two;"))
			s.send(t, c, []byte("chunk-3;;;extra"))
			r := await(t, "recv 30", got)
			if r.err != nil {
				t.Fatalf("recv 30: %v", r.err)
			}
			requireOK(t, "recv 30", r.resp.GetError())
			if want := "chunk-one;chunk-two;chunk-3;;;"; string(r.resp.GetData()) != want {
				t.Fatalf("recv 30 = %q, want %q", r.resp.GetData(), want)
			}
			s.recvExactly(t, srv, []byte("extra"))
		})
	}
}

// TestRecvTimeoutReturnsPartial re-expresses otp19469_read_part (+ tcp6, tcpL):
// a stream recv(S, 20, T) with only 10 bytes arriving answers timeout AND the
// 10 bytes; with T = 0 every poll answers timeout with what was there.
func TestRecvTimeoutReturnsPartial(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			c, srv := s.pair(t, v)
			s.send(t, c, []byte("0123456789"))
			resp := s.recv(t, srv, 20, millis(300))
			requireSockErr(t, "recv(20, 300)", resp.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
			if string(resp.GetData()) != "0123456789" {
				t.Fatalf("recv(20, 300) data = %q, want the 10 bytes that arrived", resp.GetData())
			}

			s.send(t, c, []byte("abcdefghij"))
			var got []byte
			for i := 0; len(got) < 10; i++ {
				if i == 1000 {
					t.Fatalf("10 bytes did not arrive in 1000 polls (got %q)", got)
				}
				resp := s.recv(t, srv, 20, millis(0))
				requireSockErr(t, "recv(20, 0)", resp.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
				got = append(got, resp.GetData()...)
			}
			if string(got) != "abcdefghij" {
				t.Fatalf("recv(20, 0) data = %q, want abcdefghij", got)
			}
		})
	}
}

// TestDgramRecvReturnsAvailableDatagram re-expresses the datagram half of
// otp19469_read_part (issue #9172): recv(S, 20, 5000) with a 10-byte datagram
// pending answers ok with it, never waiting for "more".
func TestDgramRecvReturnsAvailableDatagram(t *testing.T) {
	t.Parallel()
	for _, v := range dgramVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			a, b := s.pair(t, v)
			s.send(t, a, []byte("0123456789"))
			resp := s.recv(t, b, 20, millis(5000))
			requireOK(t, "recv(20, 5000)", resp.GetError())
			if string(resp.GetData()) != "0123456789" || resp.GetAsync() != nil {
				t.Fatalf("recv(20, 5000) = %v, want exactly the datagram", resp)
			}
		})
	}
}

// TestSendToTimeoutLocal re-expresses api_to_sendto for a local datagram
// socket, whose sendto blocks while the receiver's queue is full: a sendto
// and a sendmsg with an address answer timeout, with nothing sent, no
// writer left, and without retrying at every wakeup while they wait (each
// failed sendto reports room to write again).
func TestSendToTimeoutLocal(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	receiver, dest := s.bound(t, udpL)
	sender, _ := s.bound(t, udpL)
	ctx, cancel := s.call()
	defer cancel()
	for i := 0; ; i++ {
		resp, err := s.api.SendTo(ctx, &sockdv1.SendToRequest{SocketId: sender, Data: []byte("fill"), Address: dest, Timeout: millis(0)})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetError() != nil {
			requireSockErr(t, "filling the receiver", resp.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
			break
		}
		if i > 100000 {
			t.Fatal("the receiver's queue never filled")
		}
	}
	tries := s.info(t, sender).GetCounters().GetWriteTries()
	resp, err := s.api.SendTo(ctx, &sockdv1.SendToRequest{SocketId: sender, Data: []byte("late"), Address: dest, Timeout: millis(300)})
	if err != nil {
		t.Fatal(err)
	}
	requireSockErr(t, "sendto to a full receiver", resp.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
	if resp.GetBytesSent() != 0 || resp.GetBytesUnsent() != 4 {
		t.Fatalf("a datagram that timed out: sent %d, unsent %d", resp.GetBytesSent(), resp.GetBytesUnsent())
	}
	msg, err := s.api.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: sender, Iov: [][]byte{[]byte("la"), []byte("te")}, Address: dest, Timeout: millis(300)})
	if err != nil {
		t.Fatal(err)
	}
	requireSockErr(t, "sendmsg to a full receiver", msg.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
	info := s.info(t, sender)
	if n := info.GetNumWriters(); n != 0 {
		t.Fatalf("num_writers = %d after the timeouts, want 0", n)
	}
	if n := info.GetCounters().GetWriteTries() - tries; n > 60 {
		t.Fatalf("%d sendto tries in two 300 ms waits for a full receiver", n)
	}
	// Once the receiver reads, a waiting sendto goes.
	sent := goCall(func() *sockdv1.SendToResponse {
		ctx, cancel := s.call()
		defer cancel()
		resp, err := s.api.SendTo(ctx, &sockdv1.SendToRequest{SocketId: sender, Data: []byte("last"), Address: dest, Timeout: millis(eventWait.Milliseconds())})
		if err != nil {
			t.Error(err)
		}
		return resp
	})
	for {
		r := s.recvFrom(t, receiver, 0, millis(eventWait.Milliseconds()))
		requireOK(t, "recvfrom", r.GetError())
		if string(r.GetData()) == "last" {
			break
		}
	}
	if r := await(t, "sendto", sent); r.GetError() != nil || r.GetBytesSent() != 4 {
		t.Fatalf("the waiting sendto once the receiver read: %v", r)
	}
}
