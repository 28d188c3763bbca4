package options

import (
	"fmt"
	"net/netip"
)

// ValueType is the type of an option's value, as the seed's tables spell it.
type ValueType int

// The value types. Each non-otp type has a codec (codec.go).
const (
	TypeBool ValueType = iota + 1
	TypeInt
	TypeNonNegInt
	TypeUint8
	TypeString
	TypeLinger
	TypeTimeval
	TypeMap // bsp_state: Windows only, no codec
	TypeDomain
	TypeType
	TypeProtocol
	TypeIPMreq
	TypeIPMreqSource
	TypeIPMsfilter
	TypeIPPMTUDisc
	TypeIPTOS
	TypeIPMulticastIf
	TypeIPv6Mreq
	TypeIPv6PMTUDisc
	TypeIPv6Hops
	TypeIPv6AddrForm
	TypeSCTPAssocParams
	TypeSCTPEventSubscribe
	TypeSCTPInitMsg
	TypeSCTPRtoInfo
	TypeOTPRcvBuf
	TypeOTPCtrlBuf
	TypeOTPProcess
	TypeUcred
	TypeOTPMeta
)

var typeNames = map[ValueType]string{
	TypeBool:               "boolean()",
	TypeInt:                "integer()",
	TypeNonNegInt:          "non_neg_integer()",
	TypeUint8:              "uint8()",
	TypeString:             "string()",
	TypeLinger:             "abort | linger()",
	TypeTimeval:            "timeval()",
	TypeMap:                "map()",
	TypeDomain:             "domain()",
	TypeType:               "type()",
	TypeProtocol:           "protocol()",
	TypeIPMreq:             "ip_mreq()",
	TypeIPMreqSource:       "ip_mreq_source()",
	TypeIPMsfilter:         "null | ip_msfilter()",
	TypeIPPMTUDisc:         "ip_pmtudisc()",
	TypeIPTOS:              "ip_tos()",
	TypeIPMulticastIf:      "any | ip4_address()",
	TypeIPv6Mreq:           "ipv6_mreq()",
	TypeIPv6PMTUDisc:       "ipv6_pmtudisc()",
	TypeIPv6Hops:           "default | uint8()",
	TypeIPv6AddrForm:       "inet",
	TypeSCTPAssocParams:    "sctp_assocparams()",
	TypeSCTPEventSubscribe: "sctp_event_subscribe()",
	TypeSCTPInitMsg:        "sctp_initmsg()",
	TypeSCTPRtoInfo:        "sctp_rtoinfo()",
	TypeUcred:              "ucred()",
	TypeOTPRcvBuf:          "default | pos_integer() | {pos_integer(), pos_integer()}",
	TypeOTPCtrlBuf:         "default | pos_integer()",
	TypeOTPProcess:         "pid()",
	TypeOTPMeta:            "term()",
}

// String is the seed's spelling of the type.
func (t ValueType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "unknown()"
}

// The Go form of each value type. Set takes, and Get returns (a field's term
// tag is its key in Erlang's map, where that is not its name in snake_case):
//
//	boolean()                bool
//	integer(), uint8(), ...  int
//	string()                 string
//	abort | linger()         Linger (abort is Linger{OnOff: true})
//	timeval()                Timeval
//	domain(), type(), protocol()  int (AF_*, SOCK_*, IPPROTO_*)
//	ip_mreq() ...            IPMreq, IPMreqSource, *IPMsfilter (nil is null)
//	ip_pmtudisc(), ipv6_pmtudisc()  PMTUDisc
//	ip_tos()                 TOS
//	any | ip4_address()      netip.Addr (0.0.0.0 is any)
//	ipv6_mreq()              IPv6Mreq
//	default | uint8()        Hops (HopsDefault is default)
//	inet                     int (AF_INET)
//	sctp_*()                 SCTPAssocParams, SCTPEventSubscribe, SCTPInitMsg, SCTPRtoInfo
//	otp rcvbuf               RcvBuf
//	otp rcvctrlbuf, sndctrlbuf  CtrlBuf
//	pid()                    not handled here: the server owns sessions
//	term() (otp meta)        not handled here: only the owner may set it
type (
	// Linger is linger(): struct linger.
	Linger struct {
		OnOff   bool `term:"onoff"`
		Seconds int  `term:"linger"`
	}
	// Timeval is timeval(): struct timeval.
	Timeval struct{ Sec, Usec int64 }
	// IPMreq is ip_mreq(); an invalid or unspecified Interface is any.
	IPMreq struct{ Multiaddr, Interface netip.Addr }
	// IPMreqSource is ip_mreq_source().
	IPMreqSource struct {
		Multiaddr, Interface netip.Addr
		Source               netip.Addr `term:"sourceaddr"`
	}
	// IPMsfilter is ip_msfilter(); a nil *IPMsfilter is null.
	IPMsfilter struct {
		Multiaddr, Interface netip.Addr
		Exclude              bool         // MCAST_EXCLUDE (Erlang's mode exclude), else MCAST_INCLUDE
		Sources              []netip.Addr `term:"slist"`
	}
	// IPv6Mreq is ipv6_mreq(): a group and an interface index.
	IPv6Mreq struct {
		Multiaddr netip.Addr
		Interface uint32
	}
	// PMTUDisc is ip_pmtudisc() / ipv6_pmtudisc(); Name gives want, dont, do
	// or probe where the number has one.
	PMTUDisc int
	// TOS is ip_tos(); Name gives lowdelay, throughput, reliability or
	// mincost where the number has one.
	TOS int
	// Hops is default | uint8(); HopsDefault is default (set only).
	Hops int
	// SCTPAssocParams is sctp_assocparams().
	SCTPAssocParams struct {
		AssocID                int32
		AsocMaxRxt             uint16 `term:"asocmaxrxt"`
		NumberPeerDestinations uint16
		PeerRwnd, LocalRwnd    uint32
		CookieLife             uint32
	}
	// SCTPEventSubscribe is sctp_event_subscribe().
	SCTPEventSubscribe struct {
		DataIO, Association, Address, SendFailure, PeerError, Shutdown,
		PartialDelivery, AdaptationLayer, SenderDry bool
	}
	// SCTPInitMsg is sctp_initmsg().
	SCTPInitMsg struct {
		NumOstreams                             uint16 `term:"num_outstreams"`
		MaxInstreams, MaxAttempts, MaxInitTimeo uint16
	}
	// SCTPRtoInfo is sctp_rtoinfo().
	SCTPRtoInfo struct {
		AssocID           int32
		Initial, Max, Min uint32
	}
	// Ucred is struct ucred (socket peercred): a local peer's pid, uid and
	// gid as the kernel recorded them at its connect or listen.
	Ucred struct {
		Pid      int32
		Uid, Gid uint32
	}
	// RcvBuf is otp rcvbuf: Size bytes per read, N reads gathered by a
	// length-0 stream recv (N 0: the plain size form). Default restores the
	// default size (set only).
	RcvBuf struct {
		N, Size int
		Default bool
	}
	// CtrlBuf is otp rcvctrlbuf / sndctrlbuf; Default restores 1024 (set only).
	CtrlBuf struct {
		Size    int
		Default bool
	}
)

// HopsDefault is the default form of Hops.
const HopsDefault Hops = -1

var pmtuNames = map[PMTUDisc]string{0: "dont", 1: "want", 2: "do", 3: "probe"}

// Name is the value's Erlang name, or "" when it has none.
func (p PMTUDisc) Name() string { return pmtuNames[p] }

// ParsePMTUDisc parses want, dont, do or probe.
func ParsePMTUDisc(name string) (PMTUDisc, bool) { return lookupName(pmtuNames, name) }

var tosNames = map[TOS]string{0x10: "lowdelay", 0x08: "throughput", 0x04: "reliability", 0x02: "mincost"}

// Name is the value's Erlang name, or "" when it has none.
func (t TOS) Name() string { return tosNames[t] }

// ParseTOS parses lowdelay, throughput, reliability or mincost.
func ParseTOS(name string) (TOS, bool) { return lookupName(tosNames, name) }

func lookupName[V comparable](names map[V]string, name string) (V, bool) {
	for v, n := range names {
		if n == name {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// String prints the value as Erlang's rcvbuf takes it: default, Size, or
// {N, Size}.
func (r RcvBuf) String() string {
	switch {
	case r.Default && r.N == 0:
		return "default"
	case r.Default:
		return fmt.Sprintf("{%d, default}", r.N)
	case r.N > 0:
		return fmt.Sprintf("{%d, %d}", r.N, r.Size)
	}
	return fmt.Sprint(r.Size)
}

// String prints the value as Erlang's rcvctrlbuf takes it: default or Size.
func (c CtrlBuf) String() string {
	if c.Default {
		return "default"
	}
	return fmt.Sprint(c.Size)
}
