package options

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Erlang's names for the domains, types and protocols of requirements.
var (
	domainName   = map[int]string{unix.AF_INET: "inet", unix.AF_INET6: "inet6", unix.AF_UNIX: "local"}
	typeName     = map[int]string{unix.SOCK_STREAM: "stream", unix.SOCK_DGRAM: "dgram", unix.SOCK_RAW: "raw", unix.SOCK_SEQPACKET: "seqpacket"}
	protocolName = map[int]string{unix.IPPROTO_TCP: "tcp", unix.IPPROTO_UDP: "udp", unix.IPPROTO_SCTP: "sctp"}
)

func domainNames(v []int) string   { return joinNames(domainName, v) }
func typeNamesOf(v []int) string   { return joinNames(typeName, v) }
func protocolNames(v []int) string { return joinNames(protocolName, v) }

func joinNames(names map[int]string, v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = nameOr(names, n)
	}
	return strings.Join(parts, " | ")
}

// Describe is the requirements in the seed's words, e.g. "type = dgram".
func (r Requirements) Describe() string {
	var parts []string
	if len(r.Domains) > 0 {
		parts = append(parts, "domain = "+domainNames(r.Domains))
	}
	if len(r.Types) > 0 {
		parts = append(parts, "type = "+typeNamesOf(r.Types))
	}
	if len(r.NotTypes) > 0 {
		parts = append(parts, "type =/= "+typeNamesOf(r.NotTypes))
	}
	if len(r.Protocols) > 0 {
		parts = append(parts, "protocol = "+protocolNames(r.Protocols))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// DomainName is Erlang's name of a domain (inet, inet6, local), or its
// number.
func DomainName(domain int) string { return nameOr(domainName, domain) }

// TypeName is Erlang's name of a socket type (stream, dgram, raw,
// seqpacket), or its number.
func TypeName(typ int) string { return nameOr(typeName, typ) }

// ProtocolName is Erlang's name of a protocol (tcp, udp, sctp), "ip" for 0,
// or its number.
func ProtocolName(protocol int) string {
	if protocol == 0 {
		return "ip"
	}
	return nameOr(protocolName, protocol)
}

func nameOr(names map[int]string, n int) string {
	if s, ok := names[n]; ok {
		return s
	}
	return strconv.Itoa(n)
}
