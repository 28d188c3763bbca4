package server

import (
	"math"
	"strings"
	"testing"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// On a closed socket every option answers closed, the otp ones too (they
// make no syscall, but the NIF checks that the socket is open first).
func TestOptionsOfAClosedSocket(t *testing.T) {
	l := newLive(t, Limits{})
	sock, _ := l.connected(t)
	sock.Close()
	otp := func(name string) *sockdv1.OptionKey {
		return &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_OTP, Name: name}
	}
	set, err := l.svc.SetOpt(l.ctx, &sockdv1.SetOptRequest{SocketId: sock.ID(), Key: otp("debug"),
		Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: true}}})
	if err != nil || set.GetError().GetKind() != sockdv1.SocketError_KIND_CLOSED {
		t.Fatalf("setopt otp debug on a closed socket: %v %v", set, err)
	}
	for _, name := range []string{"debug", "fd", "rcvbuf"} {
		got, err := l.svc.GetOpt(l.ctx, &sockdv1.GetOptRequest{SocketId: sock.ID(), Key: otp(name)})
		if err != nil || got.GetError().GetKind() != sockdv1.SocketError_KIND_CLOSED {
			t.Errorf("getopt otp %s on a closed socket: %v %v", name, got, err)
		}
	}
}

// Erlang's order on a closed socket: an option this host does not offer is
// invalid (prim_socket refuses it before the NIF), anything else is closed
// before the NIF looks for a setter or decodes the value.
func TestClosedComesBeforeDirectionAndValue(t *testing.T) {
	l := newLive(t, Limits{})
	sock, _ := l.connected(t)
	sock.Close()
	key := func(level sockdv1.OptionLevel, name string) *sockdv1.OptionKey {
		return &sockdv1.OptionKey{Level: level, Name: name}
	}
	intValue := &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: 1}}
	sockLevel, otpLevel := sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, sockdv1.OptionLevel_OPTION_LEVEL_OTP
	for _, c := range []struct {
		what string
		key  *sockdv1.OptionKey
		set  bool
		v    *sockdv1.OptionValue
		want sockdv1.SocketError_Kind
	}{
		{"set of a get-only option", key(sockLevel, "acceptconn"), true, intValue, sockdv1.SocketError_KIND_CLOSED},
		{"get of a set-only option", key(sockdv1.OptionLevel_OPTION_LEVEL_IP, "add_membership"), false, nil, sockdv1.SocketError_KIND_CLOSED},
		{"a bad value", key(sockLevel, "reuseaddr"), true, intValue, sockdv1.SocketError_KIND_CLOSED},
		{"a bad otp value", key(otpLevel, "debug"), true, intValue, sockdv1.SocketError_KIND_CLOSED},
		{"controlling_process to no session", key(otpLevel, "controlling_process"), true, intValue, sockdv1.SocketError_KIND_CLOSED},
		{"an unknown option", key(sockLevel, "nosuch"), true, intValue, sockdv1.SocketError_KIND_INVALID},
		{"a Windows option", key(sockLevel, "exclusiveaddruse"), false, nil, sockdv1.SocketError_KIND_INVALID},
	} {
		var se *sockdv1.SocketError
		var err error
		if c.set {
			var resp *sockdv1.SetOptResponse
			resp, err = l.svc.SetOpt(l.ctx, &sockdv1.SetOptRequest{SocketId: sock.ID(), Key: c.key, Value: c.v})
			se = resp.GetError()
		} else {
			var resp *sockdv1.GetOptResponse
			resp, err = l.svc.GetOpt(l.ctx, &sockdv1.GetOptRequest{SocketId: sock.ID(), Key: c.key})
			se = resp.GetError()
		}
		if err != nil || se.GetKind() != c.want {
			t.Errorf("%s on a closed socket: %v %v, want %v", c.what, se, err, c.want)
		}
	}
}

// A bad value is {invalid, {socket_option, Option, Value}}: the option and
// the value, each printed as an Erlang user reads it.
func TestOptionValueErrorNamesOptionAndValue(t *testing.T) {
	l := newLive(t, Limits{})
	sock, _ := l.connected(t)
	otp, socketLevel, ip := sockdv1.OptionLevel_OPTION_LEVEL_OTP, sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, sockdv1.OptionLevel_OPTION_LEVEL_IP
	ipv6Level := sockdv1.OptionLevel_OPTION_LEVEL_IPV6
	for _, c := range []struct {
		level sockdv1.OptionLevel
		name  string
		v     *sockdv1.OptionValue
		want  string
	}{
		{otp, "use_registry", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: false}}, "{otp.use_registry, false}"},
		{otp, "debug", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: 1}}, "{otp.debug, 1}"},
		{otp, "controlling_process", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: 3}}, "{otp.controlling_process, 3}"},
		// A scalar prints as itself wherever it is refused: the decoder
		// (-1) or the codec's range (256).
		{ipv6Level, "unicast_hops", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: -1}}, "{ipv6.unicast_hops, -1}"},
		{ipv6Level, "unicast_hops", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: 256}}, "{ipv6.unicast_hops, 256}"},
		{ip, "multicast_if", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_StringValue{StringValue: "not-an-addr"}}, `{ip.multicast_if, "not-an-addr"}`},
		// Erlang's keys, not the Go fields'; a request's message as a map,
		// not in protobuf's text format.
		{socketLevel, "linger", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Linger{Linger: &sockdv1.Linger{Onoff: true, Linger: math.MaxUint32}}},
			"{socket.linger, #{onoff => true, linger => 4294967295}}"},
		{ip, "add_membership", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IpMreq{IpMreq: &sockdv1.IpMreq{Multiaddr: "bogus", Interface: "any"}}},
			`{ip.add_membership, #{ip_mreq => #{multiaddr => "bogus", interface => "any"}}}`},
	} {
		resp, err := l.svc.SetOpt(l.ctx, &sockdv1.SetOptRequest{SocketId: sock.ID(),
			Key: &sockdv1.OptionKey{Level: c.level, Name: c.name}, Value: c.v})
		if err != nil || resp.GetError().GetInvalid() != "socket_option" || resp.GetError().GetInvalidValue() != c.want {
			t.Errorf("setopt %s: %v %v, want invalid_value %q", c.name, resp, err, c.want)
		}
		// The message, which sockctl prints, says the value alike.
		value := strings.TrimSuffix(strings.SplitN(c.want, ", ", 2)[1], "}")
		if msg := resp.GetError().GetMessage(); !strings.Contains(msg, "value "+value+": ") {
			t.Errorf("setopt %s: message %q, want it to say value %s", c.name, msg, value)
		}
	}
}

// A key without a level or name is a malformed request: INVALID_ARGUMENT,
// as Erlang raises badarg; an unknown level is an invalid option in-band.
func TestOptionKeyShape(t *testing.T) {
	l := newLive(t, Limits{})
	sock, _ := l.connected(t)
	for _, k := range []*sockdv1.OptionKey{nil, {Name: "debug"}, {Level: sockdv1.OptionLevel_OPTION_LEVEL_OTP}} {
		if _, err := l.svc.GetOpt(l.ctx, &sockdv1.GetOptRequest{SocketId: sock.ID(), Key: k}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("getopt with key %v: %v, want INVALID_ARGUMENT", k, err)
		}
	}
	resp, err := l.svc.GetOpt(l.ctx, &sockdv1.GetOptRequest{SocketId: sock.ID(), Key: &sockdv1.OptionKey{Level: 99, Name: "x"}})
	if err != nil || resp.GetError().GetInvalid() != "socket_option" {
		t.Errorf("getopt at an unknown level: %v %v", resp, err)
	}
}

// supports and is_supported know the msg_flags and protocols lists
// (reference §6.7), by category and member.
func TestSupportsListsFlagsAndProtocols(t *testing.T) {
	l := newLive(t, Limits{})
	resp, err := l.svc.Supports(l.ctx, &sockdv1.SupportsRequest{Key: "msg_flags"})
	if err != nil || !resp.GetFeatures()["msg_flags.peek"] || len(resp.GetOptions()) != 0 {
		t.Fatalf("supports(msg_flags): %v %v", resp, err)
	}
	if _, ok := resp.GetFeatures()["ipv6"]; ok {
		t.Error("supports(msg_flags) lists ipv6")
	}
	for _, c := range []struct {
		keys []string
		want bool
	}{
		{[]string{"msg_flags"}, true}, {[]string{"protocols"}, true},
		{[]string{"msg_flags", "peek"}, true}, {[]string{"protocols", "tcp"}, true},
		{[]string{"msg_flags", "nonsense"}, false}, {[]string{"sendfile"}, false},
	} {
		got, err := l.svc.IsSupported(l.ctx, &sockdv1.IsSupportedRequest{Keys: c.keys})
		if err != nil || got.GetSupported() != c.want {
			t.Errorf("is_supported(%v) = %v %v, want %v", c.keys, got.GetSupported(), err, c.want)
		}
	}
}

// setopt_native's own value checks answer as the options package's do:
// {native(Level,Name), Value}.
func TestNativeValueErrorNamesOptionAndValue(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, "version: 1\nrules:\n- principals: [\"uid:1000\"]\n  options: [native]\n"))
	sock, _ := l.connected(t)
	for _, c := range []struct {
		v    *sockdv1.NativeValue
		want string
	}{
		{&sockdv1.NativeValue{Value: &sockdv1.NativeValue_IntValue{IntValue: 1 << 40}}, "{native(1,2), 1099511627776}"},
		{nil, "{native(1,2), none}"},
	} {
		resp, err := l.svc.SetOptNative(l.ctx, &sockdv1.SetOptNativeRequest{SocketId: sock.ID(), Level: 1, Name: 2, Value: c.v})
		if err != nil || resp.GetError().GetInvalid() != "socket_option" || resp.GetError().GetInvalidValue() != c.want {
			t.Errorf("setopt_native %v: %v %v, want invalid_value %q", c.v, resp, err, c.want)
		}
	}
}
