package integration

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"golang.org/x/sys/unix"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Option scenarios of the reference's test list (§9, items 22–35), through the
// real daemon.

func optKey(level sockdv1.OptionLevel, name string) *sockdv1.OptionKey {
	return &sockdv1.OptionKey{Level: level, Name: name}
}

var (
	otp    = sockdv1.OptionLevel_OPTION_LEVEL_OTP
	sockL  = sockdv1.OptionLevel_OPTION_LEVEL_SOCKET
	ipL    = sockdv1.OptionLevel_OPTION_LEVEL_IP
	ipv6L  = sockdv1.OptionLevel_OPTION_LEVEL_IPV6
	tcpLvl = sockdv1.OptionLevel_OPTION_LEVEL_TCP
)

func boolValue(b bool) *sockdv1.OptionValue {
	return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: b}}
}

func intValue(n int64) *sockdv1.OptionValue {
	return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: n}}
}

// setOpt sets an option and returns the in-band error, if any.
func (s *rawSession) setOpt(t testing.TB, id string, key *sockdv1.OptionKey, v *sockdv1.OptionValue) *sockdv1.SocketError {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.SetOpt(ctx, &sockdv1.SetOptRequest{SocketId: id, Key: key, Value: v})
	if err != nil {
		t.Fatalf("SetOpt(%v): %v", key, err)
	}
	return resp.GetError()
}

func (s *rawSession) mustSetOpt(t testing.TB, id string, key *sockdv1.OptionKey, v *sockdv1.OptionValue) {
	t.Helper()
	if se := s.setOpt(t, id, key, v); se != nil {
		t.Fatalf("SetOpt(%v, %v): %v", key, v, se)
	}
}

func (s *rawSession) getOpt(t testing.TB, id string, key *sockdv1.OptionKey) *sockdv1.GetOptResponse {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.GetOpt(ctx, &sockdv1.GetOptRequest{SocketId: id, Key: key})
	if err != nil {
		t.Fatalf("GetOpt(%v): %v", key, err)
	}
	return resp
}

func wantInvalidOption(t testing.TB, se *sockdv1.SocketError, what string) {
	t.Helper()
	if se.GetKind() != sockdv1.SocketError_KIND_INVALID || se.GetInvalid() != "socket_option" {
		t.Fatalf("%s: got %v, want invalid socket_option", what, se)
	}
}

// TestOptOTPOptions re-expresses api_opt_simple_otp_options (22).
func TestOptOTPOptions(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	id := s.open(t, tcp4)
	if v := s.getOpt(t, id, optKey(otp, "rcvbuf")).GetValue().GetIntValue(); v != 8192 {
		t.Errorf("default otp rcvbuf = %d, want 8192", v)
	}
	s.mustSetOpt(t, id, optKey(otp, "rcvbuf"), &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Rcvbuf{Rcvbuf: &sockdv1.RcvBuf{Count: 3, Size: 2048}}})
	if rb := s.getOpt(t, id, optKey(otp, "rcvbuf")).GetValue().GetRcvbuf(); rb.GetCount() != 3 || rb.GetSize() != 2048 {
		t.Errorf("otp rcvbuf = %v, want {3, 2048}", rb)
	}
	for _, name := range []string{"rcvctrlbuf", "sndctrlbuf"} {
		if v := s.getOpt(t, id, optKey(otp, name)).GetValue().GetIntValue(); v != 1024 {
			t.Errorf("default %s = %d, want 1024", name, v)
		}
		s.mustSetOpt(t, id, optKey(otp, name), intValue(4096))
		if v := s.getOpt(t, id, optKey(otp, name)).GetValue().GetIntValue(); v != 4096 {
			t.Errorf("%s = %d, want 4096", name, v)
		}
	}
	s.mustSetOpt(t, id, optKey(otp, "iow"), boolValue(true))
	if !s.getOpt(t, id, optKey(otp, "iow")).GetValue().GetBoolValue() {
		t.Error("otp iow not set")
	}
	if cp := s.getOpt(t, id, optKey(otp, "controlling_process")).GetValue().GetSessionId(); cp != s.id {
		t.Errorf("controlling_process = %q, want %q", cp, s.id)
	}
	if fd := s.getOpt(t, id, optKey(otp, "fd")).GetValue().GetIntValue(); fd <= 2 {
		t.Errorf("otp fd = %d", fd)
	}
	wantInvalidOption(t, s.setOpt(t, id, optKey(otp, "use_registry"), boolValue(false)), "use_registry false")
	s.mustSetOpt(t, id, optKey(otp, "use_registry"), boolValue(true))
	wantInvalidOption(t, s.setOpt(t, id, optKey(otp, "rcvbuf"), intValue(-1)), "negative rcvbuf")
	wantInvalidOption(t, s.setOpt(t, id, optKey(otp, "nosuch"), boolValue(true)), "unknown otp option")
	// What the error repeats of a request is clipped: a 4 MiB name is
	// answered in a few hundred bytes, not twice its size.
	se := s.setOpt(t, id, optKey(otp, strings.Repeat("n", 4<<20)), boolValue(true))
	wantInvalidOption(t, se, "a 4 MiB option name")
	if n := len(se.GetInvalidValue()) + len(se.GetMessage()); n > 4096 {
		t.Errorf("the refusal of a 4 MiB option name repeats %d bytes of it", n)
	}
}

// TestOptOTPRcvBufGathers re-expresses api_opt_simple_otp_rcvbuf_option (24):
// with {N, Size}, a length-0 recv returns up to N*Size bytes.
func TestOptOTPRcvBufGathers(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	client, server := s.pair(t, tcp4)
	s.mustSetOpt(t, server, optKey(otp, "rcvbuf"), &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Rcvbuf{Rcvbuf: &sockdv1.RcvBuf{Count: 4, Size: 100}}})
	data := bytes.Repeat([]byte("x"), 1000)
	s.send(t, client, data)
	got := s.recv(t, server, 0, millis(2000)).GetData()
	if len(got) <= 100 || len(got) > 400 {
		t.Fatalf("recv(0) with rcvbuf {4, 100} gave %d bytes, want more than one buffer and at most 400", len(got))
	}
}

// TestOptOTPMeta re-expresses api_opt_simple_otp_meta_option (23): meta is
// undefined until set, only the owner sets it, it stays with the socket
// through a change of owner, and an accepted socket starts without one.
func TestOptOTPMeta(t *testing.T) {
	t.Parallel()
	a, b := newSession(t), newSession(t)
	l, addr := a.listener(t, tcp4)
	id := a.open(t, tcp4)
	meta := optKey(otp, "meta")
	undefined := &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: "undefined"}}
	termValue := func(b []byte) *sockdv1.OptionValue {
		return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Term{Term: b}}
	}
	wantMeta := func(who *rawSession, want *sockdv1.OptionValue) {
		t.Helper()
		resp := who.getOpt(t, id, meta)
		if resp.GetError() != nil || !proto.Equal(resp.GetValue(), want) {
			t.Fatalf("meta = %v %v, want %v", resp.GetValue(), resp.GetError(), want)
		}
	}
	wantMeta(a, undefined)
	label := []byte{0x83, 'h', 0, 1}
	a.mustSetOpt(t, id, meta, termValue(label))
	wantMeta(b, termValue(label)) // anyone may read it
	for _, v := range []*sockdv1.OptionValue{termValue([]byte("mine")), termValue(make([]byte, 4097)), boolValue(true)} {
		// not_owner before the value's own faults, as Erlang's NIF
		if se := b.setOpt(t, id, meta, v); se.GetKind() != sockdv1.SocketError_KIND_INVALID || se.GetInvalid() != "not_owner" {
			t.Fatalf("non-owner set of %.20v = %v, want invalid not_owner", v, se)
		}
	}
	wantInvalidOption(t, a.setOpt(t, id, meta, termValue(make([]byte, 4097))), "a meta of 4097 bytes")
	wantInvalidOption(t, a.setOpt(t, id, meta, boolValue(true)), "a boolean meta")
	wantMeta(a, termValue(label)) // refused sets changed nothing
	a.mustSetOpt(t, id, meta, termValue([]byte{}))
	wantMeta(a, termValue([]byte{})) // an empty term is a term
	a.mustSetOpt(t, id, meta, undefined)
	wantMeta(a, undefined)

	a.mustSetOpt(t, id, meta, termValue(label))
	a.mustSetOpt(t, id, optKey(otp, "controlling_process"), &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SessionId{SessionId: b.id}})
	wantMeta(b, termValue(label))
	b.mustSetOpt(t, id, meta, termValue([]byte("b's")))
	wantMeta(a, termValue([]byte("b's")))

	b.connect(t, id, addr)
	accepted := a.accept(t, l)
	if v := a.getOpt(t, accepted, meta).GetValue(); !proto.Equal(v, undefined) {
		t.Fatalf("accepted socket's meta = %v, want undefined", v)
	}
	b.close(t, id)
	if se := b.getOpt(t, id, meta).GetError(); se.GetKind() != sockdv1.SocketError_KIND_CLOSED {
		t.Fatalf("meta of a closed socket: %v, want closed", se)
	}
}

// TestOptControllingProcess re-expresses api_opt_simple_otp_controlling_process
// (25): a non-owner gets invalid not_owner; the owner hands the socket over and
// back; the socket then follows its new owner's lifetime.
func TestOptControllingProcess(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{tcp4, udp4} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			a, b := newSession(t), newSession(t)
			id := a.open(t, v)
			to := func(sess string) *sockdv1.OptionValue {
				return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SessionId{SessionId: sess}}
			}
			for _, v := range []*sockdv1.OptionValue{to(b.id), to("no-such-session"), boolValue(true)} {
				// not_owner before the value's own faults, as Erlang's NIF
				se := b.setOpt(t, id, optKey(otp, "controlling_process"), v)
				if se.GetKind() != sockdv1.SocketError_KIND_INVALID || se.GetInvalid() != "not_owner" {
					t.Fatalf("non-owner set to %v = %v, want invalid not_owner", v, se)
				}
			}
			wantInvalidOption(t, a.setOpt(t, id, optKey(otp, "controlling_process"), to("no-such-session")), "unknown session")
			a.mustSetOpt(t, id, optKey(otp, "controlling_process"), to(b.id))
			if owner := a.info(t, id).GetOwner(); owner != b.id {
				t.Fatalf("owner after transfer = %q, want %q", owner, b.id)
			}
			b.mustSetOpt(t, id, optKey(otp, "controlling_process"), to(a.id))
			a.mustSetOpt(t, id, optKey(otp, "controlling_process"), to(b.id))
			// The socket follows b: when b ends, it closes; a's end does nothing.
			ctx, cancel := b.call()
			defer cancel()
			if _, err := b.api.CloseSession(ctx, &sockdv1.CloseSessionRequest{}); err != nil {
				t.Fatalf("CloseSession: %v", err)
			}
			// The socket died with b: closed, with no owner, for a.
			deadline := time.Now().Add(eventWait)
			for {
				in := a.info(t, id)
				if in.GetFd() < 0 && in.GetOwner() == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("socket outlived its new owner: %v", in)
				}
				time.Sleep(10 * time.Millisecond)
			}
			// Handed to b, now dead, a socket is taken and dies at once, as a
			// socket handed to a dead pid (reference §2.7).
			late := a.open(t, v)
			a.mustSetOpt(t, late, optKey(otp, "controlling_process"), to(b.id))
			// It died with its dead owner: closed, with no owner.
			if in := a.info(t, late); in.GetFd() >= 0 || in.GetOwner() != "" || !slices.Contains(in.GetRstates(), "closed") {
				t.Fatalf("socket handed to a dead session: %v, want closed with no owner", in)
			}
		})
	}
}

// TestOptAcceptconn re-expresses api_opt_sock_acceptconn_tcp (26).
func TestOptAcceptconn(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	id := s.open(t, tcp4)
	if s.getOpt(t, id, optKey(sockL, "acceptconn")).GetValue().GetBoolValue() {
		t.Error("acceptconn true before listen")
	}
	wantInvalidOption(t, s.setOpt(t, id, optKey(sockL, "acceptconn"), boolValue(true)), "set of get-only acceptconn")
	s.bind(t, id, inetAddr("127.0.0.1", 0))
	s.listen(t, id)
	if !s.getOpt(t, id, optKey(sockL, "acceptconn")).GetValue().GetBoolValue() {
		t.Error("acceptconn false after listen")
	}
}

// TestOptSocketLevel re-expresses api_opt_sock_{linger,reuseaddr,keepalive,
// broadcast,bindtodevice} (27): values round-trip, effects are visible.
func TestOptSocketLevel(t *testing.T) {
	t.Parallel()
	s := newSession(t)

	// reuseaddr: a second socket binds the port of a TIME_WAIT-free listener's
	// twin only with it on both.
	first := s.open(t, udp4)
	s.mustSetOpt(t, first, optKey(sockL, "reuseaddr"), boolValue(true))
	s.bind(t, first, inetAddr("127.0.0.1", 0))
	port := s.sockname(t, first).GetInet().GetPort()
	second := s.open(t, udp4)
	s.mustSetOpt(t, second, optKey(sockL, "reuseaddr"), boolValue(true))
	s.bind(t, second, inetAddr("127.0.0.1", port))
	if !s.getOpt(t, second, optKey(sockL, "reuseaddr")).GetValue().GetBoolValue() {
		t.Error("reuseaddr reads false")
	}

	// broadcast: the seed says dgram, but the kernel decides, as for
	// Erlang's NIF, and takes the flag on any socket.
	stream := s.open(t, tcp4)
	s.mustSetOpt(t, stream, optKey(sockL, "broadcast"), boolValue(true))
	s.mustSetOpt(t, first, optKey(sockL, "broadcast"), boolValue(true))

	// keepalive and linger round-trip; linger in its map form.
	s.mustSetOpt(t, stream, optKey(sockL, "keepalive"), boolValue(true))
	s.mustSetOpt(t, stream, optKey(sockL, "linger"), &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Linger{Linger: &sockdv1.Linger{Onoff: true, Linger: 5}}})
	if l := s.getOpt(t, stream, optKey(sockL, "linger")).GetValue().GetLinger(); !l.GetOnoff() || l.GetLinger() != 5 {
		t.Errorf("linger = %v", l)
	}

	// bindtodevice lo, and a name longer than IFNAMSIZ is invalid.
	s.mustSetOpt(t, first, optKey(sockL, "bindtodevice"), &sockdv1.OptionValue{Value: &sockdv1.OptionValue_StringValue{StringValue: "lo"}})
	if dev := s.getOpt(t, first, optKey(sockL, "bindtodevice")).GetValue().GetStringValue(); dev != "lo" {
		t.Errorf("bindtodevice = %q", dev)
	}
	wantInvalidOption(t, s.setOpt(t, first, optKey(sockL, "bindtodevice"),
		&sockdv1.OptionValue{Value: &sockdv1.OptionValue_StringValue{StringValue: "much-too-long-interface"}}), "long device")

	// domain, type, protocol answer the enums.
	got := s.getOpt(t, stream, optKey(sockL, "type")).GetValue().GetType()
	if got != sockdv1.Type_TYPE_STREAM {
		t.Errorf("socket type = %v", got)
	}
}

// TestOptLingerAbortResets: linger abort makes close send RST, so the peer's
// recv answers econnreset.
func TestOptLingerAbortResets(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	client, server := s.pair(t, tcp4)
	s.mustSetOpt(t, client, optKey(sockL, "linger"), &sockdv1.OptionValue{Value: &sockdv1.OptionValue_LingerAbort{LingerAbort: true}})
	s.close(t, client)
	se := s.recv(t, server, 0, millis(2000)).GetError()
	if se.GetReason() != "econnreset" {
		t.Fatalf("peer recv after abort = %v, want econnreset", se)
	}
}

// TestOptUnsupported re-expresses api_opt_sock_{rcvtimeo,sndtimeo}_udp4 (28)
// and api_opt_sock_peek_off_tcpL (29): not supported, invalid socket_option.
func TestOptUnsupported(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	udp := s.open(t, udp4)
	for _, name := range []string{"rcvtimeo", "sndtimeo"} {
		tv := &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Timeval{Timeval: &sockdv1.Timeval{Sec: 1}}}
		wantInvalidOption(t, s.setOpt(t, udp, optKey(sockL, name), tv), name)
	}
	local := s.open(t, tcpL)
	wantInvalidOption(t, s.setOpt(t, local, optKey(sockL, "peek_off"), intValue(0)), "peek_off")
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.IsSupported(ctx, &sockdv1.IsSupportedRequest{Keys: []string{"options", "socket.peek_off"}})
	if err != nil || resp.GetSupported() {
		t.Fatalf("is_supported(options, {socket, peek_off}) = %v, %v; want false", resp, err)
	}
	resp, err = s.api.IsSupported(ctx, &sockdv1.IsSupportedRequest{Keys: []string{"options", "socket.reuseaddr"}})
	if err != nil || !resp.GetSupported() {
		t.Fatalf("is_supported(options, {socket, reuseaddr}) = %v, %v; want true", resp, err)
	}
	sup, err := s.api.Supports(ctx, &sockdv1.SupportsRequest{Key: "options"})
	if err != nil || len(sup.GetOptions()) < 100 {
		t.Fatalf("supports(options): %d rows, %v", len(sup.GetOptions()), err)
	}
	// SCTP: the table knows it, this kernel does not.
	if !hasSCTP() {
		wantInvalidOption(t, s.setOpt(t, udp, optKey(sockdv1.OptionLevel_OPTION_LEVEL_SCTP, "nodelay"), boolValue(true)), "sctp nodelay")
	}
}

func hasSCTP() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// TestOptIPControlMessages re-expresses api_opt_sock_timestamp_udp4 (30) and
// api_opt_ip_{pktinfo,recvtos,recvttl}_udp4 (31): each option adds its
// control message to RecvMsg.
func TestOptIPControlMessages(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	rx := s.open(t, udp4)
	s.bind(t, rx, inetAddr("127.0.0.1", 0))
	dest := s.sockname(t, rx)
	s.mustSetOpt(t, rx, optKey(sockL, "timestamp"), boolValue(true))
	for _, name := range []string{"pktinfo", "recvtos", "recvttl"} {
		s.mustSetOpt(t, rx, optKey(ipL, name), boolValue(true))
	}
	tx := s.open(t, udp4)
	s.mustSetOpt(t, tx, optKey(ipL, "tos"), &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: "lowdelay"}})
	if name := s.getOpt(t, tx, optKey(ipL, "tos")).GetValue().GetName(); name != "lowdelay" {
		t.Errorf("ip tos reads %q, want lowdelay", name)
	}
	s.sendTo(t, tx, []byte("hi"), dest)
	msg := s.recvMsg(t, rx, 0, millis(2000))
	if msg.GetError() != nil {
		t.Fatalf("recvmsg: %v", msg.GetError())
	}
	seen := map[int32]bool{}
	for _, c := range msg.GetControl() {
		seen[c.GetType()] = true
	}
	for typ, name := range map[int32]string{unix.SO_TIMESTAMP: "timestamp", unix.IP_PKTINFO: "pktinfo", unix.IP_TOS: "tos", unix.IP_TTL: "ttl"} {
		if !seen[typ] {
			t.Errorf("no %s control message in %v", name, msg.GetControl())
		}
	}
	// The tos reads as getopt answers it, by name (ip_tos()), and a
	// sendmsg may give it so.
	if tos := receivedTOS(t, msg); tos.GetIntValue() != 0x10 || tos.GetValueName() != "lowdelay" {
		t.Errorf("tos control message %v, want 16 named lowdelay", tos)
	}
	ctx, cancel := s.call()
	defer cancel()
	sent, err := s.api.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: tx, Iov: [][]byte{[]byte("hi")}, Address: dest,
		Control: []*sockdv1.ControlMessage{{LevelName: "ip", TypeName: "tos", ValueName: "throughput"}}})
	if err != nil || sent.GetError() != nil {
		t.Fatalf("sendmsg with ip/tos throughput: %v %v", err, sent.GetError())
	}
	msg = s.recvMsg(t, rx, 0, millis(2000))
	if tos := receivedTOS(t, msg); tos.GetIntValue() != 0x08 || tos.GetValueName() != "throughput" {
		t.Errorf("tos control message %v after a sendmsg naming throughput", tos)
	}
}

// receivedTOS returns msg's ip tos control message.
func receivedTOS(t *testing.T, msg *sockdv1.RecvMsgResponse) *sockdv1.ControlMessage {
	t.Helper()
	for _, c := range msg.GetControl() {
		if c.GetLevel() == unix.IPPROTO_IP && c.GetType() == unix.IP_TOS {
			return c
		}
	}
	t.Fatalf("no tos control message in %v", msg.GetControl())
	return nil
}

// TestOptMulticast re-expresses api_opt_ip_add_drop_membership and
// api_opt_ip_mopts_udp4 (34): a member bound to the group's port receives a
// datagram sent to the group over lo.
func TestOptMulticast(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	rx := s.open(t, udp4)
	s.mustSetOpt(t, rx, optKey(sockL, "reuseaddr"), boolValue(true))
	s.bind(t, rx, inetAddr("0.0.0.0", 0))
	port := s.sockname(t, rx).GetInet().GetPort()
	mreq := &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IpMreq{IpMreq: &sockdv1.IpMreq{Multiaddr: "224.0.0.251", Interface: "127.0.0.1"}}}
	s.mustSetOpt(t, rx, optKey(ipL, "add_membership"), mreq)
	bad := &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IpMreq{IpMreq: &sockdv1.IpMreq{Multiaddr: "10.1.1.1", Interface: "any"}}}
	if se := s.setOpt(t, rx, optKey(ipL, "add_membership"), bad); se.GetReason() != "einval" {
		t.Errorf("non-multicast group: %v, want the kernel's einval", se)
	}

	tx := s.open(t, udp4)
	// Erlang answers the address, not the any that setopt takes.
	if a := s.getOpt(t, tx, optKey(ipL, "multicast_if")).GetValue().GetAddress(); a != "0.0.0.0" {
		t.Errorf("multicast_if of a fresh socket = %q, want 0.0.0.0", a)
	}
	s.mustSetOpt(t, tx, optKey(ipL, "multicast_if"), &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Address{Address: "127.0.0.1"}})
	s.mustSetOpt(t, tx, optKey(ipL, "multicast_loop"), boolValue(true))
	s.mustSetOpt(t, tx, optKey(ipL, "multicast_ttl"), intValue(1))
	if a := s.getOpt(t, tx, optKey(ipL, "multicast_if")).GetValue().GetAddress(); a != "127.0.0.1" {
		t.Errorf("multicast_if = %q", a)
	}
	s.sendTo(t, tx, []byte("group"), inetAddr("224.0.0.251", port))
	got := s.recvFrom(t, rx, 0, millis(2000))
	if string(got.GetData()) != "group" {
		t.Fatalf("member received %q (%v), want the group datagram", got.GetData(), got.GetError())
	}
	s.mustSetOpt(t, rx, optKey(ipL, "drop_membership"), mreq)
	// An ipv6 option on an inet socket: the kernel's refusal.
	if se := s.setOpt(t, rx, optKey(ipv6L, "v6only"), boolValue(true)); se.GetReason() != "enoprotoopt" {
		t.Errorf("ipv6 option on inet: %v, want enoprotoopt", se)
	}
}

// TestOptTCP re-expresses api_opt_tcp_{nodelay,cork,maxseg,congestion,
// keepcnt,keepidle,keepintvl}_tcp4 (35).
func TestOptTCP(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	id := s.open(t, tcp4)
	for _, name := range []string{"nodelay", "cork"} {
		s.mustSetOpt(t, id, optKey(tcpLvl, name), boolValue(true))
		if !s.getOpt(t, id, optKey(tcpLvl, name)).GetValue().GetBoolValue() {
			t.Errorf("tcp %s reads false", name)
		}
	}
	for _, name := range []string{"keepcnt", "keepidle", "keepintvl"} {
		s.mustSetOpt(t, id, optKey(tcpLvl, name), intValue(7))
		if v := s.getOpt(t, id, optKey(tcpLvl, name)).GetValue().GetIntValue(); v != 7 {
			t.Errorf("tcp %s = %d", name, v)
		}
	}
	s.mustSetOpt(t, id, optKey(tcpLvl, "congestion"), &sockdv1.OptionValue{Value: &sockdv1.OptionValue_StringValue{StringValue: "reno"}})
	if c := s.getOpt(t, id, optKey(tcpLvl, "congestion")).GetValue().GetStringValue(); c != "reno" {
		t.Errorf("congestion = %q", c)
	}
	wantInvalidOption(t, s.setOpt(t, id, optKey(tcpLvl, "keepcnt"), boolValue(true)), "bool for an integer option")
}

// TestOptNative: setopt_native / getopt_native with ints, bools and bytes.
func TestOptNative(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	id := s.open(t, udp4)
	ctx, cancel := s.call()
	defer cancel()
	set, err := s.api.SetOptNative(ctx, &sockdv1.SetOptNativeRequest{SocketId: id, Level: unix.IPPROTO_IP, Name: unix.IP_TTL,
		Value: &sockdv1.NativeValue{Value: &sockdv1.NativeValue_IntValue{IntValue: 42}}})
	if err != nil || set.GetError() != nil {
		t.Fatalf("SetOptNative: %v %v", set, err)
	}
	got, err := s.api.GetOptNative(ctx, &sockdv1.GetOptNativeRequest{SocketId: id, Level: unix.IPPROTO_IP, Name: unix.IP_TTL,
		Spec: &sockdv1.NativeValueSpec{Spec: &sockdv1.NativeValueSpec_Int{Int: true}}})
	if err != nil || got.GetValue().GetIntValue() != 42 {
		t.Fatalf("GetOptNative: %v %v", got, err)
	}
	if ttl := s.getOpt(t, id, optKey(ipL, "ttl")).GetValue().GetIntValue(); ttl != 42 {
		t.Errorf("typed ttl after native set = %d", ttl)
	}
	bad, err := s.api.SetOptNative(ctx, &sockdv1.SetOptNativeRequest{SocketId: id, Level: -5, Name: 1,
		Value: &sockdv1.NativeValue{Value: &sockdv1.NativeValue_BoolValue{BoolValue: true}}})
	if err != nil || bad.GetError().GetKind() != sockdv1.SocketError_KIND_INVALID {
		t.Fatalf("native level -5: %v %v", bad, err)
	}
	os, err := s.api.SetOptNative(ctx, &sockdv1.SetOptNativeRequest{SocketId: id, Level: unix.SOL_SOCKET, Name: 9999,
		Value: &sockdv1.NativeValue{Value: &sockdv1.NativeValue_IntValue{IntValue: 1}}})
	if err != nil || os.GetError().GetReason() != "enoprotoopt" {
		t.Fatalf("unknown native name: %v %v, want enoprotoopt", os, err)
	}
}

// setopt_native and getopt_native of a closed socket answer closed before
// they look at the value or the spec, as the NIF does.
func TestNativeOptionsOfAClosedSocket(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	id := s.open(t, udp4)
	s.close(t, id)
	ctx, cancel := s.call()
	defer cancel()
	set, err := s.api.SetOptNative(ctx, &sockdv1.SetOptNativeRequest{SocketId: id, Level: 1, Name: 2})
	if err != nil || set.GetError().GetKind() != sockdv1.SocketError_KIND_CLOSED {
		t.Errorf("setopt_native without a value on a closed socket: %v %v", set, err)
	}
	get, err := s.api.GetOptNative(ctx, &sockdv1.GetOptNativeRequest{SocketId: id, Level: 1, Name: 2})
	if err != nil || get.GetError().GetKind() != sockdv1.SocketError_KIND_CLOSED {
		t.Errorf("getopt_native without a spec on a closed socket: %v %v", get, err)
	}
}
