package options

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// Option is one row of the table.
type Option struct {
	Key
	// Aliases are other names of the same row ("pktinfo" for ipv6 recvpktinfo).
	Aliases []string
	Type    ValueType
	// Set and Get are the seed's columns.
	Set, Get bool
	// SysLevel and SysName are the setsockopt(2) level and option name;
	// SysName is noSys for otp options and those Linux lacks.
	SysLevel, SysName int
	// Requires are the sockets the seed's comments name. They document the
	// option and tell the probe which scratch socket to ask; they are not
	// enforced: as Erlang's NIF, sockd lets the kernel decide, and the
	// kernel accepts more (IP_MINTTL on TCP, IP_MTU on connected UDP, ip
	// options on dual-stack inet6 sockets) or refuses with its errno.
	Requires Requirements
	// Privileged: the kernel wants CAP_NET_ADMIN or CAP_NET_RAW for some or
	// all values, or trusts the socket's uid, which is the daemon's; a
	// policy lets principals set it or not.
	Privileged bool
	// AfterConnect: get only answers on a connected socket, or one with an
	// association (the kernel says enotconn, or einval, before).
	AfterConnect bool
	// Unavailable, when set, says why sockd never offers the option on this
	// platform (Windows only, BSD only, disabled); Set and Get answer invalid.
	Unavailable string
	// Notes are the seed's requirements and comments, and sockd's own.
	Notes string
	// FromReference marks a row the seed's tables lack and the reference
	// (§6.2) adds.
	FromReference bool
}

// Requirements are the sockets the seed says an option applies to (an
// empty list: any). They are documentation and the probe's choice of
// scratch socket, not a rule: the kernel decides (Option.Requires).
type Requirements struct {
	Domains   []int
	Types     []int
	NotTypes  []int
	Protocols []int
}

// noSys marks an option with no Linux setsockopt name.
const noSys = -1

// Linux names x/sys/unix does not define (linux/sctp.h).
const (
	sctpRtoInfo          = 0
	sctpAssocInfo        = 1
	sctpInitMsg          = 2
	sctpNoDelay          = 3
	sctpAutoClose        = 4
	sctpDisableFragments = 8
	sctpEvents           = 11
	sctpMaxSeg           = 13
	sctpStatus           = 14
	ipv6FlowInfo         = 11 // linux/in6.h IPV6_FLOWINFO
)

var (
	inet      = []int{unix.AF_INET, unix.AF_INET6}
	inet4     = []int{unix.AF_INET}
	inet6     = []int{unix.AF_INET6}
	stream    = []int{unix.SOCK_STREAM}
	dgram     = []int{unix.SOCK_DGRAM}
	raw       = []int{unix.SOCK_RAW}
	dgramRaw  = []int{unix.SOCK_DGRAM, unix.SOCK_RAW}
	tcp       = []int{unix.IPPROTO_TCP}
	udp       = []int{unix.IPPROTO_UDP}
	sctp      = []int{unix.IPPROTO_SCTP}
	seqpacket = []int{unix.SOCK_SEQPACKET}
)

const (
	windowsOnly = "Windows only"
	bsdOnly     = "BSD only: Linux has no such option"
)

// Table is every option, in the seed's order, level by level.
var Table = []Option{
	// otp: the daemon's own per-socket settings (reference §6.4).
	{Key: Key{LevelOTP, "assoc_id"}, Type: TypeInt, Get: true, SysLevel: unix.IPPROTO_SCTP, SysName: sctpStatus, AfterConnect: true,
		Requires: Requirements{Types: seqpacket, Protocols: sctp}, Notes: "type = seqpacket, protocol = sctp, is an association"},
	{Key: Key{LevelOTP, "debug"}, Type: TypeBool, Set: true, Get: true, SysName: noSys,
		Notes: "per-socket debug logging in the daemon's log, at its debug level (sockd --log-level debug)"},
	{Key: Key{LevelOTP, "iow"}, Type: TypeBool, Set: true, Get: true, SysName: noSys,
		Notes: "a counter_wrap event goes to the owner when a counter wraps"},
	{Key: Key{LevelOTP, "controlling_process"}, Type: TypeOTPProcess, Set: true, Get: true, SysName: noSys,
		Notes: "a session id; only the owner may set it (else invalid not_owner); the socket then follows the new session's lifetime"},
	{Key: Key{LevelOTP, "rcvbuf"}, Type: TypeOTPRcvBuf, Set: true, Get: true, SysName: noSys,
		Notes: "default 8192; 'default' only valid for set; the {N, Size} form only for type stream, protocol tcp, and makes a length-0 recv gather up to N buffers; Size (N × Size) at most " +
			strconv.Itoa(MaxRcvBufBytes) + " bytes, what one Recv answer may carry"},
	{Key: Key{LevelOTP, "rcvctrlbuf"}, Type: TypeOTPCtrlBuf, Set: true, Get: true, SysName: noSys,
		Notes: "default 1024, the control buffer of RecvMsg, at most " + strconv.Itoa(MaxCtrlBuf) + "; 'default' only valid for set"},
	{Key: Key{LevelOTP, "sndctrlbuf"}, Type: TypeOTPCtrlBuf, Set: true, Get: true, SysName: noSys,
		Notes: "default 1024, the control buffer of SendMsg, at most " + strconv.Itoa(MaxCtrlBuf) + "; 'default' only valid for set"},
	{Key: Key{LevelOTP, "fd"}, Type: TypeInt, Get: true, SysName: noSys, Notes: "the OS descriptor"},
	fromReference(Option{Key: Key{LevelOTP, "domain"}, Type: TypeDomain, Get: true, SysName: noSys,
		Notes: "the socket's domain, as the engine knows it (Erlang uses it for bind's shortcuts)"}),
	{Key: Key{LevelOTP, "use_registry"}, Type: TypeBool, Set: true, Get: true, SysName: noSys,
		Notes: "set at open; setopt accepts only true (the specified table says no set; Erlang's NIF takes true)"},
	fromReference(Option{Key: Key{LevelOTP, "meta"}, Type: TypeOTPMeta, Set: true, Get: true, SysName: noSys,
		Notes: "any term, kept for the socket: bytes in the client's own encoding, at most 4096; undefined until set, and setting undefined unsets it; only the owner may set it (else invalid not_owner); it stays with the socket when the socket changes owner"}),
	fromReference(Option{Key: Key{LevelOTP, "select_read"}, Type: TypeBool, Set: true, Get: true, SysName: noSys,
		Notes: "OTP 28: a nowait select-mode recv, recvfrom or recvmsg that reads data leaves its caller a new read select, armed ({select_read, {SelectInfo, Data}}), saving the call that would arm it; the caller stays the current reader, so others queue until it cancels; not inherited by accepted sockets"}),

	// socket: SOL_SOCKET.
	sock("acceptconn", TypeBool, false, true, unix.SO_ACCEPTCONN, "none"),
	fromReference(unavailable(sock("acceptfilter", TypeString, true, true, noSys, ""), bsdOnly)),
	withPriv(sock("bindtodevice", TypeString, true, true, unix.SO_BINDTODEVICE,
		"an interface name of at most 15 bytes; the empty name removes the binding; Linux wants CAP_NET_RAW to change a binding (and before 5.7 to bind at all)")),
	req(sock("broadcast", TypeBool, true, true, unix.SO_BROADCAST, "type = dgram"), Requirements{Types: dgram}),
	unavailable(sock("bsp_state", TypeMap, false, true, noSys, ""), windowsOnly),
	fromReference(withPriv(sock("busy_poll", TypeNonNegInt, true, true, unix.SO_BUSY_POLL,
		"microseconds to busy-poll the device queue on a blocking read; raising it wants CAP_NET_ADMIN"))),
	withPriv(sock("debug", TypeInt, true, true, unix.SO_DEBUG, "may require admin capability: Linux wants CAP_NET_ADMIN to turn it on")),
	sock("domain", TypeDomain, false, true, unix.SO_DOMAIN, "none"),
	sock("dontroute", TypeBool, true, true, unix.SO_DONTROUTE, "none"),
	fromReference(sock("error", TypeInt, false, true, unix.SO_ERROR,
		"the pending socket error as an errno number (0: none); reading it clears it, and a connect in progress still answers the outcome it read")),
	unavailable(sock("exclusiveaddruse", TypeBool, true, true, noSys, ""), windowsOnly),
	sock("keepalive", TypeBool, true, true, unix.SO_KEEPALIVE, "none"),
	sock("linger", TypeLinger, true, true, unix.SO_LINGER, "abort is #{onoff => true, linger => 0}: close resets the connection"),
	fromReference(withPriv(sock("mark", TypeInt, true, true, unix.SO_MARK,
		"the packet mark for routing and filtering; setting it wants CAP_NET_ADMIN, which the daemon's other sockets share"))),
	unavailable(sock("maxdg", TypeInt, false, true, noSys, ""), windowsOnly),
	unavailable(sock("max_msg_size", TypeInt, false, true, noSys, ""), windowsOnly),
	sock("oobinline", TypeBool, true, true, unix.SO_OOBINLINE, "none"),
	fromReference(req(sock("peercred", TypeUcred, false, true, unix.SO_PEERCRED,
		"domain = local: the peer's pid, uid and gid as the kernel recorded them at its connect or listen"),
		Requirements{Domains: []int{unix.AF_UNIX}})),
	fromReference(req(sock("passcred", TypeBool, true, true, unix.SO_PASSCRED,
		"domain = local: RecvMsg then carries the sender's credentials (a credentials control message)"),
		Requirements{Domains: []int{unix.AF_UNIX}})),
	unavailable(req(sock("peek_off", TypeInt, true, true, unix.SO_PEEK_OFF, "domain = local"),
		Requirements{Domains: []int{unix.AF_UNIX}}),
		"disabled, as the seed's table says: a second recv with peek may loop forever; always reported unsupported (Erlang's supports says false too, though its setopt reaches the kernel)"),
	withPriv(sock("priority", TypeInt, true, true, unix.SO_PRIORITY, "values outside 0..6 want CAP_NET_ADMIN or CAP_NET_RAW")),
	sock("protocol", TypeProtocol, false, true, unix.SO_PROTOCOL, "none"),
	sock("rcvbuf", TypeNonNegInt, true, true, unix.SO_RCVBUF, "Linux doubles the value set, and get answers the doubled value"),
	fromReference(withPriv(sock("rcvbufforce", TypeNonNegInt, true, false, unix.SO_RCVBUFFORCE,
		"rcvbuf past net.core.rmem_max; wants CAP_NET_ADMIN"))),
	sock("rcvlowat", TypeNonNegInt, true, true, unix.SO_RCVLOWAT, "none"),
	unavailable(sock("rcvtimeo", TypeTimeval, true, true, unix.SO_RCVTIMEO, ""),
		"not supported, as in a default OTP build: sockd's sockets are nonblocking, so the kernel timeout would never apply; use the Timeout of Recv"),
	sock("reuseaddr", TypeBool, true, true, unix.SO_REUSEADDR, "none"),
	withPriv(req(sock("reuseport", TypeBool, true, true, unix.SO_REUSEPORT,
		"domain = inet | inet6; the kernel lets a socket join a reuseport group of its own uid's sockets only: turning it on is privileged unless the socket acts for a user of its own (a root daemon's local users, act_as)"),
		Requirements{Domains: inet})),
	fromReference(sock("rxq_ovfl", TypeBool, true, true, unix.SO_RXQ_OVFL,
		"RecvMsg then carries the count of datagrams the socket dropped (a control message, as raw data)")),
	fromReference(unavailable(sock("setfib", TypeInt, true, true, noSys, ""), bsdOnly)),
	sock("sndbuf", TypeNonNegInt, true, true, unix.SO_SNDBUF, "Linux doubles the value set, and get answers the doubled value"),
	fromReference(withPriv(sock("sndbufforce", TypeNonNegInt, true, false, unix.SO_SNDBUFFORCE,
		"sndbuf past net.core.wmem_max; wants CAP_NET_ADMIN"))),
	sock("sndlowat", TypeNonNegInt, true, true, unix.SO_SNDLOWAT, "not changeable on Linux: set answers enoprotoopt"),
	unavailable(sock("sndtimeo", TypeTimeval, true, true, unix.SO_SNDTIMEO, ""),
		"not supported, as in a default OTP build: sockd's sockets are nonblocking, so the kernel timeout would never apply; use the Timeout of Send"),
	sock("timestamp", TypeBool, true, true, unix.SO_TIMESTAMP, "RecvMsg then carries a socket timestamp control message"),
	sock("type", TypeType, false, true, unix.SO_TYPE, "none"),

	// ip: IPPROTO_IP.
	ip("add_membership", TypeIPMreq, true, false, unix.IP_ADD_MEMBERSHIP, "none"),
	ip("add_source_membership", TypeIPMreqSource, true, false, unix.IP_ADD_SOURCE_MEMBERSHIP, "none"),
	ip("block_source", TypeIPMreqSource, true, false, unix.IP_BLOCK_SOURCE, "none"),
	ip("drop_membership", TypeIPMreq, true, false, unix.IP_DROP_MEMBERSHIP, "none"),
	ip("drop_source_membership", TypeIPMreqSource, true, false, unix.IP_DROP_SOURCE_MEMBERSHIP, "none"),
	ip("freebind", TypeBool, true, true, unix.IP_FREEBIND, "none"),
	withPriv(req(ip("hdrincl", TypeBool, true, true, unix.IP_HDRINCL, "type = raw; the caller then writes whole IP headers, source address included"), Requirements{Types: raw})),
	req(ip("minttl", TypeInt, true, true, unix.IP_MINTTL, "type = raw"), Requirements{Types: raw}),
	ip("msfilter", TypeIPMsfilter, true, false, unix.IP_MSFILTER, "null passes an empty value, which Linux refuses with einval"),
	afterConnect(req(ip("mtu", TypeInt, false, true, unix.IP_MTU, "type = raw"), Requirements{Types: raw})),
	ip("mtu_discover", TypeIPPMTUDisc, true, true, unix.IP_MTU_DISCOVER, "get answers want, dont, do or probe where the number has a name"),
	ip("multicast_all", TypeBool, true, true, unix.IP_MULTICAST_ALL, "none"),
	ip("multicast_if", TypeIPMulticastIf, true, true, unix.IP_MULTICAST_IF, "none"),
	ip("multicast_loop", TypeBool, true, true, unix.IP_MULTICAST_LOOP, "none"),
	ip("multicast_ttl", TypeUint8, true, true, unix.IP_MULTICAST_TTL, "none"),
	req(ip("nodefrag", TypeBool, true, true, unix.IP_NODEFRAG, "type = raw"), Requirements{Types: raw}),
	req(ip("pktinfo", TypeBool, true, true, unix.IP_PKTINFO, "type = dgram"), Requirements{Types: dgram}),
	unavailable(req(ip("recvdstaddr", TypeBool, true, true, noSys, "type = dgram"), Requirements{Types: dgram}), bsdOnly),
	ip("recverr", TypeBool, true, true, unix.IP_RECVERR, "none"),
	unavailable(req(ip("recvif", TypeBool, true, true, noSys, "type = dgram | raw"), Requirements{Types: dgramRaw}), bsdOnly),
	req(ip("recvopts", TypeBool, true, true, unix.IP_RECVOPTS, "type =/= stream"), Requirements{NotTypes: stream}),
	ip("recvorigdstaddr", TypeBool, true, true, unix.IP_RECVORIGDSTADDR, "none"),
	fromReference(req(ip("recvtos", TypeBool, true, true, unix.IP_RECVTOS, "type =/= stream"), Requirements{NotTypes: stream})),
	req(ip("recvttl", TypeBool, true, true, unix.IP_RECVTTL, "type =/= stream"), Requirements{NotTypes: stream}),
	req(ip("retopts", TypeBool, true, true, unix.IP_RETOPTS, "type =/= stream"), Requirements{NotTypes: stream}),
	req(ip("router_alert", TypeInt, true, true, unix.IP_ROUTER_ALERT, "type = raw"), Requirements{Types: raw}),
	unavailable(ip("sendsrcaddr", TypeBool, true, true, noSys, ""), bsdOnly),
	withPriv(ip("tos", TypeIPTOS, true, true, unix.IP_TOS,
		"some high-priority levels may require superuser capability; get answers lowdelay, throughput, reliability or mincost where the number has a name")),
	withPriv(ip("transparent", TypeBool, true, true, unix.IP_TRANSPARENT, "requires admin capability (CAP_NET_ADMIN) to turn on")),
	ip("ttl", TypeInt, true, true, unix.IP_TTL, "none"),
	ip("unblock_source", TypeIPMreqSource, true, false, unix.IP_UNBLOCK_SOURCE, "none"),

	// ipv6: IPPROTO_IPV6.
	ip6("addrform", TypeIPv6AddrForm, true, false, unix.IPV6_ADDRFORM,
		"allowed only for IPv6 sockets that are connected and bound to a v4-mapped-on-v6 address"),
	ip6("add_membership", TypeIPv6Mreq, true, false, unix.IPV6_ADD_MEMBERSHIP, "none"),
	req(ip6("authhdr", TypeBool, true, true, unix.IPV6_AUTHHDR, "type = dgram | raw, obsolete"), Requirements{Types: dgramRaw}),
	ip6("drop_membership", TypeIPv6Mreq, true, false, unix.IPV6_DROP_MEMBERSHIP, "none"),
	req(ip6("dstopts", TypeBool, true, true, unix.IPV6_RECVDSTOPTS, "type = dgram | raw; the specified table says it requires superuser privileges to update, but Linux lets anyone ask for these received headers"), Requirements{Types: dgramRaw}),
	req(ip6("flowinfo", TypeBool, true, true, ipv6FlowInfo, "type = dgram | raw; the specified table says it requires superuser privileges to update, but Linux lets anyone ask for these received headers"), Requirements{Types: dgramRaw}),
	req(ip6("hoplimit", TypeBool, true, true, unix.IPV6_2292HOPLIMIT,
		"type = dgram | raw; Linux's IPV6_2292HOPLIMIT, which also makes recvmsg report ipv6 hoplimit control messages, as recvhoplimit (RFC 3542) does"), Requirements{Types: dgramRaw}),
	req(ip6("hopopts", TypeBool, true, true, unix.IPV6_RECVHOPOPTS, "type = dgram | raw; the specified table says it requires superuser privileges to update, but Linux lets anyone ask for these received headers"), Requirements{Types: dgramRaw}),
	afterConnect(ip6("mtu", TypeInt, true, true, unix.IPV6_MTU, "Get: only after the socket has been connected; an integer (the specified table says boolean(), a slip: the kernel takes and answers the path MTU, at least 1280)")),
	ip6("mtu_discover", TypeIPv6PMTUDisc, true, true, unix.IPV6_MTU_DISCOVER, "get answers want, dont, do or probe where the number has a name"),
	ip6("multicast_hops", TypeIPv6Hops, true, true, unix.IPV6_MULTICAST_HOPS, "default (set only) is -1"),
	req(ip6("multicast_if", TypeInt, true, true, unix.IPV6_MULTICAST_IF, "type = dgram | raw; an interface index"), Requirements{Types: dgramRaw}),
	ip6("multicast_loop", TypeBool, true, true, unix.IPV6_MULTICAST_LOOP, "none"),
	ip6("recverr", TypeBool, true, true, unix.IPV6_RECVERR, "none"),
	req(ip6("recvhoplimit", TypeBool, true, true, unix.IPV6_RECVHOPLIMIT,
		"type = dgram | raw; on Linux the one to set to get hoplimit control messages"), Requirements{Types: dgramRaw}),
	alias(req(ip6("recvpktinfo", TypeBool, true, true, unix.IPV6_RECVPKTINFO, "type = dgram | raw"), Requirements{Types: dgramRaw}), "pktinfo"),
	req(ip6("recvtclass", TypeBool, true, true, unix.IPV6_RECVTCLASS, "type = dgram | raw"), Requirements{Types: dgramRaw}),
	req(ip6("router_alert", TypeInt, true, true, unix.IPV6_ROUTER_ALERT, "type = raw"), Requirements{Types: raw}),
	req(ip6("rthdr", TypeBool, true, true, unix.IPV6_RECVRTHDR, "type = dgram | raw; the specified table says it requires superuser privileges to update, but Linux lets anyone ask for these received headers"), Requirements{Types: dgramRaw}),
	withPriv(ip6("tclass", TypeInt, true, true, unix.IPV6_TCLASS, "the traffic class of outgoing packets (RFC 3542); precedence 6 and 7 are privileged, as ip tos")),
	ip6("unicast_hops", TypeIPv6Hops, true, true, unix.IPV6_UNICAST_HOPS, "default (set only) is -1"),
	ip6("v6only", TypeBool, true, true, unix.IPV6_V6ONLY, "Get works too, as in Erlang's NIF (the specified table says set only)"),

	// tcp: IPPROTO_TCP.
	withPriv(tcpOpt("congestion", TypeString, unix.TCP_CONGESTION,
		"an algorithm name of at most 15 bytes; one of net.ipv4.tcp_allowed_congestion_control for anyone, any other (loading its module) only with CAP_NET_ADMIN")),
	tcpOpt("cork", TypeBool, unix.TCP_CORK, "'nopush' on some platforms (FreeBSD)"),
	tcpOpt("keepcnt", TypeInt, unix.TCP_KEEPCNT, "none"),
	tcpOpt("keepidle", TypeInt, unix.TCP_KEEPIDLE, "none"),
	tcpOpt("keepintvl", TypeInt, unix.TCP_KEEPINTVL, "none"),
	tcpOpt("maxseg", TypeInt, unix.TCP_MAXSEG, "set not allowed on all platforms"),
	tcpOpt("nodelay", TypeBool, unix.TCP_NODELAY, "none"),
	tcpOpt("nopush", TypeBool, unix.TCP_CORK, "TCP_CORK on Linux"),

	// udp: IPPROTO_UDP.
	{Key: Key{LevelUDP, "cork"}, Type: TypeBool, Set: true, Get: true, SysLevel: unix.IPPROTO_UDP, SysName: unix.UDP_CORK,
		Requires: Requirements{Protocols: udp}, Notes: "none"},

	// sctp: IPPROTO_SCTP.
	sctpOpt("associnfo", TypeSCTPAssocParams, true, sctpAssocInfo),
	sctpOpt("autoclose", TypeNonNegInt, true, sctpAutoClose),
	sctpOpt("disable_fragments", TypeBool, true, sctpDisableFragments),
	sctpOpt("events", TypeSCTPEventSubscribe, false, sctpEvents),
	sctpOpt("initmsg", TypeSCTPInitMsg, true, sctpInitMsg),
	sctpOpt("maxseg", TypeNonNegInt, true, sctpMaxSeg),
	sctpOpt("nodelay", TypeBool, true, sctpNoDelay),
	sctpOpt("rtoinfo", TypeSCTPRtoInfo, true, sctpRtoInfo),
}

func sock(name string, t ValueType, set, get bool, sys int, notes string) Option {
	return Option{Key: Key{LevelSocket, name}, Type: t, Set: set, Get: get, SysLevel: unix.SOL_SOCKET, SysName: sys, Notes: notes}
}

func ip(name string, t ValueType, set, get bool, sys int, notes string) Option {
	return Option{Key: Key{LevelIP, name}, Type: t, Set: set, Get: get, SysLevel: unix.IPPROTO_IP, SysName: sys,
		Requires: Requirements{Domains: inet4}, Notes: notes}
}

func ip6(name string, t ValueType, set, get bool, sys int, notes string) Option {
	return Option{Key: Key{LevelIPv6, name}, Type: t, Set: set, Get: get, SysLevel: unix.IPPROTO_IPV6, SysName: sys,
		Requires: Requirements{Domains: inet6}, Notes: notes}
}

func tcpOpt(name string, t ValueType, sys int, notes string) Option {
	return Option{Key: Key{LevelTCP, name}, Type: t, Set: true, Get: true, SysLevel: unix.IPPROTO_TCP, SysName: sys,
		Requires: Requirements{Types: stream, Protocols: tcp}, Notes: notes}
}

func sctpOpt(name string, t ValueType, get bool, sys int) Option {
	return Option{Key: Key{LevelSCTP, name}, Type: t, Set: true, Get: get, SysLevel: unix.IPPROTO_SCTP, SysName: sys,
		Requires: Requirements{Protocols: sctp}, Notes: "none"}
}

// req adds requirements to those of the level (it narrows, never widens).
func req(o Option, r Requirements) Option {
	if r.Domains != nil {
		o.Requires.Domains = r.Domains
	}
	if r.Types != nil {
		o.Requires.Types = r.Types
	}
	if r.NotTypes != nil {
		o.Requires.NotTypes = r.NotTypes
	}
	if r.Protocols != nil {
		o.Requires.Protocols = r.Protocols
	}
	return o
}

func withPriv(o Option) Option           { o.Privileged = true; return o }
func afterConnect(o Option) Option       { o.AfterConnect = true; return o }
func fromReference(o Option) Option      { o.FromReference = true; return o }
func alias(o Option, a ...string) Option { o.Aliases = a; return o }

func unavailable(o Option, why string) Option {
	o.Unavailable = why
	if o.Notes == "" {
		o.Notes = why
	}
	return o
}

// byKey indexes Table by name and alias.
var byKey = func() map[Key]*Option {
	m := make(map[Key]*Option, len(Table))
	for i := range Table {
		o := &Table[i]
		m[o.Key] = o
		for _, a := range o.Aliases {
			m[Key{o.Level, a}] = o
		}
	}
	return m
}()

// Lookup finds the row of k, by name or alias.
func Lookup(k Key) (*Option, bool) {
	o, ok := byKey[k]
	return o, ok
}

// Native reports whether the option maps to a setsockopt(2) name on Linux.
func (o *Option) Native() bool { return o.SysName != noSys }
