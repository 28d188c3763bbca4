package options

import (
	"slices"

	"golang.org/x/sys/unix"
)

// ControlKind is a control message's level and type, the numbers of a
// cmsghdr. Its names are Erlang's (ip, tos), most of them those of the option
// that makes the kernel send the message; the daemon reports them on what
// recvmsg receives and takes them for what sendmsg sends, and sockctl
// checks its --ctrl arguments against them.
type ControlKind struct{ Level, Type int }

var controlLevelNames = map[int]string{
	unix.SOL_SOCKET:   "socket",
	unix.IPPROTO_IP:   "ip",
	unix.IPPROTO_IPV6: "ipv6",
	unix.IPPROTO_TCP:  "tcp",
	unix.IPPROTO_UDP:  "udp",
	unix.IPPROTO_SCTP: "sctp",
}

var controlTypeNames = map[ControlKind]string{
	{unix.SOL_SOCKET, unix.SCM_TIMESTAMP}:   "timestamp",
	{unix.SOL_SOCKET, unix.SCM_RIGHTS}:      "rights",
	{unix.SOL_SOCKET, unix.SCM_CREDENTIALS}: "credentials",
	{unix.IPPROTO_IP, unix.IP_TOS}:          "tos",
	{unix.IPPROTO_IP, unix.IP_RECVTOS}:      "recvtos",
	{unix.IPPROTO_IP, unix.IP_TTL}:          "ttl",
	{unix.IPPROTO_IP, unix.IP_RECVTTL}:      "recvttl",
	{unix.IPPROTO_IP, unix.IP_PKTINFO}:      "pktinfo",
	{unix.IPPROTO_IP, unix.IP_ORIGDSTADDR}:  "origdstaddr",
	{unix.IPPROTO_IP, unix.IP_RECVERR}:      "recverr",
	{unix.IPPROTO_IPV6, unix.IPV6_PKTINFO}:  "pktinfo",
	{unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT}: "hoplimit",
	// What ipv6 hoplimit (IPV6_2292HOPLIMIT) makes the kernel send; by name
	// a sender means IPV6_HOPLIMIT.
	{unix.IPPROTO_IPV6, unix.IPV6_2292HOPLIMIT}: "hoplimit",
	{unix.IPPROTO_IPV6, unix.IPV6_TCLASS}:       "tclass",
	{unix.IPPROTO_IPV6, unix.IPV6_RECVERR}:      "recverr",
}

// The inverses of the names above, for what a sender names.
var (
	controlLevelNumbers = map[string]int{}
	controlKindsByName  = map[string]ControlKind{}
)

func init() {
	for n, name := range controlLevelNames {
		controlLevelNumbers[name] = n
	}
	for k, name := range controlTypeNames {
		if k != (ControlKind{unix.IPPROTO_IPV6, unix.IPV6_2292HOPLIMIT}) {
			controlKindsByName[controlLevelNames[k.Level]+"/"+name] = k
		}
	}
}

// LevelName is the level's name, or "" when it has none.
func (k ControlKind) LevelName() string { return controlLevelNames[k.Level] }

// TypeName is the type's name, or "" when it has none.
func (k ControlKind) TypeName() string { return controlTypeNames[k] }

// ParseControlLevel is the number of a control message level's name.
func ParseControlLevel(name string) (int, bool) {
	n, ok := controlLevelNumbers[name]
	return n, ok
}

// ParseControlType is the number of a type's name at a level (a number,
// since a sender may give the level by number and the type by name).
func ParseControlType(level int, name string) (int, bool) {
	k, ok := controlKindsByName[controlLevelNames[level]+"/"+name]
	return k.Type, ok
}

// intKinds are the control messages whose value is one integer, which a
// sender may give as a number (or, for ip tos, by name): the engine encodes
// these from an int, the others from values of their own or raw data.
var intKinds = map[ControlKind]bool{
	{unix.IPPROTO_IP, unix.IP_TOS}:          true,
	{unix.IPPROTO_IP, unix.IP_TTL}:          true,
	{unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT}: true,
	{unix.IPPROTO_IPV6, unix.IPV6_TCLASS}:   true,
}

// IntValued reports whether the kind's value is one integer.
func (k ControlKind) IntValued() bool { return intKinds[k] }

// IntControlNames lists the kinds whose value is one integer, as
// LEVEL/TYPE, sorted.
func IntControlNames() []string {
	var names []string
	for k := range intKinds {
		names = append(names, k.LevelName()+"/"+k.TypeName())
	}
	slices.Sort(names)
	return names
}

// tosKind is ip tos, the one control message whose values have names: those
// of the ip tos option (lowdelay, ...).
var tosKind = ControlKind{unix.IPPROTO_IP, unix.IP_TOS}

// ValueName is the name of an integer value of the kind's messages, or ""
// when it has none.
func (k ControlKind) ValueName(v int) string {
	if k != tosKind {
		return ""
	}
	return TOS(v).Name()
}

// ParseValue is the integer value a name stands for in the kind's messages.
func (k ControlKind) ParseValue(name string) (int, bool) {
	if k != tosKind {
		return 0, false
	}
	tos, ok := ParseTOS(name)
	return int(tos), ok
}

// ControlNames lists the names a sender may give, as LEVEL/TYPE, sorted.
func ControlNames() []string {
	names := make([]string, 0, len(controlKindsByName))
	for name := range controlKindsByName {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
