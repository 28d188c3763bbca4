package integration

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// TestBadInput feeds the daemon malformed and misdirected requests. Each gets
// the answer DESIGN §2 "Errors" prescribes — a gRPC status for a malformed
// RPC (Erlang's badarg), an in-band SocketError where Erlang answers
// {error, …} — and afterwards the daemon still serves a normal round trip.
func TestBadInput(t *testing.T) {
	t.Parallel()
	t.Run("cases", func(t *testing.T) {
		t.Run("UnknownSocket", testUnknownSocket)
		t.Run("Session", testBadSession)
		t.Run("OtherSessionOfSamePrincipal", testOtherSessionUsesSocket)
		t.Run("MalformedAddress", testMalformedAddress)
		t.Run("UnknownOpenEnums", testUnknownOpenEnums)
		t.Run("NegativeLength", testNegativeLength)
		t.Run("TimeoutOutOfRange", testTimeoutOutOfRange)
		t.Run("WrongState", testWrongState)
		t.Run("ShutdownHowUnspecified", testShutdownHowUnspecified)
		t.Run("DecodeBomb", testDecodeBomb)
		t.Run("MessageSize", testMessageSize)
		t.Run("OutOfRangeFields", testOutOfRangeFields)
	})
	t.Run("RoundTripAfterwards", func(t *testing.T) {
		s := newRawSession(t) // the daemon's default grace is plenty here
		c, srv := s.pair(t, tcp4)
		s.send(t, c, []byte("still serving"))
		s.recvExactly(t, srv, []byte("still serving"))
	})
}

// testUnknownSocket: an id the daemon never issued is NOT_FOUND with
// SOCKET_NOT_FOUND, for every kind of call; an empty id is INVALID_ARGUMENT.
func testUnknownSocket(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	const id = "00000000000000000000000000000000"
	ctx, cancel := s.call()
	defer cancel()
	api := s.api
	calls := []struct {
		name string
		call func(id string) error
	}{
		{"Info", func(id string) error {
			_, err := api.Info(ctx, &sockdv1.InfoRequest{SocketId: id})
			return err
		}},
		{"Bind", func(id string) error {
			_, err := api.Bind(ctx, &sockdv1.BindRequest{SocketId: id, Address: inetAddr("127.0.0.1", 0)})
			return err
		}},
		{"Listen", func(id string) error {
			_, err := api.Listen(ctx, &sockdv1.ListenRequest{SocketId: id})
			return err
		}},
		{"Accept", func(id string) error {
			_, err := api.Accept(ctx, &sockdv1.AcceptRequest{SocketId: id, Timeout: nowait()})
			return err
		}},
		{"Connect", func(id string) error {
			_, err := api.Connect(ctx, &sockdv1.ConnectRequest{SocketId: id})
			return err
		}},
		{"Send", func(id string) error {
			_, err := api.Send(ctx, &sockdv1.SendRequest{SocketId: id, Data: []byte("x")})
			return err
		}},
		{"Recv", func(id string) error {
			_, err := api.Recv(ctx, &sockdv1.RecvRequest{SocketId: id, Timeout: millis(0)})
			return err
		}},
		{"RecvFrom", func(id string) error {
			_, err := api.RecvFrom(ctx, &sockdv1.RecvFromRequest{SocketId: id, Timeout: millis(0)})
			return err
		}},
		{"RecvMsg", func(id string) error {
			_, err := api.RecvMsg(ctx, &sockdv1.RecvMsgRequest{SocketId: id, Timeout: millis(0)})
			return err
		}},
		{"SockName", func(id string) error {
			_, err := api.SockName(ctx, &sockdv1.SockNameRequest{SocketId: id})
			return err
		}},
		{"PeerName", func(id string) error {
			_, err := api.PeerName(ctx, &sockdv1.PeerNameRequest{SocketId: id})
			return err
		}},
		{"Shutdown", func(id string) error {
			_, err := api.Shutdown(ctx, &sockdv1.ShutdownRequest{SocketId: id, How: sockdv1.ShutdownHow_SHUTDOWN_HOW_READ})
			return err
		}},
		{"Cancel", func(id string) error {
			_, err := api.Cancel(ctx, &sockdv1.CancelRequest{SocketId: id, Info: &sockdv1.AsyncInfo{Operation: sockdv1.Operation_OPERATION_RECV, Handle: 1}})
			return err
		}},
		{"Close", func(id string) error {
			_, err := api.Close(ctx, &sockdv1.CloseRequest{SocketId: id})
			return err
		}},
	}
	// An id far longer than any the daemon issues names nothing, and must
	// not be held: a monitor of an unknown id holds a nosock event naming it.
	long := strings.Repeat("m", 1<<20)
	for _, c := range calls {
		requireStatus(t, c.name+" of an unknown socket", c.call(id), codes.NotFound, "SOCKET_NOT_FOUND")
		requireStatus(t, c.name+" without a socket id", c.call(""), codes.InvalidArgument, "")
		requireStatus(t, c.name+" of a 1 MiB socket id", c.call(long), codes.InvalidArgument, "")
	}
	_, err := api.Monitor(ctx, &sockdv1.MonitorRequest{SocketId: long})
	requireStatus(t, "Monitor of a 1 MiB socket id", err, codes.InvalidArgument, "")
}

// testBadSession: a call with no session is INVALID_ARGUMENT
// (SESSION_REQUIRED); a call naming an unknown session is NOT_FOUND
// (SESSION_NOT_FOUND), for unary calls, Events and CloseSession alike.
func testBadSession(t *testing.T) {
	t.Parallel()
	api := daemon.Dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	open := &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM}

	_, err := api.Open(ctx, open)
	requireStatus(t, "open without a session", err, codes.InvalidArgument, "SESSION_REQUIRED")

	unknown := metadata.AppendToOutgoingContext(ctx, "sockd-session", "no-such-session")
	_, err = api.Open(unknown, open)
	requireStatus(t, "open in an unknown session", err, codes.NotFound, "SESSION_NOT_FOUND")

	_, err = api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: "no-such-session"})
	requireStatus(t, "close an unknown session", err, codes.NotFound, "SESSION_NOT_FOUND")
	_, err = api.CloseSession(ctx, &sockdv1.CloseSessionRequest{})
	requireStatus(t, "close no session", err, codes.InvalidArgument, "SESSION_REQUIRED")

	stream, err := api.Events(ctx, &sockdv1.EventsRequest{SessionId: "no-such-session"})
	if err == nil {
		_, err = stream.Recv()
	}
	requireStatus(t, "events of an unknown session", err, codes.NotFound, "SESSION_NOT_FOUND")

	// An id longer than any the daemon makes names nothing, and is not
	// echoed back at its size.
	_, err = api.Open(metadata.AppendToOutgoingContext(ctx, "sockd-session", strings.Repeat("a", 65)), open)
	requireField(t, "open in a session of a 65-byte id", err, "metadata.sockd-session")
	// Two sessions named: the daemon does not pick one.
	_, err = api.Open(metadata.AppendToOutgoingContext(ctx, "sockd-session", "a", "sockd-session", "b"), open)
	requireField(t, "open in two sessions", err, "metadata.sockd-session")
	// One named twice is one.
	_, err = api.Open(metadata.AppendToOutgoingContext(ctx, "sockd-session", "a", "sockd-session", "a"), open)
	requireStatus(t, "open in a session named twice", err, codes.NotFound, "SESSION_NOT_FOUND")
	long := strings.Repeat("a", 1<<20)
	_, err = api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: long})
	requireField(t, "close a session of a 1 MiB id", err, "session_id")
	if n := len(status.Convert(err).Proto().String()); n > 4096 {
		t.Errorf("the refusal of a 1 MiB session id is %d bytes", n)
	}

	// A grace that is negative, or not a protobuf duration at all.
	for _, grace := range []*durationpb.Duration{{Seconds: -1}, {Seconds: math.MaxInt64}, {Seconds: 1, Nanos: -1}} {
		_, err = api.CreateSession(ctx, &sockdv1.CreateSessionRequest{Grace: grace})
		requireField(t, fmt.Sprintf("a session of grace %v", grace), err, "grace")
	}
}

// testOtherSessionUsesSocket: any session of the socket owner's principal may
// use it (reference §5: any process may recv/send/accept/close), and the owner
// stays the opening session.
func testOtherSessionUsesSocket(t *testing.T) {
	t.Parallel()
	owner := newSession(t)
	other := newSession(t)
	l, addr := owner.listener(t, tcp4)
	c := other.open(t, tcp4)
	owner.connect(t, c, addr)
	a := other.accept(t, l)
	owner.send(t, a, []byte("cross"))
	other.recvExactly(t, c, []byte("cross"))
	if in := other.info(t, l); in.GetOwner() != owner.id {
		t.Fatalf("owner after use by another session = %q, want %q", in.GetOwner(), owner.id)
	}
	other.close(t, l)
}

// testMalformedAddress re-expresses api_m_error_bind (4): an address with no
// family, bad IP text, a port above 65535 or a local path longer than 107
// bytes is answered in-band {invalid, sockaddr} by Bind, Connect and SendTo,
// and changes nothing.
func testMalformedAddress(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	long := "/tmp/" + strings.Repeat("x", 103) // 108 bytes
	cases := []struct {
		name string
		v    variant
		addr *sockdv1.SockAddr
	}{
		{"no family", tcp4, &sockdv1.SockAddr{}},
		{"inet bad text", tcp4, inetAddr("300.1.2.3", 80)},
		{"inet given inet6 text", tcp4, inetAddr("::1", 80)},
		{"inet empty text", tcp4, inetAddr("", 80)},
		{"inet port 65536", tcp4, inetAddr("127.0.0.1", 65536)},
		{"inet6 bad text", tcp6, inet6Addr("fe80::zz", 80)},
		{"inet6 given inet text", tcp6, inet6Addr("127.0.0.1", 80)},
		{"inet6 port 70000", tcp6, inet6Addr("::1", 70000)},
		{"local path 108 bytes", tcpL, localAddr(long)},
	}
	for _, c := range cases {
		id := s.open(t, c.v)
		ctx, cancel := s.call()
		bind, err := s.api.Bind(ctx, &sockdv1.BindRequest{SocketId: id, Address: c.addr})
		if err != nil {
			t.Fatalf("%s: bind: %v", c.name, err)
		}
		requireInvalid(t, c.name+": bind", bind.GetError(), "sockaddr")
		conn, err := s.api.Connect(ctx, &sockdv1.ConnectRequest{SocketId: id, Address: c.addr, Timeout: millis(100)})
		if err != nil {
			t.Fatalf("%s: connect: %v", c.name, err)
		}
		requireInvalid(t, c.name+": connect", conn.GetError(), "sockaddr")
		cancel()
		if in := s.info(t, id); len(in.GetRstates()) != 0 || len(in.GetWstates()) != 0 {
			t.Fatalf("%s: a rejected address changed the socket: %v", c.name, in)
		}
		s.close(t, id)
	}
	for _, c := range []struct {
		name string
		v    variant
		addr *sockdv1.SockAddr
	}{
		{"no family", udp4, &sockdv1.SockAddr{}},
		{"inet port 65536", udp4, inetAddr("127.0.0.1", 65536)},
		{"inet6 bad text", udp6, inet6Addr(":::", 53)},
		{"local path 108 bytes", udpL, localAddr(long)},
	} {
		id := s.open(t, c.v)
		ctx, cancel := s.call()
		resp, err := s.api.SendTo(ctx, &sockdv1.SendToRequest{SocketId: id, Data: []byte("x"), Address: c.addr, Timeout: millis(100)})
		cancel()
		if err != nil {
			t.Fatalf("%s: sendto: %v", c.name, err)
		}
		requireInvalid(t, c.name+": sendto", resp.GetError(), "sockaddr")
		if resp.GetBytesSent() != 0 {
			t.Fatalf("%s: sendto to a malformed address sent %d bytes", c.name, resp.GetBytesSent())
		}
		s.close(t, id)
	}
}

// requireInvalid fails unless se is {invalid, what}.
func requireInvalid(t testing.TB, what string, se *sockdv1.SocketError, invalid string) {
	t.Helper()
	requireSockErr(t, what, se, sockdv1.SocketError_KIND_INVALID, "invalid")
	if se.GetInvalid() != invalid {
		t.Fatalf("%s: invalid %q, want %q (%v)", what, se.GetInvalid(), invalid, se)
	}
}

// testUnknownOpenEnums re-expresses api_m_error_open: a domain, type or
// protocol value outside the enums is {invalid, {domain|type|protocol, V}}.
func testUnknownOpenEnums(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	for _, c := range []struct {
		req     *sockdv1.OpenRequest
		invalid string
	}{
		{&sockdv1.OpenRequest{Domain: sockdv1.Domain(99), Type: sockdv1.Type_TYPE_STREAM}, "domain"},
		{&sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type(99)}, "type"},
		{&sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM, Protocol: sockdv1.Protocol(99)}, "protocol"},
	} {
		ctx, cancel := s.call()
		resp, err := s.api.Open(ctx, c.req)
		cancel()
		if err != nil {
			t.Fatalf("open %v: %v", c.req, err)
		}
		requireInvalid(t, "open with an unknown "+c.invalid, resp.GetError(), c.invalid)
		if resp.GetSocketId() != "" {
			t.Fatalf("open with an unknown %s returned a socket", c.invalid)
		}
	}
	// Where no socket outcome can carry it, as in WhichSockets' filters.
	ctx, cancel := s.call()
	defer cancel()
	_, err := s.api.Supports(ctx, &sockdv1.SupportsRequest{Key: "options", Level: sockdv1.OptionLevel(99)})
	requireField(t, "supports of an unknown level", err, "level")
}

// testNegativeLength: a negative length or buffer size is a malformed request
// (Erlang's badarg): INVALID_ARGUMENT.
func testNegativeLength(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	_, sock := s.pair(t, udp4)
	ctx, cancel := s.call()
	defer cancel()
	_, err := s.api.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock, Length: -1, Timeout: millis(0)})
	requireField(t, "recv length -1", err, "length")
	_, err = s.api.RecvFrom(ctx, &sockdv1.RecvFromRequest{SocketId: sock, BufferSize: -1, Timeout: millis(0)})
	requireField(t, "recvfrom buffer -1", err, "buffer_size")
	_, err = s.api.RecvMsg(ctx, &sockdv1.RecvMsgRequest{SocketId: sock, BufferSize: -1, Timeout: millis(0)})
	requireField(t, "recvmsg buffer -1", err, "buffer_size")
	_, err = s.api.RecvFrom(ctx, &sockdv1.RecvFromRequest{SocketId: sock, BufferSize: 1 << 40, Timeout: millis(0)})
	requireField(t, "recvfrom buffer 1 TiB", err, "buffer_size")
	_, err = s.api.RecvMsg(ctx, &sockdv1.RecvMsgRequest{SocketId: sock, ControlSize: -1, Timeout: millis(0)})
	requireStatus(t, "recvmsg control -1", err, codes.InvalidArgument, "")
}

// testTimeoutOutOfRange: a timeout below 0 or above 4294967295 ms is Erlang's
// {invalid, {timeout, T}} exception: INVALID_ARGUMENT, and nothing waits.
func testTimeoutOutOfRange(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	_, sock := s.pair(t, tcp4)
	l, addr := s.listener(t, tcp4)
	c := s.open(t, tcp4)
	ctx, cancel := s.call()
	defer cancel()
	for _, ms := range []int64{-1, 4294967296} {
		to := millis(ms)
		_, err := s.api.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock, Timeout: to})
		requireStatus(t, "recv", err, codes.InvalidArgument, "")
		_, err = s.api.Send(ctx, &sockdv1.SendRequest{SocketId: sock, Data: []byte("x"), Timeout: to})
		requireStatus(t, "send", err, codes.InvalidArgument, "")
		_, err = s.api.Accept(ctx, &sockdv1.AcceptRequest{SocketId: l, Timeout: to})
		requireStatus(t, "accept", err, codes.InvalidArgument, "")
		_, err = s.api.Connect(ctx, &sockdv1.ConnectRequest{SocketId: c, Address: addr, Timeout: to})
		requireStatus(t, "connect", err, codes.InvalidArgument, "")
	}
	in := s.info(t, sock)
	if in.GetNumReaders() != 0 || in.GetNumWriters() != 0 || in.GetCounters().GetWriteByte() != 0 {
		t.Fatalf("rejected calls left a trace: %v", in)
	}
	// The largest valid timeout is accepted (the RPC deadline bounds the wait).
	short, cancelShort := s.ctx(time.Second)
	defer cancelShort()
	resp, err := s.api.Recv(short, &sockdv1.RecvRequest{SocketId: sock, Timeout: millis(4294967295)})
	switch {
	case codeOf(err) == codes.DeadlineExceeded:
		// The daemon's in-band timeout, sent 100 ms before the deadline,
		// came too late on a loaded machine: the wait was bounded all
		// the same.
	case err != nil:
		t.Fatalf("recv with timeout 4294967295: %v", err)
	default:
		requireSockErr(t, "recv bounded by the RPC deadline", resp.GetError(), sockdv1.SocketError_KIND_TIMEOUT, "timeout")
	}
}

// testWrongState: send on a listening socket and accept on a socket that is
// not listening are answered in-band with whatever the OS says (a POSIX
// error) or an {invalid, state}.
func testWrongState(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	l, _ := s.listener(t, tcp4)
	send := s.sendT(t, l, []byte("x"), millis(100))
	requireOneOf(t, "send on a listening socket", send.GetError(), sockdv1.SocketError_KIND_POSIX, sockdv1.SocketError_KIND_INVALID)

	u := s.open(t, tcp4)
	acc := s.acceptT(t, u, millis(100))
	requireOneOf(t, "accept on an unbound socket", acc.GetError(), sockdv1.SocketError_KIND_POSIX, sockdv1.SocketError_KIND_INVALID)
	if acc.GetSocketId() != "" || acc.GetAsync() != nil {
		t.Fatalf("accept on an unbound socket: %v", acc)
	}
	if n := s.info(t, u).GetNumAcceptors(); n != 0 {
		t.Fatalf("num_acceptors = %d after a failed accept, want 0", n)
	}
}

func requireOneOf(t testing.TB, what string, se *sockdv1.SocketError, kinds ...sockdv1.SocketError_Kind) {
	t.Helper()
	for _, k := range kinds {
		if se.GetKind() == k && se.GetReason() != "" {
			return
		}
	}
	t.Fatalf("%s: socket error %v, want one of %v", what, se, kinds)
}

// testShutdownHowUnspecified: shutdown without a direction is Erlang's
// {invalid, {how, H}} exception: INVALID_ARGUMENT.
func testShutdownHowUnspecified(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	c, _ := s.pair(t, tcp4)
	ctx, cancel := s.call()
	defer cancel()
	_, err := s.api.Shutdown(ctx, &sockdv1.ShutdownRequest{SocketId: c})
	requireStatus(t, "shutdown how unspecified", err, codes.InvalidArgument, "")
}

// testMessageSize: the daemon reads a request whole before it checks
// anything, so its size is bounded: 4 MiB of data and an envelope go
// through, a message past the limit is gRPC's RESOURCE_EXHAUSTED.
func testMessageSize(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	c, _ := s.pair(t, tcp4)
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Send(ctx, &sockdv1.SendRequest{SocketId: c, Data: make([]byte, client.MaxCallData), Timeout: millis(0)})
	if err != nil || resp.GetBytesSent() == 0 {
		t.Fatalf("a send of %d bytes: %v %v", client.MaxCallData, resp, err)
	}
	_, err = s.api.Send(ctx, &sockdv1.SendRequest{SocketId: c, Data: make([]byte, 4<<20+64<<10), Timeout: millis(0)})
	if status.Code(err) != codes.ResourceExhausted { // gRPC's own: no ErrorInfo, as the proto says
		t.Fatalf("a send past the message limit: %v, want RESOURCE_EXHAUSTED", err)
	}
}

// testDecodeBomb: a request within the size limit that would decode into far
// more memory than it takes (a million empty iov entries, three bytes each
// on the wire, a 24-byte slice each decoded) is refused before it is
// decoded; one with IOV_MAX pieces goes through.
func testDecodeBomb(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	c, srv := s.pair(t, tcp4)
	ctx, cancel := s.call()
	defer cancel()
	_, err := s.api.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: c, Iov: make([][]byte, 1_000_000)})
	requireStatus(t, "a million empty iov entries", err, codes.ResourceExhausted, "REQUEST_TOO_COMPLEX")
	if !strings.Contains(err.Error(), "fields") {
		t.Fatalf("refusal %v does not say why", err)
	}
	_, err = s.api.IsSupported(ctx, &sockdv1.IsSupportedRequest{Keys: make([]string, 1_000_000)})
	requireStatus(t, "a million empty keys", err, codes.ResourceExhausted, "REQUEST_TOO_COMPLEX")
	// A streamed request too: EventsRequest has no list, so its bomb is
	// made of unknown fields, written by hand.
	events, err := proto.Marshal(&sockdv1.EventsRequest{SessionId: s.id, NoFollow: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 100_000 {
		events = protowire.AppendBytes(protowire.AppendTag(events, 100, protowire.BytesType), nil)
	}
	desc := &grpc.StreamDesc{StreamName: "Events", ServerStreams: true}
	stream, err := dialConn(t).NewStream(ctx, desc, "/sockd.v1.SocketService/Events", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.SendMsg(events); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var reply []byte
	requireStatus(t, "an events request of 100000 fields", stream.RecvMsg(&reply), codes.ResourceExhausted, "REQUEST_TOO_COMPLEX")

	iov := make([][]byte, 1024)
	for i := range iov {
		iov[i] = []byte{byte('a' + i%26)}
	}
	resp, err := s.api.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: c, Iov: iov})
	if err != nil || resp.GetError() != nil || resp.GetBytesSent() != 1024 {
		t.Fatalf("sendmsg of 1024 pieces: %v %v", resp, err)
	}
	s.recvExactly(t, srv, bytes.Join(iov, nil))

	// Bytes that are no protobuf message, or a string that is not UTF-8,
	// are a malformed request: INVALID_ARGUMENT with the daemon's
	// ErrorInfo, not gRPC's INTERNAL.
	conn := dialConn(t)
	for _, c := range []struct {
		method string
		wire   []byte
	}{
		{"Info", []byte{0x08, 0xff}},
		{"Info", protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "\xff\xfe")},
		{"CreateSession", []byte{0xff, 0xff, 0xff, 0xff}},
	} {
		var reply []byte
		err := conn.Invoke(ctx, "/sockd.v1.SocketService/"+c.method, c.wire, &reply, grpc.ForceCodecV2(rawCodec{}))
		requireStatus(t, fmt.Sprintf("%s of % x", c.method, c.wire), err, codes.InvalidArgument, "MALFORMED_REQUEST")
	}
	pipe, err := conn.NewStream(ctx, &grpc.StreamDesc{StreamName: "Pipe", ClientStreams: true, ServerStreams: true},
		"/sockd.v1.SocketService/Pipe", grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := pipe.SendMsg([]byte{0x0a, 0x05, 'a'}); err != nil {
		t.Fatal(err)
	}
	requireStatus(t, "a pipe request cut short", pipe.RecvMsg(&reply), codes.InvalidArgument, "MALFORMED_REQUEST")
	// A method no service has is refused as every other call is: with an
	// ErrorInfo.
	for _, method := range []string{"/sockd.v1.SocketService/Bogus", "/no.such.Service/Call"} {
		var reply []byte
		err := conn.Invoke(ctx, method, []byte{}, &reply, grpc.ForceCodecV2(rawCodec{}))
		requireStatus(t, method, err, codes.Unimplemented, "UNKNOWN_METHOD")
	}
}

// testOutOfRangeFields: a field outside what it may be is INVALID_ARGUMENT,
// and a refused value is named as the client gave it.
func testOutOfRangeFields(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	c, _ := s.pair(t, tcp4)
	ctx, cancel := s.call()
	defer cancel()
	_, err := s.api.Cancel(ctx, &sockdv1.CancelRequest{SocketId: c, Info: &sockdv1.AsyncInfo{Handle: 5, Mode: sockdv1.AsyncMode(99)}})
	requireStatus(t, "cancel in mode 99", err, codes.InvalidArgument, "")
	// No select_info at all: socket:cancel/2 says badarg.
	_, err = s.api.Cancel(ctx, &sockdv1.CancelRequest{SocketId: c})
	requireStatus(t, "cancel without info", err, codes.InvalidArgument, "")
	_, err = s.api.Cancel(ctx, &sockdv1.CancelRequest{SocketId: c, Info: &sockdv1.AsyncInfo{Operation: sockdv1.Operation_OPERATION_RECV}})
	requireStatus(t, "cancel of handle 0", err, codes.InvalidArgument, "")
	_, err = s.api.IsSupported(ctx, &sockdv1.IsSupportedRequest{Keys: []string{"options", "socket", "acceptconn", "extra"}})
	requireStatus(t, "is_supported of four keys", err, codes.InvalidArgument, "")
	r, err := s.api.GetOptNative(ctx, &sockdv1.GetOptNativeRequest{SocketId: c, Level: unix.SOL_SOCKET, Name: unix.SO_TYPE,
		Spec: &sockdv1.NativeValueSpec{Spec: &sockdv1.NativeValueSpec_Size{Size: math.MaxUint32}}})
	if err != nil || r.GetError().GetInvalidValue() != "4294967295" {
		t.Errorf("getopt_native of %d bytes: %v %v, want the size named as asked", uint32(math.MaxUint32), r, err)
	}
}

// rawCodec sends and receives messages as they are on the wire.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}
