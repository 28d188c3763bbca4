package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/internal/reasons"
	"github.com/sockd/sockd/internal/syncbuf"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// wantDenied checks err is PERMISSION_DENIED with the ErrorInfo reason given.
func wantDenied(t *testing.T, err error, reason, action string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.PermissionDenied {
		t.Fatalf("got %v, want PERMISSION_DENIED", err)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.Reason != reason || info.Metadata["action"] != action {
				t.Fatalf("ErrorInfo %v, want reason %s action %s", info, reason, action)
			}
			return
		}
	}
	t.Fatalf("%v carries no ErrorInfo", err)
}

func (l *live) open(t *testing.T, d sockdv1.Domain, ty sockdv1.Type) (string, error) {
	t.Helper()
	r, err := l.svc.Open(l.ctx, &sockdv1.OpenRequest{Domain: d, Type: ty})
	if err == nil && r.GetError() != nil {
		t.Fatalf("open: %v", r.GetError())
	}
	return r.GetSocketId(), err
}

func intOpt(level sockdv1.OptionLevel, name string, v int64) (*sockdv1.OptionKey, *sockdv1.OptionValue) {
	return &sockdv1.OptionKey{Level: level, Name: name}, &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: v}}
}

// Under the default policy a principal other than root and the daemon's
// user may do what an unprivileged user could; what it may not is refused
// with PERMISSION_DENIED and changes nothing.
func TestDefaultPolicyThroughTheService(t *testing.T) {
	l := newLive(t, Limits{}) // uid 1000
	l.svc.SetPolicy(DefaultPolicy(0, 1024))
	before := len(l.sess.owned)
	if _, err := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_RAW); err != nil {
		wantDenied(t, err, reasons.PolicyDenied, actionOpen)
	} else {
		t.Fatal("a raw socket was opened")
	}
	_, err := l.svc.Open(l.ctx, &sockdv1.OpenRequest{DomainNumber: unix.AF_NETLINK, Type: sockdv1.Type_TYPE_DGRAM})
	wantDenied(t, err, reasons.PolicyDenied, actionOpen)
	_, err = l.svc.Open(l.ctx, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM, Netns: "/run/netns/x"})
	wantDenied(t, err, reasons.PolicyDenied, actionOpen)
	if n := len(l.sess.owned); n != before {
		t.Fatalf("the session holds %d sockets after refused opens, %d before", n, before)
	}

	id, err := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_DGRAM)
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.svc.Bind(l.ctx, &sockdv1.BindRequest{SocketId: id, Address: inet("127.0.0.1", 80)})
	wantDenied(t, err, reasons.PolicyDenied, actionBind)
	name, err := l.svc.SockName(l.ctx, &sockdv1.SockNameRequest{SocketId: id})
	if err != nil || name.GetAddress().GetInet().GetPort() != 0 {
		t.Fatalf("after a refused bind: %v %v", name, err)
	}
	if r, err := l.svc.Bind(l.ctx, &sockdv1.BindRequest{SocketId: id, Address: inet("127.0.0.1", 0)}); err != nil || r.GetError() != nil {
		t.Fatalf("bind to an ephemeral port: %v %v", r, err)
	}
	_, err = l.svc.SendTo(l.ctx, &sockdv1.SendToRequest{SocketId: id, Data: []byte("x"), Address: local("/run/dbus/system_bus_socket")})
	wantDenied(t, err, reasons.PolicyDenied, actionSendTo)
	if r, err := l.svc.SendTo(l.ctx, &sockdv1.SendToRequest{SocketId: id, Data: []byte("x"), Address: inet("127.0.0.1", 9)}); err != nil || r.GetBytesSent() != 1 {
		t.Fatalf("sendto an inet address: %v %v", r, err)
	}

	k, v := intOpt(sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, "priority", 7)
	_, err = l.svc.SetOpt(l.ctx, &sockdv1.SetOptRequest{SocketId: id, Key: k, Value: v})
	wantDenied(t, err, reasons.PolicyDenied, actionSetOpt)
	k, v = intOpt(sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, "priority", 6)
	if r, err := l.svc.SetOpt(l.ctx, &sockdv1.SetOptRequest{SocketId: id, Key: k, Value: v}); err != nil || r.GetError() != nil {
		t.Fatalf("priority 6: %v %v", r, err)
	}
	_, err = l.svc.SetOptNative(l.ctx, &sockdv1.SetOptNativeRequest{SocketId: id, Level: unix.SOL_IP, Name: unix.IP_TRANSPARENT,
		Value: &sockdv1.NativeValue{Value: &sockdv1.NativeValue_IntValue{IntValue: 1}}})
	wantDenied(t, err, reasons.PolicyDenied, actionSetOpt)
	_, err = l.svc.GetOptNative(l.ctx, &sockdv1.GetOptNativeRequest{SocketId: id, Level: unix.SOL_IP, Name: 65, // IPT_SO_GET_ENTRIES
		Spec: &sockdv1.NativeValueSpec{Spec: &sockdv1.NativeValueSpec_Size{Size: 64}}})
	wantDenied(t, err, reasons.PolicyDenied, actionGetOpt)

	// Control messages: what the daemon encodes may be sent, tos below
	// precedence 6; any other level and type needs native.
	ttl := &sockdv1.ControlMessage{Level: unix.IPPROTO_IP, Type: unix.IP_TTL, Value: &sockdv1.ControlMessage_IntValue{IntValue: 9}}
	if r, err := l.svc.SendMsg(l.ctx, &sockdv1.SendMsgRequest{SocketId: id, Iov: [][]byte{[]byte("x")}, Address: inet("127.0.0.1", 9),
		Control: []*sockdv1.ControlMessage{ttl}}); err != nil || r.GetBytesSent() != 1 {
		t.Fatalf("sendmsg with ttl: %v %v", r, err)
	}
	for _, c := range []*sockdv1.ControlMessage{
		{Level: unix.SOL_SOCKET, Type: unix.SO_MARK, Data: []byte{1, 0, 0, 0}},
		{Level: unix.IPPROTO_IP, Type: unix.IP_TOS, Value: &sockdv1.ControlMessage_IntValue{IntValue: 0xc0}},
		{Level: unix.IPPROTO_IP, Type: unix.IP_TOS, Data: []byte{0xe0, 0, 0, 0}},
	} {
		_, err = l.svc.SendMsg(l.ctx, &sockdv1.SendMsgRequest{SocketId: id, Iov: [][]byte{[]byte("x")}, Address: inet("127.0.0.1", 9),
			Control: []*sockdv1.ControlMessage{c}})
		wantDenied(t, err, reasons.PolicyDenied, actionSendMsg)
	}

	// Another policy put in force applies to the next call.
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"inet *\"]\n  bind: [\"127.0.0.1:80\"]\n  sendto: [\"10.0.0.0/8\"]\n"))
	id2, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_STREAM)
	if os.Geteuid() == 0 { // the kernel's own checks pass only for root
		if r, err := l.svc.Open(l.ctx, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_RAW, Protocol: sockdv1.Protocol_PROTOCOL_ICMP}); err != nil || r.GetError() != nil {
			t.Fatalf("raw socket under a policy that allows it: %v %v", r, err)
		}
		if r, err := l.svc.Bind(l.ctx, &sockdv1.BindRequest{SocketId: id2, Address: inet("127.0.0.1", 80)}); err != nil || r.GetError() != nil {
			t.Fatalf("bind to port 80 under a policy that allows it: %v %v", r, err)
		}
	}
	// A raw socket writing whole IP headers must be named, not covered by *.
	_, err = l.svc.Open(l.ctx, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_RAW, Protocol: sockdv1.Protocol_PROTOCOL_RAW})
	wantDenied(t, err, reasons.PolicyDenied, actionOpen)
	_, err = l.svc.Connect(l.ctx, &sockdv1.ConnectRequest{SocketId: id2, Address: inet("127.0.0.1", 9)})
	wantDenied(t, err, reasons.PolicyDenied, actionConnect)
	// AF_UNSPEC dissolves an association: no rule needed.
	unspec := &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Unspec{Unspec: &sockdv1.UnspecAddr{}}}
	if r, err := l.svc.Connect(l.ctx, &sockdv1.ConnectRequest{SocketId: id, Address: unspec}); err != nil || r.GetError() != nil {
		t.Fatalf("connect AF_UNSPEC: %v %v", r, err)
	}
	// An address given to a send on a stream socket is a connect's (TCP Fast
	// Open with MSG_FASTOPEN, a native flag), by sendto or sendmsg.
	_, err = l.svc.SendTo(l.ctx, &sockdv1.SendToRequest{SocketId: id2, Data: []byte("x"), Address: inet("127.0.0.1", 9)})
	wantDenied(t, err, reasons.PolicyDenied, actionConnect)
	_, err = l.svc.SendMsg(l.ctx, &sockdv1.SendMsgRequest{SocketId: id2, Iov: [][]byte{[]byte("x")}, Address: inet("10.0.0.1", 9)})
	wantDenied(t, err, reasons.PolicyDenied, actionConnect)

	// native allows any control message the kernel lets the daemon send.
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  bind: [\"*:0\"]\n  sendto: [\"127.0.0.1\"]\n  options: [native]\n"))
	_, nerr := l.svc.SendMsg(l.ctx, &sockdv1.SendMsgRequest{SocketId: id, Iov: [][]byte{[]byte("x")}, Address: inet("127.0.0.1", 9),
		Control: []*sockdv1.ControlMessage{{Level: unix.SOL_SOCKET, Type: unix.SO_MARK, Data: []byte{1, 0, 0, 0}}}})
	if status.Code(nerr) == codes.PermissionDenied {
		t.Fatalf("a native rule was refused a control message: %v", nerr)
	}
	if !strings.Contains(err.Error(), "uid:1000") || !strings.Contains(err.Error(), "10.0.0.1:9") {
		t.Errorf("the denial does not say who and what: %v", err)
	}

	// The unspecified address reaches whichever local address the kernel
	// picks (the bound one, an IP_PKTINFO source, the loopback): it is
	// decided as itself, which a rule of addresses does not cover.
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"inet *\", \"inet6 *\"]\n  bind: [\"*:0\"]\n  connect: [\"127.0.0.1:9\", \"[::1]:9\"]\n  sendto: [\"127.0.0.1:9\", \"[::1]:9\"]\n"))
	udp, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_DGRAM)
	_, err = l.svc.SendTo(l.ctx, &sockdv1.SendToRequest{SocketId: udp, Data: []byte("x"), Address: inet("0.0.0.0", 9)})
	wantDenied(t, err, reasons.PolicyDenied, actionSendTo)
	if !strings.Contains(err.Error(), "0.0.0.0:9") {
		t.Errorf("0.0.0.0 was not decided as itself: %v", err)
	}
	tcp6, _ := l.open(t, sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_STREAM)
	_, err = l.svc.Connect(l.ctx, &sockdv1.ConnectRequest{SocketId: tcp6, Address: inet6("::", 9, 0)})
	wantDenied(t, err, reasons.PolicyDenied, actionConnect)
	if r, err := l.svc.SendTo(l.ctx, &sockdv1.SendToRequest{SocketId: udp, Data: []byte("x"), Address: inet("127.0.0.1", 9)}); err != nil || r.GetError() != nil {
		t.Fatalf("sendto the address the rule names: %v %v", r, err)
	}
}

// No principal may send descriptors or credentials (they would be the
// daemon's), nor RDS's messages (the kernel would map and write the
// daemon's memory where they point).
func TestSendMsgRefusesRightsAndCredentials(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(DefaultPolicy(1000, 1024)) // uid 1000 is now the daemon's own user: unrestricted
	sock, _ := l.connected(t)
	for _, kind := range [][2]int32{{unix.SOL_SOCKET, unix.SCM_RIGHTS}, {unix.SOL_SOCKET, unix.SCM_CREDENTIALS}, {unix.SOL_RDS, 1}} {
		_, err := l.svc.SendMsg(l.ctx, &sockdv1.SendMsgRequest{SocketId: sock.ID(), Iov: [][]byte{[]byte("x")},
			Control: []*sockdv1.ControlMessage{{Level: kind[0], Type: kind[1], Data: make([]byte, 12)}}})
		wantDenied(t, err, reasons.ControlForbidden, "sendmsg")
	}
	if r, err := l.svc.SendMsg(l.ctx, &sockdv1.SendMsgRequest{SocketId: sock.ID(), Iov: [][]byte{[]byte("x")}}); err != nil || r.GetBytesSent() != 1 {
		t.Fatalf("plain sendmsg: %v %v", r, err)
	}
}

// A rule's quotas bound the sessions and the open sockets of a principal;
// a closed socket, or one of a session that ended, no longer counts.
func TestPolicyQuotas(t *testing.T) {
	svc, counter := countedService(t, `
version: 1
rules:
- principals: ["uid:1000"]
  open: ["inet stream"]
  bind: ["127.0.0.1:0"]
  connect: ["127.0.0.0/8"]
  accept: ["127.0.0.1"]
  quotas: {sockets: 3, sessions: 2, event_backlog: 32, completion_bytes: 1000}
`)
	p := Principal{Kind: "uid", UID: 1000}
	ctx := asPrincipal(p)
	var ids []string
	for range 2 {
		r, err := svc.CreateSession(ctx, &sockdv1.CreateSessionRequest{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.GetSessionId())
	}
	if _, err := svc.CreateSession(ctx, &sockdv1.CreateSessionRequest{}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third session: %v, want RESOURCE_EXHAUSTED", err)
	}
	if sess, _ := svc.sessions.lookup(p, ids[0]); sess.events.base != 32 || sess.completionBytes != 1000 {
		t.Fatalf("a session holds %d events and %d completion bytes, want the quotas 32 and 1000", sess.events.base, sess.completionBytes)
	}
	call := metadata.NewIncomingContext(ctx, metadata.Pairs(SessionMetadataKey, ids[0]))
	open := func() (string, error) {
		r, err := svc.Open(call, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM})
		if err == nil && r.GetError() != nil {
			t.Fatalf("open: %v", r.GetError())
		}
		return r.GetSocketId(), err
	}
	ln, _ := open()
	if r, err := svc.Bind(call, &sockdv1.BindRequest{SocketId: ln, Address: inet("127.0.0.1", 0)}); err != nil || r.GetError() != nil {
		t.Fatal(r, err)
	}
	if _, err := svc.Listen(call, &sockdv1.ListenRequest{SocketId: ln}); err != nil {
		t.Fatal(err)
	}
	name, _ := svc.SockName(call, &sockdv1.SockNameRequest{SocketId: ln})
	port := name.GetAddress().GetInet().GetPort()
	conn, _ := open()
	if r, err := svc.Connect(call, &sockdv1.ConnectRequest{SocketId: conn, Address: inet("127.0.0.1", port)}); err != nil || r.GetError() != nil {
		t.Fatal(r, err)
	}
	if r, err := svc.Accept(call, &sockdv1.AcceptRequest{SocketId: ln}); err != nil || r.GetSocketId() == "" {
		t.Fatalf("accept within the quota: %v %v", r, err)
	}
	if got := counter.Open(p); got != 3 {
		t.Fatalf("counted %d sockets, want 3", got)
	}
	if _, err := open(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("fourth socket: %v, want RESOURCE_EXHAUSTED", err)
	}
	if _, err := svc.Accept(call, &sockdv1.AcceptRequest{SocketId: ln}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("accept past the quota: %v, want RESOURCE_EXHAUSTED", err)
	}
	if _, err := svc.Close(call, &sockdv1.CloseRequest{SocketId: conn}); err != nil {
		t.Fatal(err)
	}
	if _, err := open(); err != nil {
		t.Fatalf("open after a close: %v", err)
	}
	if _, err := svc.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: ids[0]}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ended session's sockets to be uncounted", func() bool { return counter.Open(p) == 0 })
	if _, err := svc.CreateSession(ctx, &sockdv1.CreateSessionRequest{}); err != nil {
		t.Fatalf("a session after one ended: %v", err)
	}
}

// A socket whose close lingers (SO_LINGER, a peer that does not read) holds
// its principal's place until its descriptor is closed: else closes that
// linger for an hour fill the daemon's socket cap from within a quota.
func TestLingeringCloseHoldsItsPlace(t *testing.T) {
	svc, counter := countedService(t, `
version: 1
rules:
- principals: ["uid:1000"]
  open: ["inet stream"]
  connect: ["127.0.0.0/8"]
  quotas: {sockets: 1}
`)
	p := Principal{Kind: "uid", UID: 1000}
	ctx := asPrincipal(p)
	peers, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peers.Close()
	session := func() (string, context.Context) {
		r, err := svc.CreateSession(ctx, &sockdv1.CreateSessionRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetSessionId(), metadata.NewIncomingContext(ctx, metadata.Pairs(SessionMetadataKey, r.GetSessionId()))
	}
	open := func(call context.Context) (string, error) {
		r, err := svc.Open(call, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM})
		return r.GetSocketId(), err
	}
	first, call := session()
	id, err := open(call)
	if err != nil {
		t.Fatal(err)
	}
	port := uint32(peers.Addr().(*net.TCPAddr).Port)
	if r, err := svc.Connect(call, &sockdv1.ConnectRequest{SocketId: id, Address: inet("127.0.0.1", port)}); err != nil || r.GetError() != nil {
		t.Fatal(r, err)
	}
	peer, err := peers.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	for { // the peer reads nothing: fill what the sockets hold
		r, err := svc.Send(call, &sockdv1.SendRequest{SocketId: id, Data: make([]byte, 1<<20), Timeout: &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: 0}}})
		if err != nil {
			t.Fatal(err)
		}
		if r.GetBytesUnsent() > 0 {
			break
		}
	}
	linger := &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Linger{Linger: &sockdv1.Linger{Onoff: true, Linger: 60}}}
	if r, err := svc.SetOpt(call, &sockdv1.SetOptRequest{SocketId: id, Key: &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, Name: "linger"}, Value: linger}); err != nil || r.GetError() != nil {
		t.Fatal(r, err)
	}
	if _, err := svc.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: first}); err != nil {
		t.Fatal(err)
	}
	_, next := session()
	if _, err := open(next); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("open while the closed socket lingers: %v, want RESOURCE_EXHAUSTED", err)
	}
	go io.Copy(io.Discard, peer) // the bytes go out, the linger ends, the descriptor is closed
	eventually(t, "the lingering socket's place given back", func() bool { return counter.Open(p) == 0 })
	if _, err := open(next); err != nil {
		t.Fatalf("open after the linger: %v", err)
	}
}

// A listener keeps only the connections its owner's rule accepts from;
// the others are closed unseen and the accept goes on; each is counted and
// logged.
func TestPolicyAcceptFrom(t *testing.T) {
	var logs syncbuf.Buffer
	l := newLiveWith(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"inet stream\"]\n  bind: [\"127.0.0.1:0\"]\n  accept: [\"127.0.0.1\"]\n"))
	ln, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_STREAM)
	if r, err := l.svc.Bind(l.ctx, &sockdv1.BindRequest{SocketId: ln, Address: inet("127.0.0.1", 0)}); err != nil || r.GetError() != nil {
		t.Fatal(r, err)
	}
	if _, err := l.svc.Listen(l.ctx, &sockdv1.ListenRequest{SocketId: ln}); err != nil {
		t.Fatal(err)
	}
	name, _ := l.svc.SockName(l.ctx, &sockdv1.SockNameRequest{SocketId: ln})
	to := fmt.Sprintf("127.0.0.1:%d", name.GetAddress().GetInet().GetPort())
	dial := func(from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", to)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	refused := dial("127.0.0.2")
	dial("127.0.0.1")
	r, err := l.svc.Accept(l.ctx, &sockdv1.AcceptRequest{SocketId: ln})
	if err != nil || r.GetSocketId() == "" {
		t.Fatalf("accept: %v %v", r, err)
	}
	peer, _ := l.svc.PeerName(l.ctx, &sockdv1.PeerNameRequest{SocketId: r.GetSocketId()})
	if got := peer.GetAddress().GetInet().GetAddress(); got != "127.0.0.1" {
		t.Fatalf("accepted a connection from %q", got)
	}
	refused.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := refused.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the connection from 127.0.0.2 was not closed: %v", err)
	}
	// Operators see refusals by action.
	want := `
# HELP sockd_policy_denials_total Calls the policy refused (PERMISSION_DENIED; quotas not included), and connections its accept rules closed, by action.
# TYPE sockd_policy_denials_total counter
sockd_policy_denials_total{action="accept"} 1
sockd_policy_denials_total{action="bind"} 0
sockd_policy_denials_total{action="connect"} 0
sockd_policy_denials_total{action="getopt"} 0
sockd_policy_denials_total{action="open"} 0
sockd_policy_denials_total{action="sendmsg"} 0
sockd_policy_denials_total{action="sendto"} 0
sockd_policy_denials_total{action="setopt"} 0
`
	if err := testutil.CollectAndCompare(l.svc.Collector(), strings.NewReader(want), "sockd_policy_denials_total"); err != nil {
		t.Error(err)
	}
	if got := logs.String(); !strings.Contains(got, `msg="policy denied" principal=uid:1000 action=accept target=127.0.0.2:`) {
		t.Errorf("the refused connection was not logged:\n%s", got)
	}
}

// Opens made at the same moment cannot pass the socket quota together.
func TestSocketQuotaHoldsUnderConcurrentOpens(t *testing.T) {
	svc, counter := countedService(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"inet dgram\"]\n  quotas: {sockets: 3}\n")
	p := Principal{Kind: "uid", UID: 1000}
	ctx := asPrincipal(p)
	sess, err := svc.CreateSession(ctx, &sockdv1.CreateSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	call := metadata.NewIncomingContext(ctx, metadata.Pairs(SessionMetadataKey, sess.GetSessionId()))
	results := make(chan error, 16)
	start := make(chan struct{})
	for range cap(results) {
		go func() {
			<-start
			_, err := svc.Open(call, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_DGRAM})
			results <- err
		}()
	}
	close(start)
	opened := 0
	for range cap(results) {
		switch err := <-results; status.Code(err) {
		case codes.OK:
			opened++
		case codes.ResourceExhausted:
		default:
			t.Fatal(err)
		}
	}
	if opened != 3 || counter.Open(p) != 3 {
		t.Fatalf("%d opens succeeded, %d sockets counted; want 3 under a quota of 3", opened, counter.Open(p))
	}
	svc.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: sess.GetSessionId()})
}

// A socket handed to another principal's session (an admin may) counts
// against that principal from then on.
func TestSocketCounterTransfer(t *testing.T) {
	counter := NewSocketCounter(nil)
	e, err := engine.New(engine.Config{Loops: 1, Observer: counter})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	svc := New(Config{Engine: e, Sockets: counter})
	admin, user := Principal{Kind: "uid", UID: 0}, Principal{Kind: "uid", UID: 1000}
	adminSess, _, _ := svc.sessions.create(admin, "", time.Minute)
	userSess, _, _ := svc.sessions.create(user, "", time.Minute)
	defer svc.sessions.end(adminSess)
	defer svc.sessions.end(userSess)
	sock, err := e.Open(adminSess, unix.AF_INET, unix.SOCK_DGRAM, 0, engine.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	adminSess.adopt(sock)
	if counter.Open(admin) != 1 || counter.Open(user) != 0 {
		t.Fatalf("counted %d/%d", counter.Open(admin), counter.Open(user))
	}
	adminCtx := metadata.NewIncomingContext(peer.NewContext(context.Background(), &peer.Peer{AuthInfo: peerAuth{principal: admin}}),
		metadata.Pairs(SessionMetadataKey, adminSess.id))
	r, err := svc.SetOpt(adminCtx, &sockdv1.SetOptRequest{SocketId: sock.ID(),
		Key:   &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_OTP, Name: "controlling_process"},
		Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SessionId{SessionId: userSess.id}}})
	if err != nil || r.GetError() != nil {
		t.Fatalf("controlling_process: %v %v", r, err)
	}
	if counter.Open(admin) != 0 || counter.Open(user) != 1 {
		t.Fatalf("after the handover counted %d for the admin and %d for the user, want 0 and 1", counter.Open(admin), counter.Open(user))
	}
	sock.Close()
	if counter.Open(user) != 0 {
		t.Fatalf("a closed socket still counts")
	}
}

// A local user's sockets are its own in the kernel's eyes when the daemon
// runs as root: per-uid firewall and routing rules see the user.
func TestSocketsAreTheirUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the daemon switches uid only as root")
	}
	l := newLive(t, Limits{}) // uid 1000
	id, err := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_DGRAM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.svc.Bind(l.ctx, &sockdv1.BindRequest{SocketId: id, Address: inet("127.0.0.1", 0)}); err != nil {
		t.Fatal(err)
	}
	name, _ := l.svc.SockName(l.ctx, &sockdv1.SockNameRequest{SocketId: id})
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("0100007F:%04X", name.GetAddress().GetInet().GetPort())
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 7 && f[1] == want {
			if f[7] != "1000" {
				t.Fatalf("uid 1000's socket is uid %s's", f[7])
			}
			return
		}
	}
	t.Fatal("the socket is not in /proc/net/udp")
}

// A principal the policy makes an admin sees and touches other principals'
// sockets and sessions, and may set the daemon-wide use_registry default;
// one it does not may not. (which_sockets filters by the same isAdmin.)
func TestPolicyAdmin(t *testing.T) {
	l := newLive(t, Limits{}) // uid 1000's session and listener
	l.svc.SetPolicy(mustParse(t, `
version: 1
rules:
- {principals: ["x509:ops"], admin: true, open: ["inet stream"]}
- {principals: ["*"], open: ["inet *"]}
`))
	userSock, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_STREAM)
	as := func(p Principal) context.Context {
		ctx := asPrincipal(p)
		r, err := l.svc.CreateSession(ctx, &sockdv1.CreateSessionRequest{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.svc.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: r.GetSessionId()}) })
		return metadata.NewIncomingContext(ctx, metadata.Pairs(SessionMetadataKey, r.GetSessionId()))
	}
	ops, other := as(Principal{Kind: "x509", Name: "ops"}), as(Principal{Kind: "x509", Name: "web"})

	if _, err := l.svc.Info(ops, &sockdv1.InfoRequest{SocketId: userSock}); err != nil {
		t.Errorf("an admin cannot see uid 1000's socket: %v", err)
	}
	if _, err := l.svc.Info(other, &sockdv1.InfoRequest{SocketId: userSock}); status.Code(err) != codes.NotFound {
		t.Errorf("another principal sees uid 1000's socket: %v", err)
	}
	// Acting through uid 1000's session, the admin is still held to its own
	// rule: it gains no right of uid 1000's.
	asUser := metadata.NewIncomingContext(peer.NewContext(context.Background(), &peer.Peer{AuthInfo: peerAuth{principal: Principal{Kind: "x509", Name: "ops"}}}),
		metadata.Pairs(SessionMetadataKey, l.sess.id))
	_, err := l.svc.Open(asUser, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_DGRAM})
	wantDenied(t, err, reasons.PolicyDenied, actionOpen)
	if r, err := l.svc.Open(asUser, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM}); err != nil || r.GetError() != nil {
		t.Fatalf("the admin, through uid 1000's session, under its own rule: %v %v", r, err)
	}
	if _, err := l.svc.CloseSession(ops, &sockdv1.CloseSessionRequest{SessionId: l.sess.id}); err != nil {
		t.Errorf("an admin cannot end another principal's session: %v", err)
	}
	if _, err := l.svc.UseRegistry(other, &sockdv1.UseRegistryRequest{Enabled: false}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a non-admin set use_registry: %v", err)
	}
	if _, err := l.svc.UseRegistry(ops, &sockdv1.UseRegistryRequest{Enabled: true}); err != nil {
		t.Errorf("an admin cannot set use_registry: %v", err)
	}
	info, _ := l.svc.GlobalInfo(ops, &sockdv1.GlobalInfoRequest{})
	if !info.GetPolicy().GetAdmin() {
		t.Errorf("GlobalInfo does not say the admin is one: %v", info.GetPolicy())
	}
}

// countedService is a Service whose engine counts principals' sockets, under
// the policy doc.
func countedService(t *testing.T, doc string) (*Service, *SocketCounter) {
	t.Helper()
	counter := NewSocketCounter(nil)
	e, err := engine.New(engine.Config{Loops: 1, Observer: counter})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	pol := mustParse(t, doc)
	return New(Config{Engine: e, Policy: pol, Sockets: counter}), counter
}

// asPrincipal is the context of a call made by p.
func asPrincipal(p Principal) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: peerAuth{principal: p}})
}

// A principal's waiting operations are bounded: past pending_operations a
// call that would wait is refused, and so is a nowait call, whose request
// would wait in a lane (unless it replaces the caller's own); a finished
// wait gives its place back.
func TestPendingOperationsQuota(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  unrestricted: true\n  quotas: {pending_operations: 2}\n- principals: [\"*\"]\n  unrestricted: true\n"))
	a, peerA := l.connected(t)
	b, _ := l.connected(t)
	c, _ := l.connected(t)
	results := make(chan error, 2)
	for _, sock := range []string{a.ID(), b.ID()} {
		go func() {
			_, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: sock, Length: 1})
			results <- err
		}()
	}
	waiting := func() int64 { return l.sess.load.waiting.Load() }
	eventually(t, "two recvs waiting", func() bool { return waiting() == 2 })
	_, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: c.ID(), Length: 1, Timeout: &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: 5000}}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a third waiting recv: %v, want RESOURCE_EXHAUSTED", err)
	}
	nowait := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{}}}
	if r, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: c.ID(), Length: 1, Timeout: nowait}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a nowait recv past the quota: %v %v, want RESOURCE_EXHAUSTED", r, err)
	}
	peerA.Write([]byte("x"))
	if err := <-results; err != nil {
		t.Fatal(err)
	}
	eventually(t, "the finished recv's place given back", func() bool { return waiting() == 1 })
	// The nowait recv takes the place for its request, and keeps it when it
	// calls again at the quota (rule 2); a cancel gives it back.
	r, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: c.ID(), Length: 1, Timeout: nowait})
	if err != nil || r.GetAsync() == nil {
		t.Fatalf("a nowait recv within the quota: %v %v", r, err)
	}
	if waiting() != 2 {
		t.Fatalf("%d places taken with a recv and a request waiting, want 2", waiting())
	}
	if r, err = l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: c.ID(), Length: 1, Timeout: nowait}); err != nil || r.GetAsync() == nil {
		t.Fatalf("the request's caller calling again at the quota: %v %v", r, err)
	}
	// So may a call that waits: it takes the request's place.
	timed := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: 50}}
	if r, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: c.ID(), Length: 1, Timeout: timed}); err != nil || r.GetError().GetKind() != sockdv1.SocketError_KIND_TIMEOUT {
		t.Fatalf("a timed recv replacing the session's request at the quota: %v %v, want its timeout", r, err)
	}
	if waiting() != 1 {
		t.Fatalf("%d places taken after the timed recv, want the other recv's", waiting())
	}
	if r, err = l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: c.ID(), Length: 1, Timeout: nowait}); err != nil || r.GetAsync() == nil {
		t.Fatalf("a nowait recv within the quota: %v %v", r, err)
	}
	if _, err := l.svc.Cancel(l.ctx, &sockdv1.CancelRequest{SocketId: c.ID(), Info: r.GetAsync()}); err != nil {
		t.Fatal(err)
	}
	b.Close() // the other waiting recv ends with closed
	if err := <-results; err != nil {
		t.Fatal(err)
	}
	eventually(t, "every place given back", func() bool { return waiting() == 0 })
	// Without a quota nothing is counted, even while a call waits.
	other := asPrincipal(Principal{Kind: "tcp"})
	sess, err := l.svc.CreateSession(other, &sockdv1.CreateSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.svc.CloseSession(other, &sockdv1.CloseSessionRequest{SessionId: sess.GetSessionId()})
	call := metadata.NewIncomingContext(other, metadata.Pairs(SessionMetadataKey, sess.GetSessionId()))
	id, err := l.svc.Open(call, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_DGRAM})
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := l.svc.Recv(call, &sockdv1.RecvRequest{SocketId: id.GetSocketId()})
		waited <- err
	}()
	eventually(t, "the uncounted recv waiting", func() bool {
		info, err := l.svc.Info(call, &sockdv1.InfoRequest{SocketId: id.GetSocketId()})
		return err == nil && info.GetInfo().GetNumReaders() == 1
	})
	if r, err := l.svc.Recv(call, &sockdv1.RecvRequest{SocketId: id.GetSocketId(), Timeout: nowait}); err != nil || r.GetAsync() == nil {
		t.Fatalf("an uncounted nowait recv: %v %v", r, err)
	}
	l.svc.sessions.mu.RLock()
	n := l.svc.sessions.byID[sess.GetSessionId()].load.waiting.Load()
	l.svc.sessions.mu.RUnlock()
	if n != 0 {
		t.Errorf("%d operations counted while only uncounted ones wait", n)
	}
	l.svc.Close(call, &sockdv1.CloseRequest{SocketId: id.GetSocketId()})
	if err := <-waited; err != nil {
		t.Fatalf("the uncounted recv: %v", err)
	}
}

// Every kind of waiting operation gives its place back when it returns: one
// after another, each under a quota of one.
func TestPendingOperationsReleased(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  unrestricted: true\n  quotas: {pending_operations: 1}\n"))
	open := func() string {
		r, err := l.svc.Open(l.ctx, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM})
		if err != nil || r.GetError() != nil {
			t.Fatal(r, err)
		}
		return r.GetSocketId()
	}
	ln := open()
	l.svc.Bind(l.ctx, &sockdv1.BindRequest{SocketId: ln, Address: inet("127.0.0.1", 0)})
	l.svc.Listen(l.ctx, &sockdv1.ListenRequest{SocketId: ln})
	name, _ := l.svc.SockName(l.ctx, &sockdv1.SockNameRequest{SocketId: ln})
	port := name.GetAddress().GetInet().GetPort()
	// accepted connects, accepts (each a waiting call) and closes the
	// connecting end, so that a relay over accepted ends ends at once.
	accepted := func() string {
		c := open()
		if r, err := l.svc.Connect(l.ctx, &sockdv1.ConnectRequest{SocketId: c, Address: inet("127.0.0.1", port)}); err != nil || r.GetError() != nil {
			t.Fatalf("connect: %v %v", r, err)
		}
		r, err := l.svc.Accept(l.ctx, &sockdv1.AcceptRequest{SocketId: ln})
		if err != nil || r.GetSocketId() == "" {
			t.Fatalf("accept: %v %v", r, err)
		}
		l.svc.Close(l.ctx, &sockdv1.CloseRequest{SocketId: c})
		return r.GetSocketId()
	}
	for i := range 2 {
		if _, err := l.svc.Relay(l.ctx, &sockdv1.RelayRequest{SocketA: accepted(), SocketB: accepted()}); err != nil {
			t.Fatalf("relay %d: %v", i, err)
		}
	}
}

// A running relay's pipes take places under its principal's sockets quota,
// so that relays cannot make the daemon hold descriptors past it; the places
// come back when the relay ends.
func TestRelayPipesCountAgainstTheSocketsQuota(t *testing.T) {
	svc, counter := countedService(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  unrestricted: true\n  quotas: {sockets: 7}\n")
	p := Principal{Kind: "uid", UID: 1000}
	ctx := asPrincipal(p)
	sess, err := svc.CreateSession(ctx, &sockdv1.CreateSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	call := metadata.NewIncomingContext(ctx, metadata.Pairs(SessionMetadataKey, sess.GetSessionId()))
	open := func() (string, error) {
		r, err := svc.Open(call, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM})
		return r.GetSocketId(), err
	}
	ln, _ := open()
	svc.Bind(call, &sockdv1.BindRequest{SocketId: ln, Address: inet("127.0.0.1", 0)})
	svc.Listen(call, &sockdv1.ListenRequest{SocketId: ln})
	name, _ := svc.SockName(call, &sockdv1.SockNameRequest{SocketId: ln})
	conn, _ := open()
	if r, err := svc.Connect(call, &sockdv1.ConnectRequest{SocketId: conn, Address: inet("127.0.0.1", name.GetAddress().GetInet().GetPort())}); err != nil || r.GetError() != nil {
		t.Fatal(r, err)
	}
	acc, err := svc.Accept(call, &sockdv1.AcceptRequest{SocketId: ln})
	if err != nil || acc.GetSocketId() == "" {
		t.Fatal(acc, err)
	}
	reserved := func() int {
		counter.mu.Lock()
		defer counter.mu.Unlock()
		return counter.reserved[p]
	}

	relayCtx, stop := context.WithCancel(call)
	ended := make(chan error, 1)
	go func() {
		_, err := svc.Relay(relayCtx, &sockdv1.RelayRequest{SocketA: conn, SocketB: acc.GetSocketId()})
		ended <- err
	}()
	eventually(t, "the relay's places", func() bool { return reserved() == engine.RelayPipes })
	if _, err := open(); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a socket past 3 sockets and a relay under a quota of 7: %v, want RESOURCE_EXHAUSTED", err)
	}
	// A second relay of the same sockets is refused before any quota: a
	// socket has one bulk consumer at a time.
	if _, err := svc.Relay(call, &sockdv1.RelayRequest{SocketA: conn, SocketB: acc.GetSocketId()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a second relay of the same sockets: %v, want FAILED_PRECONDITION", err)
	}
	stop()
	if err := <-ended; status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled relay: %v", err)
	}
	if n := reserved(); n != 0 {
		t.Fatalf("%d places still reserved after the relay ended", n)
	}
	if _, err := open(); err != nil {
		t.Fatalf("a socket after the relay ended: %v", err)
	}
}

// What a review found the policy let through, by routes other than the
// calls the rules name: the bind a listen or a first datagram makes by
// itself, a datagram socket's connect, a traffic class of high precedence,
// and an inet socket the kernel makes a packet socket.
func TestPolicyHoldsOnIndirectRoutes(t *testing.T) {
	l := newLive(t, Limits{}) // uid 1000
	closed := closedTCPPort(t)
	l.svc.SetPolicy(mustParse(t, fmt.Sprintf(`version: 1
rules:
- principals: ["uid:1000"]
  open: ["inet *", "inet6 *"]
  bind: ["127.0.0.1:8000-8999", "[::1]:8000-8999", "[::]:9200"]
  connect: ["127.0.0.2:9001", "127.0.0.1:%d"]
  sendto: ["127.0.0.1:9000", "[::1]:9000"]
`, closed)))
	ctx := l.ctx
	// Listening, or sending a datagram, on a socket not bound binds it to
	// every interface: refused as a bind to 0.0.0.0:0 is.
	tcp, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_STREAM)
	_, err := l.svc.Listen(ctx, &sockdv1.ListenRequest{SocketId: tcp})
	wantDenied(t, err, reasons.PolicyDenied, actionBind)
	udp, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_DGRAM)
	_, err = l.svc.SendTo(ctx, &sockdv1.SendToRequest{SocketId: udp, Data: []byte("x"), Address: inet("127.0.0.1", 9000)})
	wantDenied(t, err, reasons.PolicyDenied, actionBind)
	for _, c := range []struct{ id, name string }{{tcp, "listen"}, {udp, "sendto"}} {
		if r, err := l.svc.SockName(ctx, &sockdv1.SockNameRequest{SocketId: c.id}); err != nil || r.GetAddress().GetInet().GetPort() != 0 {
			t.Fatalf("after a refused %s the socket is bound: %v %v", c.name, r, err)
		}
	}
	// Bound where the rule allows, both go ahead.
	for _, id := range []string{tcp, udp} {
		if r, err := l.svc.Bind(ctx, &sockdv1.BindRequest{SocketId: id, Address: inet("127.0.0.1", 0)}); err == nil && r.GetError() == nil {
			t.Fatal("bind to port 0 allowed by a rule of ports 8000-8999")
		}
	}
	if r, err := l.svc.Bind(ctx, &sockdv1.BindRequest{SocketId: tcp, Address: inet("127.0.0.1", 8123)}); err != nil || r.GetError() != nil {
		t.Fatalf("bind 127.0.0.1:8123: %v %v", r, err)
	}
	if r, err := l.svc.Listen(ctx, &sockdv1.ListenRequest{SocketId: tcp}); err != nil || r.GetError() != nil {
		t.Fatalf("listen on a socket bound as the rule allows: %v %v", r, err)
	}
	// A connect that failed leaves its port in the socket's name, not in
	// the kernel: a listen then binds the unspecified address all the same.
	tcp2, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_STREAM)
	if r, err := l.svc.Connect(ctx, &sockdv1.ConnectRequest{SocketId: tcp2, Address: inet("127.0.0.1", closed)}); err != nil || r.GetError() == nil {
		t.Fatalf("connect to a closed port: %v %v", r, err)
	}
	_, err = l.svc.Listen(ctx, &sockdv1.ListenRequest{SocketId: tcp2})
	wantDenied(t, err, reasons.PolicyDenied, actionBind)
	// A datagram socket's connect sets where its sends go: the sendto
	// rules decide it, not connect's; and on a socket not bound it binds
	// the unspecified address first, which a failed connect leaves.
	udp2, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_DGRAM)
	_, err = l.svc.Connect(ctx, &sockdv1.ConnectRequest{SocketId: udp2, Address: inet("127.0.0.2", 9001)})
	wantDenied(t, err, reasons.PolicyDenied, actionSendTo)
	_, err = l.svc.Connect(ctx, &sockdv1.ConnectRequest{SocketId: udp2, Address: inet("127.0.0.1", 9000)})
	wantDenied(t, err, reasons.PolicyDenied, actionBind)
	// [::] of a socket that is not v6only takes IPv4 as well: a rule of
	// [::]:9200 alone does not allow it, v6only it does.
	dual, _ := l.open(t, sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_STREAM)
	_, err = l.svc.Bind(ctx, &sockdv1.BindRequest{SocketId: dual, Address: inet6("::", 9200, 0)})
	wantDenied(t, err, reasons.PolicyDenied, actionBind)
	only := &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: true}}
	if r, err := l.svc.SetOpt(ctx, &sockdv1.SetOptRequest{SocketId: dual, Key: &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_IPV6, Name: "v6only"}, Value: only}); err != nil || r.GetError() != nil {
		t.Fatalf("setopt v6only: %v %v", r, err)
	}
	if r, err := l.svc.Bind(ctx, &sockdv1.BindRequest{SocketId: dual, Address: inet6("::", 9200, 0)}); err != nil || r.GetError() != nil {
		t.Fatalf("bind [::]:9200 v6only: %v %v", r, err)
	}
	// A packet info message's source address is a bind's, its interface a
	// bindtodevice's.
	bound, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_DGRAM)
	if r, err := l.svc.Bind(ctx, &sockdv1.BindRequest{SocketId: bound, Address: inet("127.0.0.1", 8125)}); err != nil || r.GetError() != nil {
		t.Fatalf("bind 127.0.0.1:8125: %v %v", r, err)
	}
	pktinfo := func(ifindex int32, src string) *sockdv1.ControlMessage {
		data := binary.NativeEndian.AppendUint32(nil, uint32(ifindex)) // struct in_pktinfo
		data = append(data, netip.MustParseAddr(src).AsSlice()...)
		data = append(data, 0, 0, 0, 0)
		return &sockdv1.ControlMessage{Level: unix.IPPROTO_IP, Type: unix.IP_PKTINFO, Data: data}
	}
	send := func(c *sockdv1.ControlMessage) error {
		_, err := l.svc.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: bound, Iov: [][]byte{[]byte("x")}, Address: inet("127.0.0.1", 9000),
			Control: []*sockdv1.ControlMessage{c}})
		return err
	}
	wantDenied(t, send(pktinfo(0, "127.0.0.9")), reasons.PolicyDenied, actionSendMsg)
	for _, c := range []struct {
		ifindex int32
		src     string
	}{{0, "127.0.0.1"}, {1, "0.0.0.0"}, {1, "127.0.0.1"}} { // its own address; an interface, as any user may name
		if err := send(pktinfo(c.ifindex, c.src)); err != nil {
			t.Fatalf("pktinfo ifindex %d source %s from a socket bound to 127.0.0.1: %v", c.ifindex, c.src, err)
		}
	}
	// A tos the kernel takes as one byte is read as it would be: lowdelay
	// passes, precedence 7 does not.
	for _, c := range []struct {
		tos     byte
		allowed bool
	}{{0x10, true}, {0xe0, false}} {
		err := send(&sockdv1.ControlMessage{Level: unix.IPPROTO_IP, Type: unix.IP_TOS, Data: []byte{c.tos}})
		if c.allowed && err != nil {
			t.Fatalf("a one-byte tos %#x: %v", c.tos, err)
		}
		if !c.allowed {
			wantDenied(t, err, reasons.PolicyDenied, actionSendMsg)
		}
	}
	// A traffic class of precedence 6 or 7 is as privileged as such a tos.
	udp6, _ := l.open(t, sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_DGRAM)
	key, val := intOpt(sockdv1.OptionLevel_OPTION_LEVEL_IPV6, "tclass", 0xe0)
	_, err = l.svc.SetOpt(ctx, &sockdv1.SetOptRequest{SocketId: udp6, Key: key, Value: val})
	wantDenied(t, err, reasons.PolicyDenied, actionSetOpt)
	key, val = intOpt(sockdv1.OptionLevel_OPTION_LEVEL_IPV6, "tclass", 0x20)
	if r, err := l.svc.SetOpt(ctx, &sockdv1.SetOptRequest{SocketId: udp6, Key: key, Value: val}); err != nil || r.GetError() != nil {
		t.Fatalf("tclass 0x20: %v %v", r, err)
	}
	if r, err := l.svc.Bind(ctx, &sockdv1.BindRequest{SocketId: udp6, Address: inet6("::1", 8124, 0)}); err != nil || r.GetError() != nil {
		t.Fatalf("bind [::1]:8124: %v %v", r, err)
	}
	tclass := &sockdv1.ControlMessage{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_TCLASS, Value: &sockdv1.ControlMessage_IntValue{IntValue: 0xc0}}
	_, err = l.svc.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: udp6, Iov: [][]byte{[]byte("x")}, Address: inet6("::1", 9000, 0),
		Control: []*sockdv1.ControlMessage{tclass}})
	wantDenied(t, err, reasons.PolicyDenied, actionSendMsg)
}

// A rule of local paths is not escaped through a symbolic link planted in a
// directory it names, as the last name or a directory's.
func TestPolicyLocalPathsDoNotFollowLinks(t *testing.T) {
	dir := t.TempDir()
	// The daemon connects as the local user it acts for (uid 1000 here).
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	app, other := filepath.Join(dir, "app"), filepath.Join(dir, "other")
	for _, d := range []string{app, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(app, "real.sock"), filepath.Join(other, "secret.sock")} {
		ln, err := net.Listen("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(other, "secret.sock"), filepath.Join(app, "x")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(app, "sub")); err != nil {
		t.Fatal(err)
	}
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, fmt.Sprintf("version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"local stream\"]\n  connect: [\"local:%s/*\"]\n", app)))
	connect := func(path string) error {
		id, _ := l.open(t, sockdv1.Domain_DOMAIN_LOCAL, sockdv1.Type_TYPE_STREAM)
		r, err := l.svc.Connect(l.ctx, &sockdv1.ConnectRequest{SocketId: id, Address: local(path)})
		if err == nil && r.GetError() != nil {
			t.Fatalf("connect %s: %v", path, r.GetError())
		}
		return err
	}
	if err := connect(filepath.Join(app, "real.sock")); err != nil {
		t.Fatalf("connect to a socket the rule names: %v", err)
	}
	for _, p := range []string{filepath.Join(app, "x"), filepath.Join(app, "sub", "secret.sock")} {
		wantDenied(t, connect(p), reasons.PolicyDenied, actionConnect)
	}
}

// A pktinfo source the socket's bind rules allow at a port the kernel picks
// is allowed on every send, the first (no port yet) as the next.
func TestPktinfoSourceUnderAPickedPort(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"inet dgram\"]\n  bind: [\"*:0\"]\n  sendto: [\"127.0.0.1:9\"]\n"))
	udp, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_DGRAM)
	data := binary.NativeEndian.AppendUint32(nil, 0)
	data = append(data, 127, 0, 0, 1, 0, 0, 0, 0)
	for i := range 2 {
		_, err := l.svc.SendMsg(l.ctx, &sockdv1.SendMsgRequest{SocketId: udp, Iov: [][]byte{[]byte("x")}, Address: inet("127.0.0.1", 9),
			Control: []*sockdv1.ControlMessage{{Level: unix.IPPROTO_IP, Type: unix.IP_PKTINFO, Data: data}}})
		if err != nil {
			t.Fatalf("send %d with pktinfo source 127.0.0.1: %v", i+1, err)
		}
	}
}

// The policy's decision on [::] and the bind see the same IPV6_V6ONLY: a
// setopt racing the bind cannot make it bind IPv4 too where the rule allows
// IPv6 only.
func TestDualStackBindRacingV6only(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"inet6 *\"]\n  bind: [\"[::]:9200-9999\"]\n"))
	ctx := l.ctx
	key := &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_IPV6, Name: "v6only"}
	v6only := func(on bool) *sockdv1.OptionValue {
		return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: on}}
	}
	for i := range 400 {
		port := uint32(9200 + i)
		id, _ := l.open(t, sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_STREAM)
		l.svc.SetOpt(ctx, &sockdv1.SetOptRequest{SocketId: id, Key: key, Value: v6only(true)})
		var wg sync.WaitGroup
		var bound bool
		wg.Go(func() {
			r, err := l.svc.Bind(ctx, &sockdv1.BindRequest{SocketId: id, Address: inet6("::", port, 0)})
			bound = err == nil && r.GetError() == nil
		})
		wg.Go(func() { l.svc.SetOpt(ctx, &sockdv1.SetOptRequest{SocketId: id, Key: key, Value: v6only(false)}) })
		wg.Wait()
		if sock, _ := l.svc.engine.Lookup(id); bound && dualStack(sock) {
			t.Fatalf("round %d: bound [::]:%d with v6only off, which the rule (IPv6 only) does not allow", i, port)
		}
		l.svc.Close(ctx, &sockdv1.CloseRequest{SocketId: id})
	}
}

// What a third review found: a send without an address binds too (Linux
// binds before it answers edestaddrreq); the IPv4-mapped wildcard covers
// IPv4 sources only; a port a Bind asked for is not a port-0 rule's.
func TestPolicyHoldsOnSendsAndSources(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, `version: 1
rules:
- principals: ["uid:1000"]
  open: ["inet dgram", "inet6 dgram"]
  bind: ["[::1]:7000", "0.0.0.0:5000", "127.0.0.1:8125", "127.0.0.1:0"]
  sendto: ["[::1]:1-65535", "127.0.0.1:1-65535"]
`))
	ctx := l.ctx
	// A plain send on a datagram socket no Bind bound.
	udp6, _ := l.open(t, sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_DGRAM)
	_, err := l.svc.Send(ctx, &sockdv1.SendRequest{SocketId: udp6, Data: []byte("x")})
	wantDenied(t, err, reasons.PolicyDenied, actionBind)
	_, err = l.svc.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: udp6, Iov: [][]byte{[]byte("x")}})
	wantDenied(t, err, reasons.PolicyDenied, actionBind)
	if sock, _ := l.svc.engine.Lookup(udp6); sock != nil {
		if name, err := sock.SockName(); err != nil || name.Port != 0 {
			t.Fatalf("after refused plain sends the socket is bound: %v %v", name, err)
		}
	}
	send := func(id, to string, port uint32, pktinfo *sockdv1.ControlMessage) error {
		addr := inet(to, port)
		if strings.Contains(to, ":") {
			addr = inet6(to, port, 0)
		}
		_, err := l.svc.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: id, Iov: [][]byte{[]byte("x")}, Address: addr,
			Control: []*sockdv1.ControlMessage{pktinfo}})
		return err
	}
	// [::ffff:0.0.0.0] is the IPv4 wildcard: not an IPv6 source.
	mapped, _ := l.open(t, sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_DGRAM)
	if r, err := l.svc.Bind(ctx, &sockdv1.BindRequest{SocketId: mapped, Address: inet6("::ffff:0.0.0.0", 5000, 0)}); err != nil || r.GetError() != nil {
		t.Fatalf("bind [::ffff:0.0.0.0]:5000: %v %v", r, err)
	}
	src6 := &sockdv1.ControlMessage{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_PKTINFO, Data: append(netip.IPv6Loopback().AsSlice(), 0, 0, 0, 0)}
	wantDenied(t, send(mapped, "::1", 9, src6), reasons.PolicyDenied, actionSendMsg)
	// 127.0.0.1:8125 asked for by a Bind: another source at that port is
	// not covered by a port-0 rule of any address.
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"inet dgram\"]\n  bind: [\"127.0.0.1:8125\", \"*:0\"]\n  sendto: [\"127.0.0.1:9\"]\n"))
	fixed, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_DGRAM)
	if r, err := l.svc.Bind(ctx, &sockdv1.BindRequest{SocketId: fixed, Address: inet("127.0.0.1", 8125)}); err != nil || r.GetError() != nil {
		t.Fatalf("bind 127.0.0.1:8125: %v %v", r, err)
	}
	src4 := func(a string) *sockdv1.ControlMessage {
		data := binary.NativeEndian.AppendUint32(nil, 0)
		data = append(data, netip.MustParseAddr(a).AsSlice()...)
		return &sockdv1.ControlMessage{Level: unix.IPPROTO_IP, Type: unix.IP_PKTINFO, Data: append(data, 0, 0, 0, 0)}
	}
	wantDenied(t, send(fixed, "127.0.0.1", 9, src4("127.0.0.2")), reasons.PolicyDenied, actionSendMsg)
	if err := send(fixed, "127.0.0.1", 9, src4("127.0.0.1")); err != nil {
		t.Fatalf("pktinfo from its own address: %v", err)
	}
}

// A fifth review: IPV6_V6ONLY turned off on a socket a Bind bound to [::]
// at a picked port (which a dissolve lets go, and the next listen takes
// again, IPv4 too); a wildcard that covers sources only while they are
// the host's (freebind); a local socket that Linux names when it sends
// with passcred on.
func TestPolicyHoldsOnRebindsAndNames(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rxPath := filepath.Join(dir, "rx.sock")
	rx, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: rxPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := os.Chmod(rxPath, 0o777); err != nil {
		t.Fatal(err)
	}
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, fmt.Sprintf(`version: 1
rules:
- principals: ["uid:1000"]
  open: ["inet6 stream", "inet6 dgram", "local dgram"]
  bind: ["[::]:0"]
  sendto: ["[::1]:9", "local:%s"]
`, rxPath)))
	ctx := l.ctx
	setBool := func(id string, level sockdv1.OptionLevel, name string, on bool) error {
		r, err := l.svc.SetOpt(ctx, &sockdv1.SetOptRequest{SocketId: id, Key: &sockdv1.OptionKey{Level: level, Name: name},
			Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: on}}})
		if err == nil && r.GetError() != nil {
			t.Fatalf("setopt %s %v: %v", name, on, r.GetError())
		}
		return err
	}
	// v6only off, once bound to [::]:0: it would take IPv4 at its next bind.
	ln, _ := l.open(t, sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_STREAM)
	if err := setBool(ln, sockdv1.OptionLevel_OPTION_LEVEL_IPV6, "v6only", true); err != nil {
		t.Fatal(err)
	}
	if r, err := l.svc.Bind(ctx, &sockdv1.BindRequest{SocketId: ln, Address: inet6("::", 0, 0)}); err != nil || r.GetError() != nil {
		t.Fatalf("bind [::]:0 v6only: %v %v", r, err)
	}
	if r, err := l.svc.Listen(ctx, &sockdv1.ListenRequest{SocketId: ln}); err != nil || r.GetError() != nil {
		t.Fatalf("listen: %v %v", r, err)
	}
	unspec := &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Unspec{Unspec: &sockdv1.UnspecAddr{}}}
	if r, err := l.svc.Connect(ctx, &sockdv1.ConnectRequest{SocketId: ln, Address: unspec}); err != nil || r.GetError() != nil {
		t.Fatalf("dissolve: %v %v", r, err) // the kernel lets go of the picked port
	}
	wantDenied(t, setBool(ln, sockdv1.OptionLevel_OPTION_LEVEL_IPV6, "v6only", false), reasons.PolicyDenied, actionSetOpt)
	// With freebind, [::] no longer covers any source: the rules decide.
	udp, _ := l.open(t, sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_DGRAM)
	if err := setBool(udp, sockdv1.OptionLevel_OPTION_LEVEL_IPV6, "v6only", true); err != nil {
		t.Fatal(err)
	}
	if r, err := l.svc.Bind(ctx, &sockdv1.BindRequest{SocketId: udp, Address: inet6("::", 0, 0)}); err != nil || r.GetError() != nil {
		t.Fatalf("bind [::]:0: %v %v", r, err)
	}
	src := &sockdv1.ControlMessage{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_PKTINFO, Data: append(netip.MustParseAddr("fd00::1").AsSlice(), 0, 0, 0, 0)}
	sendFrom := func() error {
		_, err := l.svc.SendMsg(ctx, &sockdv1.SendMsgRequest{SocketId: udp, Iov: [][]byte{[]byte("x")}, Address: inet6("::1", 9, 0),
			Control: []*sockdv1.ControlMessage{src}})
		return err
	}
	if err := setBool(udp, sockdv1.OptionLevel_OPTION_LEVEL_IP, "freebind", true); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, sendFrom(), reasons.PolicyDenied, actionSendMsg)
	// passcred: a send would name the socket @xxxxx, which no rule allows.
	loc, _ := l.open(t, sockdv1.Domain_DOMAIN_LOCAL, sockdv1.Type_TYPE_DGRAM)
	if err := setBool(loc, sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, "passcred", true); err != nil {
		t.Fatal(err)
	}
	_, err = l.svc.SendTo(ctx, &sockdv1.SendToRequest{SocketId: loc, Data: []byte("x"), Address: local(rxPath)})
	wantDenied(t, err, reasons.PolicyDenied, actionBind)
	plain, _ := l.open(t, sockdv1.Domain_DOMAIN_LOCAL, sockdv1.Type_TYPE_DGRAM)
	if r, err := l.svc.SendTo(ctx, &sockdv1.SendToRequest{SocketId: plain, Data: []byte("x"), Address: local(rxPath)}); err != nil || r.GetError() != nil {
		t.Fatalf("a local send without passcred: %v %v", r, err)
	}
}

// Freebind lets an IPv6 socket send from any address, not an IPv4 one: an
// IPv4 server with freebind bound to 0.0.0.0:8080 still replies from the
// address a datagram came to.
func TestFreebindLeavesIPv4SourcesCovered(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"inet dgram\"]\n  bind: [\"0.0.0.0:8080\"]\n  sendto: [\"*:53\"]\n"))
	udp, _ := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_DGRAM)
	on := &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: true}}
	if r, err := l.svc.SetOpt(l.ctx, &sockdv1.SetOptRequest{SocketId: udp, Key: &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_IP, Name: "freebind"}, Value: on}); err != nil || r.GetError() != nil {
		t.Fatalf("setopt ip freebind: %v %v", r, err)
	}
	if r, err := l.svc.Bind(l.ctx, &sockdv1.BindRequest{SocketId: udp, Address: inet("0.0.0.0", 8080)}); err != nil || r.GetError() != nil {
		t.Fatalf("bind 0.0.0.0:8080: %v %v", r, err)
	}
	data := binary.NativeEndian.AppendUint32(nil, 0)
	data = append(data, 127, 0, 0, 1, 0, 0, 0, 0)
	_, err := l.svc.SendMsg(l.ctx, &sockdv1.SendMsgRequest{SocketId: udp, Iov: [][]byte{[]byte("x")}, Address: inet("127.0.0.1", 53),
		Control: []*sockdv1.ControlMessage{{Level: unix.IPPROTO_IP, Type: unix.IP_PKTINFO, Data: data}}})
	if status.Code(err) == codes.PermissionDenied {
		t.Fatalf("reply from 127.0.0.1 under a 0.0.0.0:8080 bind with freebind: %v", err)
	}
}

// A local seqpacket socket sends as a datagram one: with passcred turned
// on after its connect, a plain send would have Linux name it @xxxxx,
// reachable by anyone, which no rule allowed.
func TestSeqpacketPasscredNamesNeedARule(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "srv.sock")
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: p, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chmod(p, 0o777); err != nil {
		t.Fatal(err)
	}
	go func() { // accepts until the listener closes, holding what it accepted
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, fmt.Sprintf("version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"local seqpacket\"]\n  connect: [\"local:%s\"]\n", p)))
	for _, how := range []string{"Send", "SendMsg"} {
		r, err := l.svc.Open(l.ctx, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_LOCAL, Type: sockdv1.Type_TYPE_SEQPACKET})
		if err != nil || r.GetError() != nil {
			t.Fatalf("open: %v %v", r, err)
		}
		id := r.GetSocketId()
		if cr, err := l.svc.Connect(l.ctx, &sockdv1.ConnectRequest{SocketId: id, Address: local(p)}); err != nil || cr.GetError() != nil {
			t.Fatalf("connect: %v %v", cr, err)
		}
		sr, err := l.svc.SetOpt(l.ctx, &sockdv1.SetOptRequest{SocketId: id, Key: &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, Name: "passcred"},
			Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: true}}})
		if err != nil || sr.GetError() != nil {
			t.Fatalf("setopt passcred: %v %v", sr, err)
		}
		if how == "Send" {
			_, err = l.svc.Send(l.ctx, &sockdv1.SendRequest{SocketId: id, Data: []byte("x")})
		} else {
			_, err = l.svc.SendMsg(l.ctx, &sockdv1.SendMsgRequest{SocketId: id, Iov: [][]byte{[]byte("x")}})
		}
		nr, _ := l.svc.SockName(l.ctx, &sockdv1.SockNameRequest{SocketId: id})
		if err == nil {
			t.Errorf("%s: allowed, and the socket is now named %q (local:@* not in bind)", how, nr.GetAddress().GetLocal().GetPath())
			continue
		}
		wantDenied(t, err, reasons.PolicyDenied, actionBind)
	}
}

// A first bindtodevice is anyone's, a change of it privileged: two at once
// on a socket bound to no device must not both pass the check and rebind
// it (the check and the setsockopt hold the socket's bind lock).
func TestBindToDeviceDecidedOnce(t *testing.T) {
	if !unprivilegedBindToDevice() {
		t.Skip("before Linux 5.7 every bindtodevice is privileged")
	}
	other := ""
	ifaces, _ := net.Interfaces()
	for _, i := range ifaces {
		if i.Flags&net.FlagLoopback == 0 {
			other = i.Name
			break
		}
	}
	if other == "" {
		t.Skip("no interface besides loopback to bind to")
	}
	l := newLive(t, Limits{}) // uid 1000
	l.svc.SetPolicy(DefaultPolicy(0, 1024))
	set := func(id, dev string) bool {
		r, err := l.svc.SetOpt(l.ctx, &sockdv1.SetOptRequest{SocketId: id,
			Key:   &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, Name: "bindtodevice"},
			Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_StringValue{StringValue: dev}}})
		return err == nil && r.GetError() == nil
	}
	for range 300 {
		id, err := l.open(t, sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_STREAM)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var a, b bool
		wg.Go(func() { a = set(id, "lo") })
		wg.Go(func() { b = set(id, other) })
		wg.Wait()
		l.svc.Close(l.ctx, &sockdv1.CloseRequest{SocketId: id})
		if a == b {
			t.Fatalf("bindtodevice lo and %s at once: %v and %v, want exactly one to pass", other, a, b)
		}
	}
}

// A send that bound [::] with IPv4 too where the rule allows IPv6 only (an
// IPV6_V6ONLY turned off while the send ran, which only a client racing
// itself can do) is refused and its socket closed; the refusal still says
// what the send sent.
func TestBoundAsDecidedReportsBytesSent(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"inet6 dgram\"]\n  bind: [\"[::]:0\"]\n  sendto: [\"[::1]:9\"]\n"))
	id, _ := l.open(t, sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_DGRAM)
	sock, _ := l.svc.engine.Lookup(id)
	// What the race leaves: a send that found v6only off and bound [::].
	sock.Control(func(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0) })
	res := sock.SendTo(l.ctx, l.sess, []byte("hello"), 0, engine.SockAddr{Family: engine.FamilyInet6, Addr: netip.IPv6Loopback(), Port: 9}, engine.Timeout{})
	if res.Err != nil || res.Sent != 5 {
		t.Fatalf("send: %+v", res)
	}
	err := l.svc.checkCaller(l.ctx).boundAsDecided(sock, res.Sent)
	wantDenied(t, err, reasons.PolicyDenied, actionBind)
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Metadata["bytes_sent"] != "5" {
			t.Errorf("ErrorInfo %v, want bytes_sent 5", info)
		}
	}
	if !sock.Closed() {
		t.Error("the socket stays open")
	}
}
