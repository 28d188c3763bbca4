package server

import (
	"testing"

	"golang.org/x/sys/unix"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// A SendMsg names a control message's level and type by number or, as
// Erlang's cmsg_send() does with atoms, by name.
func TestDecodeControlByName(t *testing.T) {
	ttl := &sockdv1.ControlMessage_IntValue{IntValue: 9}
	for _, tt := range []struct {
		in         *sockdv1.ControlMessage
		level, typ int
	}{
		{&sockdv1.ControlMessage{LevelName: "ip", TypeName: "ttl", Value: ttl}, unix.IPPROTO_IP, unix.IP_TTL},
		{&sockdv1.ControlMessage{LevelName: "ip", TypeName: "tos", Value: ttl}, unix.IPPROTO_IP, unix.IP_TOS},
		{&sockdv1.ControlMessage{LevelName: "ipv6", TypeName: "hoplimit", Value: ttl}, unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT},
		{&sockdv1.ControlMessage{LevelName: "ipv6", TypeName: "tclass", Value: ttl}, unix.IPPROTO_IPV6, unix.IPV6_TCLASS},
		{&sockdv1.ControlMessage{Level: unix.IPPROTO_IP, Type: unix.IP_TTL, Value: ttl}, unix.IPPROTO_IP, unix.IP_TTL},
		{&sockdv1.ControlMessage{Level: unix.IPPROTO_IPV6, LevelName: "ipv6", Type: unix.IPV6_TCLASS, TypeName: "tclass", Value: ttl}, unix.IPPROTO_IPV6, unix.IPV6_TCLASS},
		{&sockdv1.ControlMessage{LevelName: "socket", TypeName: "rights", Data: []byte{0, 0, 0, 0}}, unix.SOL_SOCKET, unix.SCM_RIGHTS},
	} {
		msgs, bad := decodeControl([]*sockdv1.ControlMessage{tt.in})
		if bad != nil || len(msgs) != 1 || msgs[0].Level != tt.level || msgs[0].Type != tt.typ {
			t.Errorf("decodeControl(%v) = %+v %v, want level %d type %d", tt.in, msgs, bad, tt.level, tt.typ)
		}
	}
	if msgs, bad := decodeControl([]*sockdv1.ControlMessage{{LevelName: "ip", TypeName: "tos", ValueName: "mincost"}}); bad != nil || msgs[0].Value != 0x02 {
		t.Errorf("ip tos named mincost decodes as %+v %v", msgs, bad)
	}
	for _, in := range []*sockdv1.ControlMessage{
		{LevelName: "ip", TypeName: "tos", ValueName: "fast"},
		{LevelName: "ip", TypeName: "tos", ValueName: "lowdelay", Value: &sockdv1.ControlMessage_Timestamp{Timestamp: &sockdv1.Timeval{Sec: 1}}},
		{LevelName: "ip", TypeName: "ttl", ValueName: "lowdelay"},
		{LevelName: "ip", TypeName: "tos", ValueName: "lowdelay", Value: ttl}, // 9 is not lowdelay
		{LevelName: "ip", TypeName: "bogus", Value: ttl},
		{LevelName: "nowhere", TypeName: "ttl", Value: ttl},
		{Level: unix.IPPROTO_IPV6, LevelName: "ip", TypeName: "ttl", Value: ttl},
		{LevelName: "ip", Type: unix.IP_TOS, TypeName: "ttl", Value: ttl},
		{LevelName: "ipv6", TypeName: "ttl", Value: ttl}, // ttl is ip's
	} {
		if _, bad := decodeControl([]*sockdv1.ControlMessage{in}); bad.GetKind() != sockdv1.SocketError_KIND_INVALID {
			t.Errorf("decodeControl(%v) = %v, want invalid", in, bad)
		}
	}
}
