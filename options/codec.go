package options

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/netip"

	"golang.org/x/sys/unix"
)

// A codec turns a typed value into the bytes setsockopt(2) takes and the bytes
// getsockopt(2) answers back into a typed value. encode validates: a value of
// the wrong Go type or out of range is a *valueErr. decode never trusts its
// input: short or malformed bytes are an error, never a panic.
type codec struct {
	size   int // the buffer getsockopt needs
	encode func(v any) ([]byte, error)
	decode func(b []byte) (any, error)
}

// Limits of what the codecs accept.
const (
	maxNameLen   = unix.IFNAMSIZ - 1 // bindtodevice, congestion: IFNAMSIZ and TCP_CA_NAME_MAX with the NUL
	maxMsfSource = 1024              // sources in one ip_msfilter; the kernel's own limit is lower (igmp_max_msf)
)

var codecs = map[ValueType]codec{
	TypeBool:          {4, encodeBool, decodeBool},
	TypeInt:           {4, intCodec(math.MinInt32, math.MaxInt32), decodeInt},
	TypeNonNegInt:     {4, intCodec(0, math.MaxInt32), decodeInt},
	TypeUint8:         {4, intCodec(0, math.MaxUint8), decodeInt},
	TypeDomain:        {4, intCodec(0, math.MaxInt32), decodeInt},
	TypeType:          {4, intCodec(0, math.MaxInt32), decodeInt},
	TypeProtocol:      {4, intCodec(0, math.MaxInt32), decodeInt},
	TypeString:        {unix.IFNAMSIZ, encodeString, decodeString},
	TypeLinger:        {8, encodeLinger, decodeLinger},
	TypeTimeval:       {16, encodeTimeval, decodeTimeval},
	TypeIPMreq:        {8, encodeIPMreq, decodeIPMreq},
	TypeIPMreqSource:  {12, encodeIPMreqSource, decodeIPMreqSource},
	TypeIPMsfilter:    {16 + 4*maxMsfSource, encodeIPMsfilter, decodeIPMsfilter},
	TypeIPPMTUDisc:    {4, encodePMTUDisc, decodePMTUDisc},
	TypeIPv6PMTUDisc:  {4, encodePMTUDisc, decodePMTUDisc},
	TypeIPTOS:         {4, encodeTOS, decodeTOS},
	TypeIPMulticastIf: {4, encodeMulticastIf, decodeMulticastIf},
	TypeIPv6Mreq:      {20, encodeIPv6Mreq, decodeIPv6Mreq},
	TypeIPv6Hops:      {4, encodeHops, decodeHops},
	TypeIPv6AddrForm:  {4, encodeAddrForm, decodeInt},

	TypeSCTPAssocParams:    fixedCodec[SCTPAssocParams]("sctp_assocparams"),
	TypeSCTPEventSubscribe: {sctpEventBytes, encodeSCTPEventSubscribe, decodeSCTPEventSubscribe},
	TypeSCTPInitMsg:        fixedCodec[SCTPInitMsg]("sctp_initmsg"),
	TypeSCTPRtoInfo:        fixedCodec[SCTPRtoInfo]("sctp_rtoinfo"),
	TypeUcred:              fixedCodec[Ucred]("ucred"),
}

var ne = binary.NativeEndian

func int32Bytes(n int32) []byte { return ne.AppendUint32(nil, uint32(n)) }

func encodeBool(v any) ([]byte, error) {
	b, ok := v.(bool)
	if !ok {
		return nil, badValue(v, "want a boolean")
	}
	if b {
		return int32Bytes(1), nil
	}
	return int32Bytes(0), nil
}

// decodeBool takes a C int, or the single byte some IP options answer with.
func decodeBool(b []byte) (any, error) {
	n, err := decodeCInt(b)
	return n != 0, err
}

func intCodec(lo, hi int) func(any) ([]byte, error) {
	return func(v any) ([]byte, error) {
		n, err := intIn(v, lo, hi)
		if err != nil {
			return nil, err
		}
		return int32Bytes(int32(n)), nil
	}
}

func intIn(v any, lo, hi int) (int, error) {
	n, ok := v.(int)
	if !ok {
		return 0, badValue(v, "want an integer")
	}
	if n < lo || n > hi {
		return 0, badValue(v, "out of range %d..%d", lo, hi)
	}
	return n, nil
}

func decodeInt(b []byte) (any, error) {
	n, err := decodeCInt(b)
	return n, err
}

func decodeCInt(b []byte) (int, error) {
	switch len(b) {
	case 1:
		return int(b[0]), nil
	case 4:
		return int(int32(ne.Uint32(b))), nil
	}
	return 0, badValue(b, "want a C int (4 bytes), got %d bytes", len(b))
}

func encodeString(v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok {
		return nil, badValue(v, "want a string")
	}
	if len(s) > maxNameLen {
		return nil, badValue(v, "longer than %d bytes", maxNameLen)
	}
	if bytes.IndexByte([]byte(s), 0) >= 0 {
		return nil, badValue(v, "holds a NUL byte")
	}
	return []byte(s), nil
}

func decodeString(b []byte) (any, error) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b), nil
}

func encodeLinger(v any) ([]byte, error) {
	l, ok := v.(Linger)
	if !ok {
		return nil, badValue(v, "want abort or #{onoff, linger}")
	}
	if l.Seconds < 0 || l.Seconds > math.MaxInt32 {
		return nil, badValue(v, "linger out of range 0..%d", math.MaxInt32)
	}
	on := int32(0)
	if l.OnOff {
		on = 1
	}
	return ne.AppendUint32(int32Bytes(on), uint32(l.Seconds)), nil
}

func decodeLinger(b []byte) (any, error) {
	if len(b) != 8 {
		return nil, badValue(b, "want struct linger (8 bytes)")
	}
	return Linger{OnOff: ne.Uint32(b) != 0, Seconds: int(int32(ne.Uint32(b[4:])))}, nil
}

func encodeTimeval(v any) ([]byte, error) {
	tv, ok := v.(Timeval)
	if !ok {
		return nil, badValue(v, "want #{sec, usec}")
	}
	if tv.Sec < 0 || tv.Usec < 0 || tv.Usec > 999_999 {
		return nil, badValue(v, "sec must be >= 0 and usec 0..999999")
	}
	return ne.AppendUint64(ne.AppendUint64(nil, uint64(tv.Sec)), uint64(tv.Usec)), nil
}

func decodeTimeval(b []byte) (any, error) {
	if len(b) != 16 {
		return nil, badValue(b, "want struct timeval (16 bytes)")
	}
	return Timeval{Sec: int64(ne.Uint64(b)), Usec: int64(ne.Uint64(b[8:]))}, nil
}

// ip4 checks an IPv4 address; with orAny, an invalid (unset) address is any.
func ip4(v any, a netip.Addr, what string, orAny bool) ([4]byte, error) {
	if orAny && !a.IsValid() {
		return [4]byte{}, nil
	}
	a = a.Unmap()
	if !a.Is4() {
		return [4]byte{}, badValue(v, "%s: want an IPv4 address", what)
	}
	return a.As4(), nil
}

// multicast4 checks a group's type; the kernel answers einval for an IPv4
// address that is no group, as Erlang's callers see it.
func multicast4(v any, a netip.Addr) ([4]byte, error) {
	return ip4(v, a, "multiaddr", false)
}

func encodeIPMreq(v any) ([]byte, error) {
	m, ok := v.(IPMreq)
	if !ok {
		return nil, badValue(v, "want #{multiaddr, interface}")
	}
	group, err := multicast4(v, m.Multiaddr)
	if err != nil {
		return nil, err
	}
	iface, err := ip4(v, m.Interface, "interface", true)
	if err != nil {
		return nil, err
	}
	return append(group[:], iface[:]...), nil
}

func decodeIPMreq(b []byte) (any, error) {
	if len(b) != 8 {
		return nil, badValue(b, "want struct ip_mreq (8 bytes)")
	}
	return IPMreq{Multiaddr: addr4(b), Interface: addr4(b[4:])}, nil
}

func addr4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b[:4])) }

func encodeIPMreqSource(v any) ([]byte, error) {
	m, ok := v.(IPMreqSource)
	if !ok {
		return nil, badValue(v, "want #{multiaddr, interface, sourceaddr}")
	}
	group, err := multicast4(v, m.Multiaddr)
	if err != nil {
		return nil, err
	}
	iface, err := ip4(v, m.Interface, "interface", true)
	if err != nil {
		return nil, err
	}
	src, err := ip4(v, m.Source, "sourceaddr", false)
	if err != nil {
		return nil, err
	}
	// struct ip_mreq_source on Linux: multiaddr, interface, sourceaddr.
	out := append(group[:], iface[:]...)
	return append(out, src[:]...), nil
}

func decodeIPMreqSource(b []byte) (any, error) {
	if len(b) != 12 {
		return nil, badValue(b, "want struct ip_mreq_source (12 bytes)")
	}
	return IPMreqSource{Multiaddr: addr4(b), Interface: addr4(b[4:]), Source: addr4(b[8:])}, nil
}

func encodeIPMsfilter(v any) ([]byte, error) {
	f, ok := v.(*IPMsfilter)
	if !ok {
		return nil, badValue(v, "want null or #{multiaddr, interface, mode, slist}")
	}
	if f == nil {
		return nil, nil // null: a NULL option value, as Erlang passes
	}
	if len(f.Sources) > maxMsfSource {
		return nil, badValue(v, "more than %d sources", maxMsfSource)
	}
	group, err := multicast4(v, f.Multiaddr)
	if err != nil {
		return nil, err
	}
	iface, err := ip4(v, f.Interface, "interface", true)
	if err != nil {
		return nil, err
	}
	mode := uint32(unix.MCAST_INCLUDE)
	if f.Exclude {
		mode = unix.MCAST_EXCLUDE
	}
	out := append(group[:], iface[:]...)
	out = ne.AppendUint32(out, mode)
	out = ne.AppendUint32(out, uint32(len(f.Sources)))
	for _, s := range f.Sources {
		a, err := ip4(v, s, "slist", false)
		if err != nil {
			return nil, err
		}
		out = append(out, a[:]...)
	}
	if len(f.Sources) == 0 {
		out = append(out, 0, 0, 0, 0) // struct ip_msfilter declares imsf_slist[1]
	}
	return out, nil
}

func decodeIPMsfilter(b []byte) (any, error) {
	if len(b) == 0 {
		return (*IPMsfilter)(nil), nil
	}
	if len(b) < 16 {
		return nil, badValue(b, "want struct ip_msfilter (at least 16 bytes)")
	}
	f := &IPMsfilter{Multiaddr: addr4(b), Interface: addr4(b[4:])}
	switch ne.Uint32(b[8:]) {
	case unix.MCAST_INCLUDE:
	case unix.MCAST_EXCLUDE:
		f.Exclude = true
	default:
		return nil, badValue(b, "unknown filter mode %d", ne.Uint32(b[8:]))
	}
	n := ne.Uint32(b[12:])
	rest := b[16:]
	if n > maxMsfSource || uint64(len(rest)) < 4*uint64(n) {
		return nil, badValue(b, "source count %d does not fit %d bytes", n, len(rest))
	}
	for i := range int(n) {
		f.Sources = append(f.Sources, addr4(rest[4*i:]))
	}
	return f, nil
}

// The IP_PMTUDISC_* values Linux knows, want..omit.
const maxPMTUDisc = 5

func encodePMTUDisc(v any) ([]byte, error) {
	p, ok := v.(PMTUDisc)
	if !ok {
		return nil, badValue(v, "want want, dont, do, probe or an integer")
	}
	if p < 0 || p > maxPMTUDisc {
		return nil, badValue(v, "out of range 0..%d", maxPMTUDisc)
	}
	return int32Bytes(int32(p)), nil
}

func decodePMTUDisc(b []byte) (any, error) {
	n, err := decodeCInt(b)
	return PMTUDisc(n), err
}

func encodeTOS(v any) ([]byte, error) {
	t, ok := v.(TOS)
	if !ok {
		return nil, badValue(v, "want lowdelay, throughput, reliability, mincost or an integer")
	}
	if t < 0 || t > math.MaxUint8 {
		return nil, badValue(v, "out of range 0..255")
	}
	return int32Bytes(int32(t)), nil
}

func decodeTOS(b []byte) (any, error) {
	n, err := decodeCInt(b)
	return TOS(n), err
}

func encodeMulticastIf(v any) ([]byte, error) {
	a, ok := v.(netip.Addr)
	if !ok {
		return nil, badValue(v, "want any or an IPv4 address")
	}
	b, err := ip4(v, a, "interface", true)
	return b[:], err
}

func decodeMulticastIf(b []byte) (any, error) {
	if len(b) != 4 {
		return nil, badValue(b, "want struct in_addr (4 bytes)")
	}
	return addr4(b), nil
}

func encodeIPv6Mreq(v any) ([]byte, error) {
	m, ok := v.(IPv6Mreq)
	if !ok {
		return nil, badValue(v, "want #{multiaddr, interface}")
	}
	// An IPv6 address that is no group is the kernel's einval.
	if !m.Multiaddr.Is6() || m.Multiaddr.Zone() != "" {
		return nil, badValue(v, "multiaddr %s: want an IPv6 address without a zone", m.Multiaddr)
	}
	if m.Interface > math.MaxInt32 {
		return nil, badValue(v, "interface index out of range")
	}
	group := m.Multiaddr.As16()
	return ne.AppendUint32(group[:], m.Interface), nil
}

func decodeIPv6Mreq(b []byte) (any, error) {
	if len(b) != 20 {
		return nil, badValue(b, "want struct ipv6_mreq (20 bytes)")
	}
	return IPv6Mreq{Multiaddr: netip.AddrFrom16([16]byte(b[:16])), Interface: ne.Uint32(b[16:])}, nil
}

func encodeHops(v any) ([]byte, error) {
	h, ok := v.(Hops)
	if !ok {
		return nil, badValue(v, "want default or 0..255")
	}
	if h < HopsDefault || h > math.MaxUint8 {
		return nil, badValue(v, "out of range 0..255")
	}
	return int32Bytes(int32(h)), nil
}

func decodeHops(b []byte) (any, error) {
	n, err := decodeCInt(b)
	return Hops(n), err
}

func encodeAddrForm(v any) ([]byte, error) {
	if n, ok := v.(int); !ok || n != unix.AF_INET {
		return nil, badValue(v, "want inet")
	}
	return int32Bytes(unix.AF_INET), nil
}

// Linux's struct sctp_event_subscribe: one byte per event, authentication
// between adaptation_layer and sender_dry.
const sctpEventBytes = 10

func encodeSCTPEventSubscribe(v any) ([]byte, error) {
	e, ok := v.(SCTPEventSubscribe)
	if !ok {
		return nil, badValue(v, "want sctp_event_subscribe()")
	}
	flags := []bool{e.DataIO, e.Association, e.Address, e.SendFailure, e.PeerError,
		e.Shutdown, e.PartialDelivery, e.AdaptationLayer, false /* authentication */, e.SenderDry}
	out := make([]byte, sctpEventBytes)
	for i, f := range flags {
		if f {
			out[i] = 1
		}
	}
	return out, nil
}

func decodeSCTPEventSubscribe(b []byte) (any, error) {
	if len(b) < sctpEventBytes {
		return nil, badValue(b, "want struct sctp_event_subscribe (%d bytes)", sctpEventBytes)
	}
	return SCTPEventSubscribe{
		DataIO: b[0] != 0, Association: b[1] != 0, Address: b[2] != 0, SendFailure: b[3] != 0,
		PeerError: b[4] != 0, Shutdown: b[5] != 0, PartialDelivery: b[6] != 0,
		AdaptationLayer: b[7] != 0, SenderDry: b[9] != 0,
	}, nil
}

// fixedCodec is the codec of a C struct whose Go twin T has the same fields
// in the same order and no padding (the SCTP parameter structs): its bytes
// are T's fields in native byte order.
func fixedCodec[T any](name string) codec {
	size := binary.Size(*new(T))
	return codec{
		size: size,
		encode: func(v any) ([]byte, error) {
			x, ok := v.(T)
			if !ok {
				return nil, badValue(v, "want %s()", name)
			}
			return binary.Append(nil, ne, x)
		},
		decode: func(b []byte) (any, error) {
			var x T
			if len(b) != size {
				return nil, badValue(b, "want struct %s (%d bytes)", name, size)
			}
			if _, err := binary.Decode(b, ne, &x); err != nil {
				return nil, badValue(b, "want struct %s: %v", name, err)
			}
			return x, nil
		},
	}
}
