package server

import (
	"math"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// maxTimeoutMillis is the longest finite timeout, as Erlang's receive-after.
const maxTimeoutMillis = math.MaxUint32

// decodeTimeout converts Erlang's Timeout argument; absent means infinity.
// A bad timeout is an exception in Erlang ({invalid, {timeout, T}}), so it is
// an INVALID_ARGUMENT status here.
func decodeTimeout(t *sockdv1.Timeout) (engine.Timeout, error) {
	switch k := t.GetKind().(type) {
	case nil:
		return engine.Timeout{Kind: engine.WaitInfinity}, nil
	case *sockdv1.Timeout_Infinity:
		return engine.Timeout{Kind: engine.WaitInfinity}, nil
	case *sockdv1.Timeout_Millis:
		if k.Millis < 0 || k.Millis > maxTimeoutMillis {
			return engine.Timeout{}, invalidArgument("timeout.millis", "must be 0..%d, got %d", int64(maxTimeoutMillis), k.Millis)
		}
		return engine.Timeout{Kind: engine.WaitFor, D: time.Duration(k.Millis) * time.Millisecond}, nil
	case *sockdv1.Timeout_Nowait:
		switch k.Nowait.GetMode() {
		case sockdv1.AsyncMode_ASYNC_MODE_UNSPECIFIED, sockdv1.AsyncMode_ASYNC_MODE_SELECT:
			return engine.Timeout{Kind: engine.WaitNowait, Handle: k.Nowait.GetHandle()}, nil
		case sockdv1.AsyncMode_ASYNC_MODE_COMPLETION:
			return engine.Timeout{Kind: engine.WaitNowait, Handle: k.Nowait.GetHandle(), Completion: true}, nil
		default:
			return engine.Timeout{}, invalidArgument("timeout.nowait.mode", "unknown mode %d", k.Nowait.GetMode())
		}
	}
	return engine.Timeout{}, invalidArgument("timeout", "unknown kind")
}

var operations = map[engine.Op]sockdv1.Operation{
	engine.OpAccept:   sockdv1.Operation_OPERATION_ACCEPT,
	engine.OpConnect:  sockdv1.Operation_OPERATION_CONNECT,
	engine.OpRecv:     sockdv1.Operation_OPERATION_RECV,
	engine.OpRecvFrom: sockdv1.Operation_OPERATION_RECVFROM,
	engine.OpRecvMsg:  sockdv1.Operation_OPERATION_RECVMSG,
	engine.OpSend:     sockdv1.Operation_OPERATION_SEND,
	engine.OpSendTo:   sockdv1.Operation_OPERATION_SENDTO,
	engine.OpSendMsg:  sockdv1.Operation_OPERATION_SENDMSG,
}

func encodeOp(op engine.Op) sockdv1.Operation { return operations[op] }

func decodeOp(op sockdv1.Operation) (engine.Op, bool) {
	for e, p := range operations {
		if p == op {
			return e, true
		}
	}
	return 0, false
}

func encodeAsync(si *engine.SelectInfo) *sockdv1.AsyncInfo {
	if si == nil {
		return nil
	}
	mode := sockdv1.AsyncMode_ASYNC_MODE_SELECT
	if si.Completion {
		mode = sockdv1.AsyncMode_ASYNC_MODE_COMPLETION
	}
	return &sockdv1.AsyncInfo{Operation: encodeOp(si.Op), Handle: si.Handle, Mode: mode}
}

// msgFlags maps MsgFlag to MSG_* bits; the table drives both directions.
var msgFlags = []struct {
	flag sockdv1.MsgFlag
	bit  int
}{
	{sockdv1.MsgFlag_MSG_FLAG_CMSG_CLOEXEC, unix.MSG_CMSG_CLOEXEC},
	{sockdv1.MsgFlag_MSG_FLAG_CONFIRM, unix.MSG_CONFIRM},
	{sockdv1.MsgFlag_MSG_FLAG_CTRUNC, unix.MSG_CTRUNC},
	{sockdv1.MsgFlag_MSG_FLAG_DONTROUTE, unix.MSG_DONTROUTE},
	{sockdv1.MsgFlag_MSG_FLAG_EOR, unix.MSG_EOR},
	{sockdv1.MsgFlag_MSG_FLAG_ERRQUEUE, unix.MSG_ERRQUEUE},
	{sockdv1.MsgFlag_MSG_FLAG_MORE, unix.MSG_MORE},
	{sockdv1.MsgFlag_MSG_FLAG_OOB, unix.MSG_OOB},
	{sockdv1.MsgFlag_MSG_FLAG_PEEK, unix.MSG_PEEK},
	{sockdv1.MsgFlag_MSG_FLAG_TRUNC, unix.MSG_TRUNC},
	{sockdv1.MsgFlag_MSG_FLAG_WAITALL, unix.MSG_WAITALL},
}

// decodeFlags ORs request flags; an unknown flag is {invalid, {msg_flag, F}}.
func decodeFlags(flags []sockdv1.MsgFlag) (int, *sockdv1.SocketError) {
	bits := 0
next:
	for _, f := range flags {
		for _, m := range msgFlags {
			if m.flag == f {
				bits |= m.bit
				continue next
			}
		}
		return 0, invalid("msg_flag", f.String())
	}
	return bits, nil
}

// encodeFlags splits kernel flag bits into names and leftover bits.
func encodeFlags(bits int) ([]sockdv1.MsgFlag, uint32) {
	var named []sockdv1.MsgFlag
	for _, m := range msgFlags {
		if bits&m.bit != 0 {
			named = append(named, m.flag)
			bits &^= m.bit
		}
	}
	return named, uint32(bits)
}

var (
	domains = map[sockdv1.Domain]int{
		sockdv1.Domain_DOMAIN_INET:  unix.AF_INET,
		sockdv1.Domain_DOMAIN_INET6: unix.AF_INET6,
		sockdv1.Domain_DOMAIN_LOCAL: unix.AF_UNIX,
	}
	types = map[sockdv1.Type]int{
		sockdv1.Type_TYPE_STREAM:    unix.SOCK_STREAM,
		sockdv1.Type_TYPE_DGRAM:     unix.SOCK_DGRAM,
		sockdv1.Type_TYPE_SEQPACKET: unix.SOCK_SEQPACKET,
		sockdv1.Type_TYPE_RAW:       unix.SOCK_RAW,
		sockdv1.Type_TYPE_RDM:       unix.SOCK_RDM,
	}
	protocols = map[sockdv1.Protocol]int{
		sockdv1.Protocol_PROTOCOL_IP:      unix.IPPROTO_IP,
		sockdv1.Protocol_PROTOCOL_TCP:     unix.IPPROTO_TCP,
		sockdv1.Protocol_PROTOCOL_UDP:     unix.IPPROTO_UDP,
		sockdv1.Protocol_PROTOCOL_SCTP:    unix.IPPROTO_SCTP,
		sockdv1.Protocol_PROTOCOL_ICMP:    unix.IPPROTO_ICMP,
		sockdv1.Protocol_PROTOCOL_ICMPV6:  unix.IPPROTO_ICMPV6,
		sockdv1.Protocol_PROTOCOL_IGMP:    unix.IPPROTO_IGMP,
		sockdv1.Protocol_PROTOCOL_IPV6:    unix.IPPROTO_IPV6,
		sockdv1.Protocol_PROTOCOL_RAW:     unix.IPPROTO_RAW,
		sockdv1.Protocol_PROTOCOL_MPTCP:   unix.IPPROTO_MPTCP,
		sockdv1.Protocol_PROTOCOL_UDPLITE: unix.IPPROTO_UDPLITE,
	}
)

// decodeOpen resolves domain, type and protocol: an enumerated name, or the raw
// number when the enum is unspecified. Unknown names are {invalid, {What, V}}.
func decodeOpen(r *sockdv1.OpenRequest) (domain, typ, proto int, bad *sockdv1.SocketError) {
	var ok bool
	if r.GetDomain() == sockdv1.Domain_DOMAIN_UNSPECIFIED {
		domain = int(r.GetDomainNumber())
	} else if domain, ok = domains[r.GetDomain()]; !ok {
		return 0, 0, 0, invalid("domain", int32(r.GetDomain()))
	}
	if r.GetType() == sockdv1.Type_TYPE_UNSPECIFIED {
		typ = int(r.GetTypeNumber())
	} else if typ, ok = types[r.GetType()]; !ok {
		return 0, 0, 0, invalid("type", int32(r.GetType()))
	}
	if r.GetProtocol() == sockdv1.Protocol_PROTOCOL_UNSPECIFIED {
		proto = int(r.GetProtocolNumber())
	} else if proto, ok = protocols[r.GetProtocol()]; !ok {
		return 0, 0, 0, invalid("protocol", int32(r.GetProtocol()))
	}
	// A relative path would name a file from the daemon's working
	// directory, which means nothing to its clients.
	if ns := r.GetNetns(); ns != "" && !strings.HasPrefix(ns, "/") {
		bad = invalid("netns", ns)
		bad.Message += " (want an absolute path, such as /run/netns/NAME)"
		return 0, 0, 0, bad
	}
	return domain, typ, proto, nil
}

func reverse[K comparable, V comparable](m map[K]V, v V) (K, bool) {
	for k, x := range m {
		if x == v {
			return k, true
		}
	}
	var zero K
	return zero, false
}

func encodeInfo(in engine.Info) *sockdv1.SocketInfo {
	out := &sockdv1.SocketInfo{
		SocketId:       in.ID,
		DomainNumber:   int32(in.Domain),
		TypeNumber:     int32(in.Type),
		ProtocolNumber: int32(in.Protocol),
		Owner:          in.Owner,
		Ctype:          "normal",
		Rstates:        in.RStates,
		Wstates:        in.WStates,
		NumReaders:     uint32(in.NumReaders),
		NumWriters:     uint32(in.NumWriters),
		NumAcceptors:   uint32(in.NumAcceptors),
		UseRegistry:    in.UseRegistry,
		Fd:             int32(in.Fd),
		RelayByte:      in.RelayByte,

		RelayDroppedByte: in.RelayDroppedByte,
		Counters: &sockdv1.Counters{
			ReadByte: in.Counters.ReadByte, ReadFails: in.Counters.ReadFails, ReadPkg: in.Counters.ReadPkg,
			ReadPkgMax: in.Counters.ReadPkgMax, ReadTries: in.Counters.ReadTries, ReadWaits: in.Counters.ReadWaits,
			WriteByte: in.Counters.WriteByte, WriteFails: in.Counters.WriteFails, WritePkg: in.Counters.WritePkg,
			WritePkgMax: in.Counters.WritePkgMax, WriteTries: in.Counters.WriteTries, WriteWaits: in.Counters.WriteWaits,
			AccSuccess: in.Counters.AccSuccess, AccFails: in.Counters.AccFails, AccTries: in.Counters.AccTries,
			AccWaits: in.Counters.AccWaits,
		},
	}
	out.Domain, _ = reverse(domains, in.Domain)
	out.Type, _ = reverse(types, in.Type)
	if in.Protocol != 0 {
		out.Protocol, _ = reverse(protocols, in.Protocol)
	}
	return out
}

// eventMessage converts an engine event; nil for kinds the API does not carry.
func eventMessage(ev engine.Event) *sockdv1.EventsResponse {
	msg := &sockdv1.EventsResponse{SocketId: ev.Socket.ID()}
	op := encodeOp(ev.Op)
	switch ev.Kind {
	case engine.EventSelect:
		msg.Event = &sockdv1.EventsResponse_Select{Select: &sockdv1.SelectEvent{Handle: ev.Handle, Operation: op}}
	case engine.EventAbort:
		abort := &sockdv1.AbortEvent{Handle: ev.Handle, Operation: op, Reason: eventError(ev.Reason)}
		if ev.Completion != nil {
			abort.Partial = completionEvent(ev)
		}
		msg.Event = &sockdv1.EventsResponse_Abort{Abort: abort}
	case engine.EventCompletion:
		completion := completionEvent(ev)
		if completion == nil {
			return nil
		}
		msg.Event = &sockdv1.EventsResponse_Completion{Completion: completion}
	case engine.EventCounterWrap:
		msg.Event = &sockdv1.EventsResponse_CounterWrap{CounterWrap: &sockdv1.CounterWrapEvent{Counter: ev.Counter}}
	default:
		return nil
	}
	return msg
}
