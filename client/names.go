package client

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sockd/sockd/internal/enumname"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Domain is a socket's address family: a named domain, or, as Erlang allows,
// a raw AF_* number for a family sockd has no name for.
type Domain struct {
	Enum   sockdv1.Domain // the named domain, or DOMAIN_UNSPECIFIED
	Number int32          // the AF_* number, used when Enum is unspecified
}

// Type is a socket's type: a named type or a raw SOCK_* number.
type Type struct {
	Enum   sockdv1.Type // the named type, or TYPE_UNSPECIFIED
	Number int32        // the SOCK_* number, used when Enum is unspecified
}

// Protocol is a socket's protocol: a named protocol or a raw IPPROTO_*
// number. The zero Protocol is the default protocol of the domain and type.
type Protocol struct {
	Enum   sockdv1.Protocol // the named protocol, or PROTOCOL_UNSPECIFIED
	Number int32            // the IPPROTO_* number, used when Enum is unspecified
}

// The common domains, types and protocols. Parse the others by name.
var (
	Inet  = Domain{Enum: sockdv1.Domain_DOMAIN_INET}
	Inet6 = Domain{Enum: sockdv1.Domain_DOMAIN_INET6}
	Local = Domain{Enum: sockdv1.Domain_DOMAIN_LOCAL}

	Stream    = Type{Enum: sockdv1.Type_TYPE_STREAM}
	Dgram     = Type{Enum: sockdv1.Type_TYPE_DGRAM}
	SeqPacket = Type{Enum: sockdv1.Type_TYPE_SEQPACKET}
	Raw       = Type{Enum: sockdv1.Type_TYPE_RAW}

	DefaultProtocol = Protocol{}
	TCP             = Protocol{Enum: sockdv1.Protocol_PROTOCOL_TCP}
	UDP             = Protocol{Enum: sockdv1.Protocol_PROTOCOL_UDP}
	SCTP            = Protocol{Enum: sockdv1.Protocol_PROTOCOL_SCTP}
)

// String returns the Erlang name ("inet") or the number.
func (d Domain) String() string { return nameOrNumber(d.Enum, d.Number) }

// String returns the Erlang name ("stream") or the number.
func (t Type) String() string { return nameOrNumber(t.Enum, t.Number) }

// String returns the Erlang name ("tcp"), "default", or the number.
func (p Protocol) String() string {
	if p == DefaultProtocol {
		return "default"
	}
	return nameOrNumber(p.Enum, p.Number)
}

// ParseDomain parses a domain name (inet, inet6, local) or an AF_* number.
func ParseDomain(s string) (Domain, error) {
	n, num, err := parseNamed(s, "domain", sockdv1.Domain(0).Descriptor())
	return Domain{Enum: sockdv1.Domain(n), Number: num}, err
}

// ParseType parses a type name (stream, dgram, seqpacket, raw, rdm) or a
// SOCK_* number.
func ParseType(s string) (Type, error) {
	n, num, err := parseNamed(s, "type", sockdv1.Type(0).Descriptor())
	return Type{Enum: sockdv1.Type(n), Number: num}, err
}

// ParseProtocol parses a protocol name (tcp, udp, sctp, ip, ...), "default",
// or an IPPROTO_* number.
func ParseProtocol(s string) (Protocol, error) {
	if s == "default" {
		return DefaultProtocol, nil
	}
	d := sockdv1.Protocol(0).Descriptor()
	n, num, err := parseNamed(s, "protocol", d)
	if _, notNumber := strconv.ParseInt(s, 10, 32); err != nil && notNumber != nil {
		err = fmt.Errorf("invalid protocol %q: want default, %s or a number", s, strings.Join(enumNames(d), ", "))
	}
	return Protocol{Enum: sockdv1.Protocol(n), Number: num}, err
}

// ParseDomainName, ParseTypeName and ParseProtocolName parse a name only,
// for what the API takes only as its enum (which_sockets' filters).
func ParseDomainName(s string) (sockdv1.Domain, error) {
	n, err := parseEnum(s, "domain", sockdv1.Domain(0).Descriptor())
	return sockdv1.Domain(n), err
}

// ParseTypeName: see ParseDomainName.
func ParseTypeName(s string) (sockdv1.Type, error) {
	n, err := parseEnum(s, "type", sockdv1.Type(0).Descriptor())
	return sockdv1.Type(n), err
}

// ParseProtocolName: see ParseDomainName.
func ParseProtocolName(s string) (sockdv1.Protocol, error) {
	n, err := parseEnum(s, "protocol", sockdv1.Protocol(0).Descriptor())
	return sockdv1.Protocol(n), err
}

// ParseHow parses the direction of Shutdown: read, write or read_write.
func ParseHow(s string) (sockdv1.ShutdownHow, error) {
	n, err := parseEnum(s, "shutdown direction", sockdv1.ShutdownHow(0).Descriptor())
	return sockdv1.ShutdownHow(n), err
}

// ParseOperation parses an operation name: accept, connect, recv, recvfrom,
// recvmsg, send, sendto, sendmsg.
func ParseOperation(s string) (sockdv1.Operation, error) {
	n, err := parseEnum(s, "operation", sockdv1.Operation(0).Descriptor())
	return sockdv1.Operation(n), err
}

// ParseMsgFlag parses a send/recv flag name such as peek, oob or waitall.
func ParseMsgFlag(s string) (sockdv1.MsgFlag, error) {
	n, err := parseEnum(s, "message flag", sockdv1.MsgFlag(0).Descriptor())
	return sockdv1.MsgFlag(n), err
}

// EnumName returns the Erlang-style name of a sockd enum value: its proto
// name without the enum's prefix, in lower case (OPERATION_RECV is "recv",
// SHUTDOWN_HOW_READ_WRITE is "read_write"). A value the descriptor does not
// know prints as its number.
func EnumName(e protoreflect.Enum) string {
	return enumname.Of(e.Descriptor(), e.Number())
}

func nameOrNumber(e protoreflect.Enum, number int32) string {
	if e.Number() != 0 {
		return EnumName(e)
	}
	return strconv.Itoa(int(number))
}

// parseNamed parses a name of d or a non-negative raw number; exactly one of
// the results is non-zero on success.
func parseNamed(s, what string, d protoreflect.EnumDescriptor) (protoreflect.EnumNumber, int32, error) {
	if num, err := strconv.ParseInt(s, 10, 32); err == nil {
		if num < 0 {
			return 0, 0, fmt.Errorf("invalid %s %q: must not be negative", what, s)
		}
		return 0, int32(num), nil
	}
	n, err := parseEnum(s, what, d)
	if err != nil {
		return 0, 0, fmt.Errorf("%w or a number", err)
	}
	return n, 0, nil
}

// parseEnum looks s up among the names EnumName gives d's values.
func parseEnum(s, what string, d protoreflect.EnumDescriptor) (protoreflect.EnumNumber, error) {
	prefix := enumname.Prefix(d)
	if s != "" && s == strings.ToLower(s) {
		if v := d.Values().ByName(protoreflect.Name(prefix + strings.ToUpper(s))); v != nil && v.Number() != 0 {
			return v.Number(), nil
		}
	}
	return 0, fmt.Errorf("invalid %s %q: want %s", what, s, strings.Join(enumNames(d), ", "))
}

// enumNames lists the names of d's values, without the unspecified zero.
func enumNames(d protoreflect.EnumDescriptor) []string {
	prefix := enumname.Prefix(d)
	values := d.Values()
	names := make([]string, 0, values.Len()-1)
	for i := range values.Len() {
		if v := values.Get(i); v.Number() != 0 {
			names = append(names, strings.ToLower(strings.TrimPrefix(string(v.Name()), prefix)))
		}
	}
	return names
}

// ParseOptionLevel parses an option level: otp, socket, ip, ipv6, tcp, udp
// or sctp.
func ParseOptionLevel(s string) (sockdv1.OptionLevel, error) {
	n, err := parseEnum(s, "option level", sockdv1.OptionLevel(0).Descriptor())
	return sockdv1.OptionLevel(n), err
}
