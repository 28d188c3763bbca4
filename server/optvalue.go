package server

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// decodeOptionKey checks the key's shape; whether the table knows it is
// Resolve's question. A key without a level or a name is a malformed
// request (Erlang raises badarg for an option that is not a {Level, Opt}
// tuple); a level this daemon does not know is {invalid, {socket_option,
// Option}}, as an unknown option is.
func decodeOptionKey(k *sockdv1.OptionKey) (options.Key, *sockdv1.SocketError, error) {
	key := options.Key{Level: options.Level(k.GetLevel()), Name: k.GetName()}
	switch {
	case k == nil:
		return key, nil, invalidArgument("key", "required")
	case k.GetLevel() == sockdv1.OptionLevel_OPTION_LEVEL_UNSPECIFIED:
		return key, nil, invalidArgument("key.level", "required")
	case key.Name == "":
		return key, nil, invalidArgument("key.name", "required")
	case !key.Level.Valid():
		return key, invalid("socket_option", fmt.Sprintf("%s.%s", strings.ToLower(k.GetLevel().String()), k.GetName())), nil
	}
	return key, nil, nil
}

func badOptionValue(k options.Key, v any, reason string) *sockdv1.SocketError {
	return socketError(&options.ValueError{Key: k, Value: v, Reason: reason})
}

// decodeOptionValue turns the request's value into the Go form the option's
// type takes (see options.ValueType); range checks are the codec's.
func decodeOptionValue(o *options.Option, pv *sockdv1.OptionValue) (any, *sockdv1.SocketError) {
	v, reason := optionValue(o.Type, pv)
	if reason != "" {
		return nil, badOptionValue(o.Key, printValue(pv), reason)
	}
	return v, nil
}

func optionValue(t options.ValueType, pv *sockdv1.OptionValue) (any, string) {
	switch v := pv.GetValue().(type) {
	case *sockdv1.OptionValue_BoolValue:
		if t == options.TypeBool {
			return v.BoolValue, ""
		}
	case *sockdv1.OptionValue_IntValue:
		return intOptionValue(t, v.IntValue)
	case *sockdv1.OptionValue_StringValue:
		if t == options.TypeString {
			return v.StringValue, ""
		}
	case *sockdv1.OptionValue_Name:
		return namedOptionValue(t, v.Name)
	case *sockdv1.OptionValue_Linger:
		if t == options.TypeLinger {
			return options.Linger{OnOff: v.Linger.GetOnoff(), Seconds: int(v.Linger.GetLinger())}, ""
		}
	case *sockdv1.OptionValue_LingerAbort:
		if t == options.TypeLinger && v.LingerAbort {
			return options.Linger{OnOff: true}, ""
		}
	case *sockdv1.OptionValue_Timeval:
		if t == options.TypeTimeval {
			return options.Timeval{Sec: v.Timeval.GetSec(), Usec: v.Timeval.GetUsec()}, ""
		}
	case *sockdv1.OptionValue_Address:
		if t == options.TypeIPMulticastIf {
			return parseOptionAddr(v.Address, true)
		}
	case *sockdv1.OptionValue_IpMreq:
		if t == options.TypeIPMreq {
			return ipMreq(v.IpMreq)
		}
	case *sockdv1.OptionValue_IpMreqSource:
		if t == options.TypeIPMreqSource {
			return ipMreqSource(v.IpMreqSource)
		}
	case *sockdv1.OptionValue_IpMsfilter:
		if t == options.TypeIPMsfilter {
			return ipMsfilter(v.IpMsfilter)
		}
	case *sockdv1.OptionValue_MsfilterNull:
		if t == options.TypeIPMsfilter && v.MsfilterNull {
			return (*options.IPMsfilter)(nil), ""
		}
	case *sockdv1.OptionValue_Ipv6Mreq:
		if t == options.TypeIPv6Mreq {
			a, err := netip.ParseAddr(v.Ipv6Mreq.GetMultiaddr())
			if err != nil {
				return nil, "multiaddr: " + err.Error()
			}
			return options.IPv6Mreq{Multiaddr: a, Interface: v.Ipv6Mreq.GetInterface()}, ""
		}
	case *sockdv1.OptionValue_SctpAssocparams:
		if t == options.TypeSCTPAssocParams {
			return sctpAssocParams(v.SctpAssocparams)
		}
	case *sockdv1.OptionValue_SctpEventSubscribe:
		if t == options.TypeSCTPEventSubscribe {
			e := v.SctpEventSubscribe
			return options.SCTPEventSubscribe{DataIO: e.GetDataIo(), Association: e.GetAssociation(), Address: e.GetAddress(),
				SendFailure: e.GetSendFailure(), PeerError: e.GetPeerError(), Shutdown: e.GetShutdown(),
				PartialDelivery: e.GetPartialDelivery(), AdaptationLayer: e.GetAdaptationLayer(), SenderDry: e.GetSenderDry()}, ""
		}
	case *sockdv1.OptionValue_SctpInitmsg:
		if t == options.TypeSCTPInitMsg {
			m := v.SctpInitmsg
			fields := []uint32{m.GetNumOstreams(), m.GetMaxInstreams(), m.GetMaxAttempts(), m.GetMaxInitTimeo()}
			for _, f := range fields {
				if f > math.MaxUint16 {
					return nil, "fields are 16-bit"
				}
			}
			return options.SCTPInitMsg{NumOstreams: uint16(fields[0]), MaxInstreams: uint16(fields[1]),
				MaxAttempts: uint16(fields[2]), MaxInitTimeo: uint16(fields[3])}, ""
		}
	case *sockdv1.OptionValue_SctpRtoinfo:
		if t == options.TypeSCTPRtoInfo {
			r := v.SctpRtoinfo
			return options.SCTPRtoInfo{AssocID: r.GetAssocId(), Initial: r.GetInitial(), Max: r.GetMax(), Min: r.GetMin()}, ""
		}
	case *sockdv1.OptionValue_Domain:
		if t == options.TypeIPv6AddrForm && v.Domain == sockdv1.Domain_DOMAIN_INET {
			return unix.AF_INET, ""
		}
	case *sockdv1.OptionValue_Rcvbuf:
		if t == options.TypeOTPRcvBuf {
			r := v.Rcvbuf
			return options.RcvBuf{N: int(r.GetCount()), Size: int(r.GetSize()), Default: r.GetUseDefault()}, ""
		}
	case nil:
		return nil, "no value"
	}
	return nil, "want " + t.String()
}

func intOptionValue(t options.ValueType, n int64) (any, string) {
	if n < math.MinInt32 || n > math.MaxInt32 {
		return nil, "out of the range of a C int"
	}
	i := int(n)
	switch t {
	case options.TypeInt, options.TypeNonNegInt, options.TypeUint8:
		return i, ""
	case options.TypeIPPMTUDisc, options.TypeIPv6PMTUDisc:
		return options.PMTUDisc(i), ""
	case options.TypeIPTOS:
		return options.TOS(i), ""
	case options.TypeIPv6Hops:
		if i < 0 {
			return nil, "want default or 0..255"
		}
		return options.Hops(i), ""
	case options.TypeOTPRcvBuf:
		return options.RcvBuf{Size: i}, ""
	case options.TypeOTPCtrlBuf:
		return options.CtrlBuf{Size: i}, ""
	}
	return nil, "want " + t.String()
}

func namedOptionValue(t options.ValueType, name string) (any, string) {
	switch t {
	case options.TypeIPPMTUDisc, options.TypeIPv6PMTUDisc:
		if p, ok := options.ParsePMTUDisc(name); ok {
			return p, ""
		}
	case options.TypeIPTOS:
		if tos, ok := options.ParseTOS(name); ok {
			return tos, ""
		}
	case options.TypeIPv6Hops:
		if name == "default" {
			return options.HopsDefault, ""
		}
	case options.TypeIPMulticastIf:
		if name == "any" {
			return netip.IPv4Unspecified(), ""
		}
	case options.TypeIPv6AddrForm:
		if name == "inet" {
			return unix.AF_INET, ""
		}
	case options.TypeOTPRcvBuf:
		if name == "default" {
			return options.RcvBuf{Default: true}, ""
		}
	case options.TypeOTPCtrlBuf:
		if name == "default" {
			return options.CtrlBuf{Default: true}, ""
		}
	case options.TypeLinger:
		if name == "abort" {
			return options.Linger{OnOff: true}, ""
		}
	case options.TypeIPMsfilter:
		if name == "null" {
			return (*options.IPMsfilter)(nil), ""
		}
	}
	return nil, fmt.Sprintf("%q is not a name of %s", name, t)
}

// parseOptionAddr parses an IPv4 address of an option value; with orAny,
// "" and "any" are INADDR_ANY.
func parseOptionAddr(s string, orAny bool) (netip.Addr, string) {
	if orAny && (s == "" || s == "any") {
		return netip.IPv4Unspecified(), ""
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, err.Error()
	}
	return a, ""
}

// groupAndInterface parses the multicast group and local interface every
// membership value has.
func groupAndInterface(multiaddr, iface string) (group, local netip.Addr, bad string) {
	if group, bad = parseOptionAddr(multiaddr, false); bad != "" {
		return group, local, "multiaddr: " + bad
	}
	if local, bad = parseOptionAddr(iface, true); bad != "" {
		return group, local, "interface: " + bad
	}
	return group, local, ""
}

func ipMreq(m *sockdv1.IpMreq) (any, string) {
	group, iface, bad := groupAndInterface(m.GetMultiaddr(), m.GetInterface())
	if bad != "" {
		return nil, bad
	}
	return options.IPMreq{Multiaddr: group, Interface: iface}, ""
}

func ipMreqSource(m *sockdv1.IpMreqSource) (any, string) {
	group, iface, bad := groupAndInterface(m.GetMultiaddr(), m.GetInterface())
	if bad != "" {
		return nil, bad
	}
	src, bad := parseOptionAddr(m.GetSourceaddr(), false)
	if bad != "" {
		return nil, "sourceaddr: " + bad
	}
	return options.IPMreqSource{Multiaddr: group, Interface: iface, Source: src}, ""
}

func ipMsfilter(m *sockdv1.IpMsfilter) (any, string) {
	group, iface, bad := groupAndInterface(m.GetMultiaddr(), m.GetInterface())
	if bad != "" {
		return nil, bad
	}
	f := &options.IPMsfilter{Multiaddr: group, Interface: iface}
	switch m.GetMode() {
	case sockdv1.IpMsfilter_MODE_INCLUDE:
	case sockdv1.IpMsfilter_MODE_EXCLUDE:
		f.Exclude = true
	default:
		return nil, "mode: want include or exclude"
	}
	if len(m.GetSlist()) > 1024 {
		return nil, "slist: too many sources"
	}
	for _, s := range m.GetSlist() {
		a, bad := parseOptionAddr(s, false)
		if bad != "" {
			return nil, "slist: " + bad
		}
		f.Sources = append(f.Sources, a)
	}
	return f, ""
}

func sctpAssocParams(p *sockdv1.SctpAssocParams) (any, string) {
	if p.GetAsocmaxrxt() > math.MaxUint16 || p.GetNumberPeerDestinations() > math.MaxUint16 {
		return nil, "asocmaxrxt and number_peer_destinations are 16-bit"
	}
	return options.SCTPAssocParams{AssocID: p.GetAssocId(), AsocMaxRxt: uint16(p.GetAsocmaxrxt()),
		NumberPeerDestinations: uint16(p.GetNumberPeerDestinations()), PeerRwnd: p.GetPeerRwnd(),
		LocalRwnd: p.GetLocalRwnd(), CookieLife: p.GetCookieLife()}, ""
}

// printValue prints a request's value for invalid_value.
// printValue prints a refused value as Erlang's error shows the Value it was
// given: a number, a boolean or a quoted string as itself (as the codec's
// range errors print them), a structured value in the form it came in
// (#{onoff => true, linger => 5}).
func printValue(pv *sockdv1.OptionValue) string {
	switch v := pv.GetValue().(type) {
	case nil:
		return "none"
	case *sockdv1.OptionValue_IntValue:
		return strconv.FormatInt(v.IntValue, 10)
	case *sockdv1.OptionValue_BoolValue:
		return strconv.FormatBool(v.BoolValue)
	case *sockdv1.OptionValue_StringValue:
		return clip(strconv.Quote(v.StringValue), 200)
	}
	return clip(term(pv.GetValue()), 200)
}

// encodeOptionValue is the reverse of optionValue, for GetOpt's answers:
// names where Erlang's getopt gives atoms (tos, pmtudisc), integers otherwise.
func encodeOptionValue(t options.ValueType, v any) *sockdv1.OptionValue {
	out := &sockdv1.OptionValue{}
	switch x := v.(type) {
	case bool:
		out.Value = &sockdv1.OptionValue_BoolValue{BoolValue: x}
	case int:
		return encodeKindValue(t, x)
	case string:
		out.Value = &sockdv1.OptionValue_StringValue{StringValue: validText(x)}
	case options.Linger:
		out.Value = &sockdv1.OptionValue_Linger{Linger: &sockdv1.Linger{Onoff: x.OnOff, Linger: uint32(max(x.Seconds, 0))}}
	case options.Timeval:
		out.Value = &sockdv1.OptionValue_Timeval{Timeval: &sockdv1.Timeval{Sec: x.Sec, Usec: x.Usec}}
	case options.PMTUDisc:
		return nameOrInt(x.Name(), int(x))
	case options.TOS:
		return nameOrInt(x.Name(), int(x))
	case options.Hops:
		out.Value = &sockdv1.OptionValue_IntValue{IntValue: int64(x)}
	case netip.Addr:
		// Erlang answers the address, 0.0.0.0 included: any is a form
		// setopt takes, not one getopt gives.
		out.Value = &sockdv1.OptionValue_Address{Address: x.String()}
	case options.RcvBuf:
		if x.N == 0 {
			out.Value = &sockdv1.OptionValue_IntValue{IntValue: int64(x.Size)}
		} else {
			out.Value = &sockdv1.OptionValue_Rcvbuf{Rcvbuf: &sockdv1.RcvBuf{Count: uint32(x.N), Size: uint32(x.Size)}}
		}
	case options.CtrlBuf:
		out.Value = &sockdv1.OptionValue_IntValue{IntValue: int64(x.Size)}
	case options.SCTPAssocParams:
		out.Value = &sockdv1.OptionValue_SctpAssocparams{SctpAssocparams: &sockdv1.SctpAssocParams{
			AssocId: x.AssocID, Asocmaxrxt: uint32(x.AsocMaxRxt), NumberPeerDestinations: uint32(x.NumberPeerDestinations),
			PeerRwnd: x.PeerRwnd, LocalRwnd: x.LocalRwnd, CookieLife: x.CookieLife}}
	case options.SCTPInitMsg:
		out.Value = &sockdv1.OptionValue_SctpInitmsg{SctpInitmsg: &sockdv1.SctpInitMsg{
			NumOstreams: uint32(x.NumOstreams), MaxInstreams: uint32(x.MaxInstreams),
			MaxAttempts: uint32(x.MaxAttempts), MaxInitTimeo: uint32(x.MaxInitTimeo)}}
	case options.SCTPRtoInfo:
		out.Value = &sockdv1.OptionValue_SctpRtoinfo{SctpRtoinfo: &sockdv1.SctpRtoInfo{
			AssocId: x.AssocID, Initial: x.Initial, Max: x.Max, Min: x.Min}}
	case options.Ucred:
		out.Value = &sockdv1.OptionValue_Ucred{Ucred: &sockdv1.Ucred{Pid: x.Pid, Uid: x.Uid, Gid: x.Gid}}
	}
	return out
}

func nameOrInt(name string, n int) *sockdv1.OptionValue {
	if name != "" {
		return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: name}}
	}
	return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: int64(n)}}
}

// encodeKindValue answers domain(), type() and protocol() with their enum
// names where they have one, the number otherwise.
func encodeKindValue(t options.ValueType, n int) *sockdv1.OptionValue {
	switch t {
	case options.TypeDomain:
		if d, ok := reverse(domains, n); ok {
			return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Domain{Domain: d}}
		}
	case options.TypeType:
		if ty, ok := reverse(types, n); ok {
			return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Type{Type: ty}}
		}
	case options.TypeProtocol:
		if n == 0 {
			// A local socket's protocol: Erlang's getopt answers default,
			// as Info does.
			return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Protocol{Protocol: sockdv1.Protocol_PROTOCOL_UNSPECIFIED}}
		}
		if p, ok := reverse(protocols, n); ok {
			return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Protocol{Protocol: p}}
		}
	}
	return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: int64(n)}}
}

// validText is s as a protobuf string may carry it: a kernel's string
// (an interface name) may hold bytes that are not UTF-8, which would fail
// the whole answer; each such byte is written \xNN, as Go quotes it.
func validText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
