package client

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// This file reads and writes option values in the readable form of
// sockctl's setopt and getopt: "true", "1500", "abort",
// "onoff=true,linger=5", "multiaddr=224.0.0.1,interface=any", "{4,8192}".
// Which form a value takes depends on its option's value type, which the
// daemon's option table gives (OptionSupport.ValueType, spelled as the
// seed spells it: "abort | linger()"). Structured values are key=value lists
// whose keys are the fields of the API's message (and of Erlang's map); a
// list field (ip_msfilter's slist) repeats its key.

// optionForm parses the readable form of one value type.
type optionForm struct {
	// want names the accepted forms in error messages.
	want  string
	parse func(text string) (*sockdv1.OptionValue, error)
}

// optionForms maps the seed's spelling of each value type to its form.
// ParseOptionValue rejects a type missing here; sockctl's tests check that
// every type of the daemon's table has an entry.
var optionForms = map[string]optionForm{
	"boolean()":         {"true or false", parseBoolValue},
	"integer()":         {"an integer", intForm(minInt32, maxInt32)},
	"non_neg_integer()": {"a non-negative integer", intForm(0, maxInt32)},
	"uint8()":           {"an integer 0..255", intForm(0, 255)},
	"string()":          {"a string", func(s string) (*sockdv1.OptionValue, error) { return stringValue(s), nil }},
	"abort | linger()":  {"abort, or onoff=BOOL,linger=SECONDS", namedOr("abort", lingerAbort, structForm(&sockdv1.Linger{}))},
	"timeval()":         {"sec=N,usec=N", structForm(&sockdv1.Timeval{})},
	"domain()":          {"a domain: inet, inet6, local", enumForm(sockdv1.Domain(0).Descriptor())},
	"type()":            {"a type: stream, dgram, seqpacket, raw", enumForm(sockdv1.Type(0).Descriptor())},
	"protocol()":        {"a protocol: tcp, udp, sctp, ...", enumForm(sockdv1.Protocol(0).Descriptor())},
	"ip_mreq()":         {"multiaddr=ADDR[,interface=ADDR|any]", structForm(&sockdv1.IpMreq{})},
	"ip_mreq_source()":  {"multiaddr=ADDR,interface=ADDR|any,sourceaddr=ADDR", structForm(&sockdv1.IpMreqSource{})},
	"null | ip_msfilter()": {"null, or multiaddr=ADDR,interface=ADDR|any,mode=include|exclude[,slist=ADDR,slist=ADDR...]",
		namedOr("null", msfilterNull, structForm(&sockdv1.IpMsfilter{}))},
	"ip_pmtudisc()":       {"want, dont, do, probe or an integer", nameOrInt(pmtudiscNames)},
	"ipv6_pmtudisc()":     {"want, dont, do, probe or an integer", nameOrInt(pmtudiscNames)},
	"ip_tos()":            {"lowdelay, throughput, reliability, mincost or an integer 0..255", nameOrInt(tosNames)},
	"any | ip4_address()": {"any or an IPv4 address", parseMulticastIf},
	"ipv6_mreq()":         {"multiaddr=ADDR,interface=INDEX", structForm(&sockdv1.Ipv6Mreq{})},
	"default | uint8()":   {"default or an integer 0..255", namedOr("default", nameValue("default"), intForm(0, 255))},
	"inet":                {"inet", namedOr("inet", nameValue("inet"), nil)},
	"sctp_assocparams()": {"assoc_id=N,asocmaxrxt=N,number_peer_destinations=N,peer_rwnd=N,local_rwnd=N,cookie_life=N",
		structForm(&sockdv1.SctpAssocParams{})},
	"sctp_event_subscribe()": {"data_io=BOOL,association=BOOL,... (one key per event)",
		structForm(&sockdv1.SctpEventSubscribe{})},
	"sctp_initmsg()": {"num_ostreams=N,max_instreams=N,max_attempts=N,max_init_timeo=N",
		structForm(&sockdv1.SctpInitMsg{})},
	"sctp_rtoinfo()": {"assoc_id=N,initial=N,max=N,min=N", structForm(&sockdv1.SctpRtoInfo{})},
	"ucred()":        {"pid=N,uid=N,gid=N (get only)", structForm(&sockdv1.Ucred{})},
	"default | pos_integer() | {pos_integer(), pos_integer()}": {"default, SIZE, or {N,SIZE} (SIZE may be default)", parseRcvBuf},
	"default | pos_integer()":                                  {"default or a positive integer", namedOr("default", nameValue("default"), intForm(1, maxInt32))},
	"pid()":                                                    {"a session id", parseSessionID},
	"term()":                                                   {"undefined, or the term's bytes as text or as a Go-quoted string (\"\\x00\\x01\")", parseTerm},
}

const (
	minInt32 = -1 << 31
	maxInt32 = 1<<31 - 1
	// maxOptionText bounds what the parser reads: the longest sensible value
	// (an msfilter with many sources) is far shorter.
	maxOptionText = 64 << 10
)

var (
	pmtudiscNames = []string{"want", "dont", "do", "probe"}
	tosNames      = []string{"lowdelay", "throughput", "reliability", "mincost"}
)

// OptionValueError says a readable option value does not parse.
type OptionValueError struct {
	ValueType string // the option's value type, as the seed spells it
	Text      string // the value as given
	Want      string // the forms the type accepts
	Reason    string // what is wrong, when more can be said than "want ..."
}

func (e *OptionValueError) Error() string {
	s := fmt.Sprintf("invalid option value %q", e.Text)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Want != "" {
		s += "; want " + e.Want
	}
	return s
}

// OptionValueForms returns the readable forms the value type accepts, for
// help and error messages, and whether ParseOptionValue knows the type.
func OptionValueForms(valueType string) (string, bool) {
	f, ok := optionForms[valueType]
	return f.want, ok
}

// ParseOptionValue parses the readable form of a value of the given type
// (the seed's spelling, as OptionSupport.ValueType carries it). It checks the
// form and what can be checked without the socket (integer ranges, address
// syntax); the daemon checks the rest.
func ParseOptionValue(valueType, text string) (*sockdv1.OptionValue, error) {
	f, ok := optionForms[valueType]
	if !ok {
		return nil, &OptionValueError{ValueType: valueType, Text: text, Reason: fmt.Sprintf("options of type %s cannot be set here", valueType)}
	}
	if len(text) > maxOptionText {
		return nil, &OptionValueError{ValueType: valueType, Text: text[:32] + "...", Want: f.want, Reason: "too long"}
	}
	v, err := f.parse(text)
	if err != nil {
		reason := err.Error()
		if errors.Is(err, errWrongForm) {
			reason = ""
		}
		return nil, &OptionValueError{ValueType: valueType, Text: text, Want: f.want, Reason: reason}
	}
	return v, nil
}

// errWrongForm says the text is none of the type's forms; the error message
// then lists them.
var errWrongForm = errors.New("wrong form")

func parseBoolValue(s string) (*sockdv1.OptionValue, error) {
	switch s {
	case "true":
		return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: true}}, nil
	case "false":
		return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: false}}, nil
	}
	return nil, errWrongForm
}

func intForm(lo, hi int64) func(string) (*sockdv1.OptionValue, error) {
	return func(s string) (*sockdv1.OptionValue, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, errWrongForm
		}
		if n < lo || n > hi {
			return nil, fmt.Errorf("%d is out of range %d..%d", n, lo, hi)
		}
		return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: n}}, nil
	}
}

func stringValue(s string) *sockdv1.OptionValue {
	return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_StringValue{StringValue: s}}
}

func nameValue(name string) func(string) (*sockdv1.OptionValue, error) {
	return func(string) (*sockdv1.OptionValue, error) {
		return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: name}}, nil
	}
}

// namedOr parses the word name with named and anything else with other (nil:
// nothing else is accepted).
func namedOr(name string, named, other func(string) (*sockdv1.OptionValue, error)) func(string) (*sockdv1.OptionValue, error) {
	return func(s string) (*sockdv1.OptionValue, error) {
		if s == name {
			return named(s)
		}
		if other == nil {
			return nil, errWrongForm
		}
		return other(s)
	}
}

// nameOrInt accepts one of names, or an integer 0..255 (tos, pmtudisc).
func nameOrInt(names []string) func(string) (*sockdv1.OptionValue, error) {
	ints := intForm(0, 255)
	return func(s string) (*sockdv1.OptionValue, error) {
		for _, n := range names {
			if s == n {
				return nameValue(n)(s)
			}
		}
		return ints(s)
	}
}

func lingerAbort(string) (*sockdv1.OptionValue, error) {
	return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_LingerAbort{LingerAbort: true}}, nil
}

func msfilterNull(string) (*sockdv1.OptionValue, error) {
	return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_MsfilterNull{MsfilterNull: true}}, nil
}

func parseMulticastIf(s string) (*sockdv1.OptionValue, error) {
	if s == "any" {
		return nameValue("any")(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return nil, errWrongForm
	}
	return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Address{Address: a.String()}}, nil
}

func parseSessionID(s string) (*sockdv1.OptionValue, error) {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, errWrongForm
	}
	return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SessionId{SessionId: s}}, nil
}

// parseTerm reads otp meta: undefined, a quoted string for any bytes, or
// the text itself.
func parseTerm(s string) (*sockdv1.OptionValue, error) {
	if s == "undefined" {
		return nameValue(s)(s)
	}
	b := []byte(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		u, err := strconv.Unquote(s)
		if err != nil {
			return nil, fmt.Errorf("%s is not a Go-quoted string", s)
		}
		b = []byte(u)
	}
	return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Term{Term: b}}, nil
}

func enumForm(d protoreflect.EnumDescriptor) func(string) (*sockdv1.OptionValue, error) {
	member := memberOf(d.FullName())
	return func(s string) (*sockdv1.OptionValue, error) {
		n, err := parseEnum(s, "name", d)
		if err != nil {
			return nil, errWrongForm
		}
		return wrapMember(member, protoreflect.ValueOfEnum(n)), nil
	}
}

// parseRcvBuf parses otp rcvbuf: default, SIZE, {N,SIZE} or N,SIZE, where
// SIZE may be default.
func parseRcvBuf(s string) (*sockdv1.OptionValue, error) {
	if s == "default" {
		return nameValue("default")(s)
	}
	if size, err := strconv.ParseInt(s, 10, 64); err == nil {
		if size < 1 || size > maxInt32 {
			return nil, fmt.Errorf("size %d is out of range 1..%d", size, maxInt32)
		}
		return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: size}}, nil
	}
	inner := s
	if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
		inner = s[1 : len(s)-1]
	}
	countText, sizeText, ok := strings.Cut(inner, ",")
	if !ok {
		return nil, errWrongForm
	}
	count, err := strconv.ParseUint(strings.TrimSpace(countText), 10, 32)
	if err != nil {
		return nil, errWrongForm
	}
	if count < 1 {
		return nil, errors.New("both N and SIZE must be positive")
	}
	if strings.TrimSpace(sizeText) == "default" {
		return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Rcvbuf{Rcvbuf: &sockdv1.RcvBuf{Count: uint32(count), UseDefault: true}}}, nil
	}
	size, err := strconv.ParseUint(strings.TrimSpace(sizeText), 10, 32)
	if err != nil {
		return nil, errWrongForm
	}
	if size < 1 || size > maxInt32 {
		return nil, errors.New("both N and SIZE must be positive")
	}
	return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Rcvbuf{Rcvbuf: &sockdv1.RcvBuf{Count: uint32(count), Size: uint32(size)}}}, nil
}

// structForm parses a key=value list into a new message of m's type and
// wraps it in an OptionValue.
func structForm(m protoreflect.ProtoMessage) func(string) (*sockdv1.OptionValue, error) {
	member := memberOf(m.ProtoReflect().Descriptor().FullName())
	return func(s string) (*sockdv1.OptionValue, error) {
		msg := m.ProtoReflect().New()
		if err := parseFields(msg, s); err != nil {
			return nil, err
		}
		return wrapMember(member, protoreflect.ValueOfMessage(msg)), nil
	}
}

// valueOneof is OptionValue's value oneof. Each message and enum type in it
// has exactly one member, so the type of a value names its member.
var valueOneof = (&sockdv1.OptionValue{}).ProtoReflect().Descriptor().Oneofs().ByName("value")

// wrapMember is v, the value of member (memberOf), as an OptionValue.
func wrapMember(member protoreflect.FieldDescriptor, v protoreflect.Value) *sockdv1.OptionValue {
	out := &sockdv1.OptionValue{}
	out.ProtoReflect().Set(member, v)
	return out
}

// memberOf is the member of valueOneof of the message or enum type typ.
func memberOf(typ protoreflect.FullName) protoreflect.FieldDescriptor {
	fields := valueOneof.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if (fd.Message() != nil && fd.Message().FullName() == typ) || (fd.Enum() != nil && fd.Enum().FullName() == typ) {
			return fd
		}
	}
	panic("OptionValue has no member of type " + string(typ))
}
