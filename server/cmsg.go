package server

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

var eeOrigins = []string{"none", "local", "icmp", "icmp6", "txstatus", "zerocopy", "txtime"}

func encodeControl(msgs []engine.ControlMessage) []*sockdv1.ControlMessage {
	out := make([]*sockdv1.ControlMessage, 0, len(msgs))
	for _, m := range msgs {
		kind := options.ControlKind{Level: m.Level, Type: m.Type}
		c := &sockdv1.ControlMessage{
			Level: int32(m.Level), LevelName: kind.LevelName(),
			Type: int32(m.Type), TypeName: kind.TypeName(),
			Data: m.Data,
		}
		switch v := m.Value.(type) {
		case engine.Timeval:
			c.Value = &sockdv1.ControlMessage_Timestamp{Timestamp: &sockdv1.Timeval{Sec: v.Sec, Usec: v.Usec}}
		case int:
			c.Value = &sockdv1.ControlMessage_IntValue{IntValue: int32(v)}
			c.ValueName = kind.ValueName(v)
		case engine.PktInfo:
			c.Value = &sockdv1.ControlMessage_Pktinfo{Pktinfo: &sockdv1.PktInfo{
				Ifindex: v.Ifindex, SpecDst: addrString(v.SpecDst), Addr: addrString(v.Addr)}}
		case engine.PktInfo6:
			c.Value = &sockdv1.ControlMessage_Pktinfo6{Pktinfo6: &sockdv1.PktInfo6{Addr: addrString(v.Addr), Ifindex: v.Ifindex}}
		case engine.SockAddr:
			c.Value = &sockdv1.ControlMessage_Origdstaddr{Origdstaddr: encodeAddr(&v)}
		case *engine.SockAddr:
			c.Value = &sockdv1.ControlMessage_Origdstaddr{Origdstaddr: encodeAddr(v)}
		case engine.ExtendedErr:
			c.Value = &sockdv1.ControlMessage_ExtendedErr{ExtendedErr: encodeExtendedErr(v)}
		case *engine.ExtendedErr:
			c.Value = &sockdv1.ControlMessage_ExtendedErr{ExtendedErr: encodeExtendedErr(*v)}
		}
		out = append(out, c)
	}
	return out
}

func encodeExtendedErr(e engine.ExtendedErr) *sockdv1.ExtendedErr {
	origin := "unknown"
	if int(e.Origin) < len(eeOrigins) {
		origin = eeOrigins[e.Origin]
	}
	out := &sockdv1.ExtendedErr{
		Error: engine.PosixName(unix.Errno(e.Errno)), Errno: e.Errno, Origin: origin,
		Type: uint32(e.Type), Code: uint32(e.Code), Info: e.Info, Data: e.Data,
		Offender: encodeAddr(e.Offender),
	}
	if names, ok := icmpNames[origin]; ok {
		out.TypeName = names.types[e.Type]
		if e.Type == names.destUnreach {
			out.CodeName = names.destUnreachCodes[e.Code]
		}
	}
	return out
}

// icmpNames are Erlang's names of the ICMP types and dest_unreach codes an
// extended error of origin icmp or icmp6 reports (reference §7.2).
var icmpNames = map[string]struct {
	types            map[uint8]string
	destUnreach      uint8
	destUnreachCodes map[uint8]string
}{
	"icmp": {
		types:       map[uint8]string{3: "dest_unreach", 11: "time_exceeded"},
		destUnreach: 3,
		destUnreachCodes: map[uint8]string{0: "net_unreach", 1: "host_unreach", 3: "port_unreach",
			4: "frag_needed", 6: "net_unknown", 7: "host_unknown"},
	},
	"icmp6": {
		types:       map[uint8]string{1: "dest_unreach", 2: "pkt_toobig", 3: "time_exceeded"},
		destUnreach: 1,
		destUnreachCodes: map[uint8]string{0: "noroute", 1: "adm_prohibited", 2: "not_neighbour",
			3: "addr_unreach", 4: "port_unreach", 5: "policy_fail", 6: "reject_route"},
	},
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// controlKind is a message's level and type, by number or by name (a name
// wins over the number 0; a name and another number disagree: not ok).
func controlKind(c *sockdv1.ControlMessage) (level, typ int, ok bool) {
	level, typ = int(c.GetLevel()), int(c.GetType())
	if name := c.GetLevelName(); name != "" {
		n, known := options.ParseControlLevel(name)
		if !known || level != 0 && level != n {
			return 0, 0, false
		}
		level = n
	}
	if name := c.GetTypeName(); name != "" {
		n, known := options.ParseControlType(level, name)
		if !known || typ != 0 && typ != n {
			return 0, 0, false
		}
		typ = n
	}
	return level, typ, true
}

// decodeControl converts control messages of a SendMsg request. A message
// names its level and type by number or name, and gives either raw data or
// one of the values the daemon can encode (timestamp, tos/ttl/hoplimit/
// tclass as int_value); anything else is {invalid, {msg, ctrl}}.
func decodeControl(in []*sockdv1.ControlMessage) ([]engine.ControlMessage, *sockdv1.SocketError) {
	out := make([]engine.ControlMessage, 0, len(in))
	for _, c := range in {
		level, typ, ok := controlKind(c)
		if !ok {
			return nil, invalid("msg", fmt.Sprintf("ctrl: unknown level %q or type %q, or a number they contradict", c.GetLevelName(), c.GetTypeName()))
		}
		m := engine.ControlMessage{Level: level, Type: typ}
		if name := c.GetValueName(); name != "" {
			kind := options.ControlKind{Level: level, Type: typ}
			value, known := kind.ParseValue(name)
			switch c.GetValue().(type) {
			case nil, *sockdv1.ControlMessage_IntValue:
			default:
				return nil, invalid("msg", "ctrl: value_name names an integer value, and another value is given")
			}
			if !known {
				return nil, invalid("msg", fmt.Sprintf("ctrl: value %q names no value of %s/%s", name, kind.LevelName(), kind.TypeName()))
			}
			if v, ok := c.GetValue().(*sockdv1.ControlMessage_IntValue); ok && int(v.IntValue) != value {
				return nil, invalid("msg", fmt.Sprintf("ctrl: value %q and int_value %d disagree", name, v.IntValue))
			}
			m.Value = value
		}
		switch v := c.GetValue().(type) {
		case nil:
			if m.Value == nil {
				m.Data = c.GetData()
			}
		case *sockdv1.ControlMessage_Timestamp:
			m.Value = engine.Timeval{Sec: v.Timestamp.GetSec(), Usec: v.Timestamp.GetUsec()}
		case *sockdv1.ControlMessage_IntValue:
			m.Value = int(v.IntValue)
		default:
			return nil, invalid("msg", "ctrl: value not encodable")
		}
		if m.Value != nil && len(c.GetData()) > 0 {
			return nil, invalid("msg", "ctrl: both data and value")
		}
		out = append(out, m)
	}
	return out, nil
}
