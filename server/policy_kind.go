package server

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/sockd/sockd/internal/enumname"
)

// socketKind is an entry of a rule's open list: "DOMAIN TYPE [PROTOCOL]",
// each a name, a number or "*"; -1 is any. A "*" domain is inet, inet6 or
// local: a protocol named for those families means something else in
// others (6 is tcp in inet, NETLINK_XFRM in netlink), so other families
// must be given by number. A "*" protocol is any but raw (255), whose
// sockets write whole IP headers: that one must be named.
type socketKind struct{ domain, typ, protocol int }

func parseSocketKind(s string) (socketKind, error) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return socketKind{}, fmt.Errorf("%q: want DOMAIN TYPE [PROTOCOL]", s)
	}
	if len(f) == 2 {
		f = append(f, "*")
	}
	var k socketKind
	var err error
	if k.domain, err = kindField(f[0], "domain", domains); err != nil {
		return socketKind{}, err
	}
	if k.typ, err = kindField(f[1], "type", types); err != nil {
		return socketKind{}, err
	}
	if k.protocol, err = kindField(f[2], "protocol", protocols); err != nil {
		return socketKind{}, err
	}
	k.protocol = defaultProtocol(k.domain, k.typ, k.protocol)
	return k, nil
}

// kindField parses "*", a number, or the name the API's enum gives
// (DOMAIN_INET is "inet"), resolved through the same table Open uses.
func kindField[E protoEnum](s, what string, table map[E]int) (int, error) {
	if s == "*" {
		return -1, nil
	}
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return int(n), nil
	}
	var zero E
	if v, ok := enumname.Parse(zero.Descriptor(), s); ok {
		if n, ok := table[E(v)]; ok {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s %q: not a name the API knows, a number or *", what, s)
}

// defaultProtocol resolves protocol 0 of an inet stream, dgram or seqpacket
// socket to the one the kernel picks, so that "inet stream" opened with
// protocol 0 and a rule naming tcp agree.
func defaultProtocol(domain, typ, protocol int) int {
	if protocol != 0 || (domain != unix.AF_INET && domain != unix.AF_INET6) {
		return protocol
	}
	switch typ {
	case unix.SOCK_STREAM:
		return unix.IPPROTO_TCP
	case unix.SOCK_DGRAM:
		return unix.IPPROTO_UDP
	case unix.SOCK_SEQPACKET:
		return unix.IPPROTO_SCTP
	}
	return protocol
}

func (k socketKind) matches(domain, typ, protocol int) bool {
	protocol = defaultProtocol(domain, typ, protocol)
	return (k.domain == domain || k.domain < 0 && wildcardDomain(domain)) &&
		(k.typ < 0 || k.typ == typ) &&
		(k.protocol == protocol || k.protocol < 0 && protocol != unix.IPPROTO_RAW)
}

// wildcardDomain reports whether a "*" domain covers domain.
func wildcardDomain(domain int) bool {
	return domain == unix.AF_INET || domain == unix.AF_INET6 || domain == unix.AF_UNIX
}

// String spells the kind as a rule's open list does: "inet stream tcp".
func (k socketKind) String() string {
	field := func(n int, name func(int) string) string {
		if n < 0 {
			return "*"
		}
		return name(n)
	}
	return field(k.domain, func(n int) string { return kindName(n, domains) }) + " " +
		field(k.typ, func(n int) string { return kindName(n, types) }) + " " +
		field(k.protocol, func(n int) string { return kindName(n, protocols) })
}

// kindName spells a domain, type or protocol number as the API's enum
// names it, or as the number.
func kindName[E protoEnum](n int, table map[E]int) string {
	if e, ok := reverse(table, n); ok {
		return enumname.Of(e.Descriptor(), protoreflect.EnumNumber(e))
	}
	return strconv.Itoa(n)
}

// protoEnum is a generated protobuf enum type.
type protoEnum interface {
	~int32
	Descriptor() protoreflect.EnumDescriptor
}
