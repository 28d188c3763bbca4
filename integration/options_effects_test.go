package integration

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Option scenarios with an effect to see, through the real daemon: the
// reference's recverr (32) and IPv6 control messages (33), and the options
// whose effect is on bind (v6only, freebind), privilege (transparent) or
// accept (inheritance).

// bindErr binds and returns the in-band error, if any.
func (s *rawSession) bindErr(t testing.TB, id string, addr *sockdv1.SockAddr) *sockdv1.SocketError {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Bind(ctx, &sockdv1.BindRequest{SocketId: id, Address: addr})
	if err != nil {
		t.Fatalf("bind: %v", err)
	}
	return resp.GetError()
}

// closedPort returns the address of a port of v's loopback on which nothing
// listens: bound by a socket that is then closed.
func (s *rawSession) closedPort(t testing.TB, v variant) *sockdv1.SockAddr {
	t.Helper()
	id, addr := s.bound(t, v)
	s.close(t, id)
	return addr
}

// TestOptRecvErr re-expresses api_opt_ip_recverr_udp4 and
// api_opt_ipv6_recverr_udp6 (32): with recverr on, a datagram to a closed
// port queues the ICMP error, and recvmsg with errqueue returns it as an
// extended_err control message.
func TestOptRecvErr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v      variant
		level  sockdv1.OptionLevel
		origin string
	}{{udp4, ipL, "icmp"}, {udp6, ipv6L, "icmp6"}} {
		t.Run(tc.v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			id := s.open(t, tc.v)
			s.mustSetOpt(t, id, optKey(tc.level, "recverr"), boolValue(true))
			if !s.getOpt(t, id, optKey(tc.level, "recverr")).GetValue().GetBoolValue() {
				t.Fatal("recverr reads false after set")
			}
			s.sendTo(t, id, []byte("anyone?"), s.closedPort(t, tc.v))

			// The ICMP error arrives asynchronously: poll the error queue.
			var ee *sockdv1.ExtendedErr
			for deadline := time.Now().Add(eventWait); ee == nil; {
				ctx, cancel := s.call()
				resp, err := s.api.RecvMsg(ctx, &sockdv1.RecvMsgRequest{SocketId: id,
					Flags: []sockdv1.MsgFlag{sockdv1.MsgFlag_MSG_FLAG_ERRQUEUE}, Timeout: millis(0)})
				cancel()
				if err != nil {
					t.Fatalf("recvmsg errqueue: %v", err)
				}
				for _, c := range resp.GetControl() {
					if c.GetExtendedErr() != nil {
						ee = c.GetExtendedErr()
					}
				}
				if ee == nil && time.Now().After(deadline) {
					t.Fatalf("no extended_err on the error queue: last answer %v", resp)
				}
				if ee == nil {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if ee.GetError() != "econnrefused" || ee.GetOrigin() != tc.origin {
				t.Errorf("extended_err = %v, want econnrefused from %s", ee, tc.origin)
			}
			// Erlang names the ICMP type and code (reference §7.2).
			if ee.GetTypeName() != "dest_unreach" || ee.GetCodeName() != "port_unreach" {
				t.Errorf("extended_err type %q code %q, want dest_unreach and port_unreach", ee.GetTypeName(), ee.GetCodeName())
			}
		})
	}
}

// TestOptIPv6ControlMessages re-expresses api_opt_ipv6_{recvpktinfo,
// recvhoplimit,recvtclass,tclass}_udp6 (33) over ::1.
func TestOptIPv6ControlMessages(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	rx := s.open(t, udp6)
	s.bind(t, rx, inet6Addr("::1", 0))
	dest := s.sockname(t, rx)
	for _, name := range []string{"recvpktinfo", "recvhoplimit", "recvtclass"} {
		s.mustSetOpt(t, rx, optKey(ipv6L, name), boolValue(true))
		if !s.getOpt(t, rx, optKey(ipv6L, name)).GetValue().GetBoolValue() {
			t.Errorf("ipv6 %s reads false after set", name)
		}
	}
	tx := s.open(t, udp6)
	const tclass = 0x20
	s.mustSetOpt(t, tx, optKey(ipv6L, "tclass"), intValue(tclass))
	if v := s.getOpt(t, tx, optKey(ipv6L, "tclass")).GetValue().GetIntValue(); v != tclass {
		t.Errorf("ipv6 tclass = %d, want %d", v, tclass)
	}
	s.sendTo(t, tx, []byte("six"), dest)
	msg := s.recvMsg(t, rx, 0, millis(2000))
	if msg.GetError() != nil {
		t.Fatalf("recvmsg: %v", msg.GetError())
	}
	got := map[int32]*sockdv1.ControlMessage{}
	for _, c := range msg.GetControl() {
		if c.GetLevel() == unix.IPPROTO_IPV6 {
			got[c.GetType()] = c
		}
	}
	if c := got[unix.IPV6_PKTINFO]; c.GetPktinfo6().GetAddr() != "::1" {
		t.Errorf("pktinfo = %v, want the destination ::1", c)
	}
	if c := got[unix.IPV6_HOPLIMIT]; c == nil || c.GetIntValue() <= 0 {
		t.Errorf("hoplimit = %v, want a positive hop limit", c)
	}
	if c := got[unix.IPV6_TCLASS]; c.GetIntValue() != tclass {
		t.Errorf("tclass = %v, want %d", c, tclass)
	}
}

// TestOptV6Only: an inet6 socket with v6only cannot bind a v4-mapped
// address; without it, it can; getopt says which it is.
func TestOptV6Only(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	mapped := inet6Addr("::ffff:127.0.0.1", 0)
	only := s.open(t, tcp6)
	s.mustSetOpt(t, only, optKey(ipv6L, "v6only"), boolValue(true))
	if se := s.bindErr(t, only, mapped); se == nil {
		t.Error("v6only socket bound a v4-mapped address")
	}
	dual := s.open(t, tcp6)
	s.mustSetOpt(t, dual, optKey(ipv6L, "v6only"), boolValue(false))
	if se := s.bindErr(t, dual, mapped); se != nil {
		t.Errorf("dual-stack socket: bind v4-mapped: %v", se)
	}
	// Erlang's NIF answers getopt v6only, though its docs' table says set only.
	for id, want := range map[string]bool{only: true, dual: false} {
		if r := s.getOpt(t, id, optKey(ipv6L, "v6only")); r.GetError() != nil || r.GetValue().GetBoolValue() != want {
			t.Errorf("getopt v6only = %v, want %v", r, want)
		}
	}
}

// TestOptFreebind: binding an address the host does not have (TEST-NET-1)
// needs freebind. Bind only: nothing is ever sent from it.
func TestOptFreebind(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	foreign := inetAddr("192.0.2.1", 0)
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind"); err == nil && strings.TrimSpace(string(b)) == "0" {
		plain := s.open(t, udp4)
		if se := s.bindErr(t, plain, foreign); se.GetReason() != "eaddrnotavail" {
			t.Errorf("bind 192.0.2.1 without freebind: %v, want eaddrnotavail", se)
		}
	}
	free := s.open(t, udp4)
	s.mustSetOpt(t, free, optKey(ipL, "freebind"), boolValue(true))
	if !s.getOpt(t, free, optKey(ipL, "freebind")).GetValue().GetBoolValue() {
		t.Error("freebind reads false after set")
	}
	if se := s.bindErr(t, free, foreign); se != nil {
		t.Fatalf("bind 192.0.2.1 with freebind: %v", se)
	}
	if a := s.sockname(t, free).GetInet().GetAddress(); a != "192.0.2.1" {
		t.Errorf("sockname after freebind bind = %q", a)
	}
}

// TestOptTransparent: ip transparent needs CAP_NET_ADMIN, which root has.
func TestOptTransparent(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("ip transparent needs root (CAP_NET_ADMIN)")
	}
	s := newSession(t)
	id := s.open(t, udp4)
	s.mustSetOpt(t, id, optKey(ipL, "transparent"), boolValue(true))
	if !s.getOpt(t, id, optKey(ipL, "transparent")).GetValue().GetBoolValue() {
		t.Error("transparent reads false after set")
	}
}

// TestOptNodelay: tcp nodelay is off by default and follows set both ways.
func TestOptNodelay(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	id := s.open(t, tcp4)
	for _, want := range []bool{false, true, false} {
		if want {
			s.mustSetOpt(t, id, optKey(tcpLvl, "nodelay"), boolValue(true))
		} else if s.getOpt(t, id, optKey(tcpLvl, "nodelay")).GetValue().GetBoolValue() {
			s.mustSetOpt(t, id, optKey(tcpLvl, "nodelay"), boolValue(false))
		}
		if got := s.getOpt(t, id, optKey(tcpLvl, "nodelay")).GetValue().GetBoolValue(); got != want {
			t.Errorf("nodelay = %v, want %v", got, want)
		}
	}
}

// TestOptAcceptedInherit: an accepted socket takes rcvbuf, the control
// buffer sizes, iow, debug and use_registry from its listener (reference
// §2.9), whatever the defaults are.
func TestOptAcceptedInherit(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	off := false
	l := s.openWith(t, tcp4, &off) // use_registry false, against the daemon's default
	s.bind(t, l, inetAddr("127.0.0.1", 0))
	s.listen(t, l)
	addr := s.sockname(t, l)
	set := map[string]*sockdv1.OptionValue{
		"rcvbuf":     intValue(4096),
		"rcvctrlbuf": intValue(2048),
		"sndctrlbuf": intValue(3072),
		"iow":        boolValue(true),
		"debug":      boolValue(true),
	}
	for name, v := range set {
		s.mustSetOpt(t, l, optKey(otp, name), v)
	}
	accept := func() string {
		c := s.open(t, tcp4)
		s.connect(t, c, addr)
		return s.accept(t, l)
	}
	a := accept()
	for name, want := range set {
		if got := s.getOpt(t, a, optKey(otp, name)).GetValue(); got.String() != want.String() {
			t.Errorf("accepted socket's otp %s = %v, want the listener's %v", name, got, want)
		}
	}
	if s.getOpt(t, a, optKey(otp, "use_registry")).GetValue().GetBoolValue() {
		t.Error("accepted socket is registered; its listener is not")
	}
	s.mustSetOpt(t, l, optKey(otp, "use_registry"), boolValue(true))
	if b := accept(); !s.getOpt(t, b, optKey(otp, "use_registry")).GetValue().GetBoolValue() {
		t.Error("socket accepted after use_registry true is not registered")
	}
}

// TestOptUseRegistryRegisters: setopt otp use_registry true puts a socket
// opened unregistered into the registry at once. Not parallel: it counts
// with NumberOf, which sees every test's sockets.
func TestOptUseRegistryRegisters(t *testing.T) {
	s := newSession(t)
	off := false
	id := s.openWith(t, udp4, &off)
	before := s.numberOf(t)
	if slices.Contains(s.registered(t, &sockdv1.WhichSocketsRequest{}), id) {
		t.Fatal("socket opened with use_registry false is registered")
	}
	s.mustSetOpt(t, id, optKey(otp, "use_registry"), boolValue(true))
	if after := s.numberOf(t); after != before+1 {
		t.Errorf("number_of after use_registry true = %d, want %d", after, before+1)
	}
	if !slices.Contains(s.registered(t, &sockdv1.WhichSocketsRequest{}), id) {
		t.Error("which_sockets does not list the socket after use_registry true")
	}
	s.close(t, id)
	if after := s.numberOf(t); after != before {
		t.Errorf("number_of after close = %d, want %d", after, before)
	}
}
