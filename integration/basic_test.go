package integration

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Blocking ("api_b_*") scenarios of the reference's test list (§9, items 5–11).

// TestOpenAndInfo re-expresses api_b_open_and_info_{tcp4,tcp6,udp4,udp6}
// (+ local): a fresh socket's info names its domain, type, protocol and owner,
// has no readers, writers or acceptors, no states, and zero counters.
func TestOpenAndInfo(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{tcp4, tcp6, tcpL, udp4, udp6, udpL} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			id := s.open(t, v)
			in := s.info(t, id)
			if in.GetSocketId() != id || in.GetDomain() != v.domain || in.GetType() != v.typ || in.GetProtocol() != v.proto {
				t.Fatalf("info = %v, want socket %s domain %v type %v protocol %v", in, id, v.domain, v.typ, v.proto)
			}
			if in.GetOwner() != s.id {
				t.Errorf("owner = %q, want the opening session %q", in.GetOwner(), s.id)
			}
			if in.GetCtype() != "normal" {
				t.Errorf("ctype = %q, want normal", in.GetCtype())
			}
			if in.GetNumReaders() != 0 || in.GetNumWriters() != 0 || in.GetNumAcceptors() != 0 {
				t.Errorf("num_readers/writers/acceptors = %d/%d/%d, want 0/0/0", in.GetNumReaders(), in.GetNumWriters(), in.GetNumAcceptors())
			}
			if len(in.GetRstates()) != 0 || len(in.GetWstates()) != 0 {
				t.Errorf("rstates %v wstates %v, want none for a fresh socket", in.GetRstates(), in.GetWstates())
			}
			if in.GetFd() < 0 {
				t.Errorf("fd = %d, want an open descriptor", in.GetFd())
			}
			if !proto.Equal(in.GetCounters(), &sockdv1.Counters{}) {
				t.Errorf("counters = %v, want all zero", in.GetCounters())
			}
		})
	}
}

// TestOpenAndClose re-expresses api_b_open_and_close_{tcp4,udp4,tcpL,udpL,seqpL}:
// the socket reports what it was opened as and who owns it, close answers ok,
// a second close answers closed, every later call answers closed, and info
// still works on the closed socket.
func TestOpenAndClose(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{tcp4, udp4, tcpL, udpL, seqpL} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			id := s.open(t, v)
			in := s.info(t, id)
			if in.GetDomain() != v.domain || in.GetType() != v.typ || in.GetProtocol() != v.proto || in.GetOwner() != s.id {
				t.Fatalf("info = %v, want domain %v type %v protocol %v owner %s", in, v.domain, v.typ, v.proto, s.id)
			}
			// The same facts through getopt {socket, domain | type |
			// protocol}, as scenario 6 reads them; a local socket's
			// protocol is default, as Erlang's getopt answers.
			if got := s.getOpt(t, id, optKey(sockL, "domain")).GetValue().GetDomain(); got != v.domain {
				t.Errorf("getopt socket domain = %v, want %v", got, v.domain)
			}
			if got := s.getOpt(t, id, optKey(sockL, "type")).GetValue().GetType(); got != v.typ {
				t.Errorf("getopt socket type = %v, want %v", got, v.typ)
			}
			if got, ok := s.getOpt(t, id, optKey(sockL, "protocol")).GetValue().GetValue().(*sockdv1.OptionValue_Protocol); !ok || got.Protocol != v.proto {
				t.Errorf("getopt socket protocol = %v, want protocol %v", got, v.proto)
			}
			s.close(t, id)
			requireSockErr(t, "second close", s.closeErr(t, id), sockdv1.SocketError_KIND_CLOSED, "closed")

			ctx, cancel := s.call()
			defer cancel()
			bind, err := s.api.Bind(ctx, &sockdv1.BindRequest{SocketId: id, Address: v.loopback(t)})
			if err != nil {
				t.Fatalf("bind after close: %v", err)
			}
			requireSockErr(t, "bind after close", bind.GetError(), sockdv1.SocketError_KIND_CLOSED, "closed")
			recv := s.recv(t, id, 0, millis(100))
			requireSockErr(t, "recv after close", recv.GetError(), sockdv1.SocketError_KIND_CLOSED, "closed")

			in = s.info(t, id)
			if !hasAnyState(in, "closed", "closing") {
				t.Errorf("info after close: rstates %v wstates %v, want closed (or closing)", in.GetRstates(), in.GetWstates())
			}
			if in.GetFd() != -1 {
				t.Errorf("info after close: fd = %d, want -1", in.GetFd())
			}
		})
	}
}

// TestSendToAndRecvFrom re-expresses api_b_sendto_and_recvfrom_{udp4,udpL}
// (+ udp6): a datagram round trip where each side learns the other's address.
func TestSendToAndRecvFrom(t *testing.T) {
	t.Parallel()
	for _, v := range dgramVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			a, aAddr := s.bound(t, v)
			b, bAddr := s.bound(t, v)

			s.sendTo(t, a, []byte("hello"), bAddr)
			got := s.recvFrom(t, b, 0, millis(eventWait.Milliseconds()))
			requireOK(t, "recvfrom", got.GetError())
			if string(got.GetData()) != "hello" {
				t.Fatalf("recvfrom data = %q, want hello", got.GetData())
			}
			requireAddr(t, "recvfrom source", got.GetSource(), aAddr)

			s.sendTo(t, b, []byte("world"), got.GetSource())
			back := s.recvFrom(t, a, 0, millis(eventWait.Milliseconds()))
			requireOK(t, "recvfrom reply", back.GetError())
			if string(back.GetData()) != "world" {
				t.Fatalf("reply data = %q, want world", back.GetData())
			}
			requireAddr(t, "reply source", back.GetSource(), bAddr)
		})
	}
}

// TestSendMsgAndRecvMsg re-expresses api_b_sendmsg_and_recvmsg_{udp4,tcp4,seqpL}
// (and api_b_sendv_and_recv_tcp4: an iovec of several parts): the parts
// arrive as one message; a datagram carries its source address, a connected
// stream none.
func TestSendMsgAndRecvMsg(t *testing.T) {
	t.Parallel()
	iov := [][]byte{[]byte("one "), []byte("two "), []byte("three")}
	want := bytes.Join(iov, nil)
	for _, v := range []variant{udp4, udp6, udpL, tcp4, tcp6, tcpL, seqpL} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			var (
				from, to string
				dest     *sockdv1.SockAddr
				fromAddr *sockdv1.SockAddr
			)
			if v.connectionOriented() {
				from, to = s.pair(t, v)
			} else {
				from, fromAddr = s.bound(t, v)
				to, dest = s.bound(t, v)
			}
			ctx, cancel := s.call()
			defer cancel()
			sent, err := s.api.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: from, Iov: iov, Address: dest, Timeout: millis(eventWait.Milliseconds())})
			if err != nil {
				t.Fatalf("sendmsg: %v", err)
			}
			requireOK(t, "sendmsg", sent.GetError())
			if sent.GetBytesSent() != uint64(len(want)) || sent.GetBytesUnsent() != 0 {
				t.Fatalf("sendmsg sent %d unsent %d, want %d/0", sent.GetBytesSent(), sent.GetBytesUnsent(), len(want))
			}

			var got []byte
			for len(got) < len(want) { // a stream may deliver the bytes in pieces
				msg := s.recvMsg(t, to, 0, millis(eventWait.Milliseconds()))
				requireOK(t, "recvmsg", msg.GetError())
				if v.connectionOriented() {
					if msg.GetAddress() != nil && v.typ == sockdv1.Type_TYPE_STREAM && v.domain != sockdv1.Domain_DOMAIN_LOCAL {
						t.Errorf("recvmsg on a connected stream: address %v, want none", msg.GetAddress())
					}
				} else {
					requireAddr(t, "recvmsg address", msg.GetAddress(), fromAddr)
				}
				if contains(flagNames(msg.GetFlags()), "MSG_FLAG_TRUNC") {
					t.Fatalf("recvmsg flags %v: truncated", msg.GetFlags())
				}
				got = append(got, bytes.Join(msg.GetIov(), nil)...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("recvmsg data = %q, want %q", got, want)
			}
		})
	}
}

func flagNames(flags []sockdv1.MsgFlag) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = f.String()
	}
	return out
}

// TestSendAndRecv re-expresses api_b_send_and_recv_{tcp4,tcpL} (+ tcp6): a
// request and a reply over a connected stream, with recv of a given length
// returning exactly that many bytes and recv of length 0 what is there.
func TestSendAndRecv(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			c, srv := s.pair(t, v)
			s.send(t, c, []byte("ping"))
			s.recvExactly(t, srv, []byte("ping"))
			s.send(t, srv, []byte("pong"))
			got := s.recv(t, c, 0, millis(eventWait.Milliseconds()))
			requireOK(t, "recv 0", got.GetError())
			if string(got.GetData()) != "pong" {
				t.Fatalf("recv 0 = %q, want pong", got.GetData())
			}
			requireAddr(t, "peername", s.peername(t, c), s.sockname(t, srv))

			// Counters follow reference §4.1: bytes and completed calls.
			cnt := s.info(t, srv).GetCounters()
			if cnt.GetReadByte() != 4 || cnt.GetReadPkg() != 1 || cnt.GetWriteByte() != 4 || cnt.GetWritePkg() != 1 {
				t.Errorf("server counters %v, want read_byte 4 read_pkg 1 write_byte 4 write_pkg 1", cnt)
			}
		})
	}
}

// TestSendMsgIovLongerThanIovMax re-expresses api_b_sendmsg_iov_dgram_inet and
// api_b_sendmsg_iov_stream_inet: an iovec longer than IOV_MAX (1024 on Linux)
// fails on a datagram socket with {invalid, iov} and is sent in iterations on
// a stream socket.
func TestSendMsgIovLongerThanIovMax(t *testing.T) {
	t.Parallel()
	const parts = 1025
	iov := make([][]byte, parts)
	for i := range iov {
		iov[i] = []byte{byte('a' + i%26)}
	}
	want := bytes.Join(iov, nil)

	t.Run("dgram_inet", func(t *testing.T) {
		t.Parallel()
		s := newSession(t)
		a, _ := s.bound(t, udp4)
		_, dest := s.bound(t, udp4)
		ctx, cancel := s.call()
		defer cancel()
		resp, err := s.api.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: a, Iov: iov, Address: dest, Timeout: millis(1000)})
		if err != nil {
			t.Fatalf("sendmsg: %v", err)
		}
		requireSockErr(t, "sendmsg of 1025 parts on dgram", resp.GetError(), sockdv1.SocketError_KIND_INVALID, "")
		if resp.GetError().GetInvalid() != "iov" {
			t.Errorf("invalid = %q, want iov", resp.GetError().GetInvalid())
		}
	})
	t.Run("stream_inet", func(t *testing.T) {
		t.Parallel()
		s := newSession(t)
		c, srv := s.pair(t, tcp4)
		ctx, cancel := s.call()
		defer cancel()
		resp, err := s.api.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: c, Iov: iov, Timeout: millis(eventWait.Milliseconds())})
		if err != nil {
			t.Fatalf("sendmsg: %v", err)
		}
		requireOK(t, "sendmsg of 1025 parts on stream", resp.GetError())
		if resp.GetBytesSent() != parts {
			t.Fatalf("sendmsg sent %d, want %d", resp.GetBytesSent(), parts)
		}
		s.recvExactly(t, srv, want)
	})
}

// TestDgramConnect re-expresses api_b_dgram_connect_udp4 (+ udp6, udpL): a
// connected datagram socket sends and receives without addresses, and its
// peer is the address it connected to.
func TestDgramConnect(t *testing.T) {
	t.Parallel()
	for _, v := range dgramVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			a, aAddr := s.bound(t, v)
			b, bAddr := s.bound(t, v)
			s.connect(t, a, bAddr)
			requireAddr(t, "peername", s.peername(t, a), bAddr)

			s.send(t, a, []byte("to b"))
			got := s.recvFrom(t, b, 0, millis(eventWait.Milliseconds()))
			requireOK(t, "recvfrom", got.GetError())
			if string(got.GetData()) != "to b" {
				t.Fatalf("b got %q, want %q", got.GetData(), "to b")
			}
			requireAddr(t, "source", got.GetSource(), aAddr)

			s.sendTo(t, b, []byte("to a"), aAddr)
			back := s.recv(t, a, 0, millis(eventWait.Milliseconds()))
			requireOK(t, "recv", back.GetError())
			if string(back.GetData()) != "to a" {
				t.Fatalf("a got %q, want %q", back.GetData(), "to a")
			}
		})
	}
}
