package client

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestParseDomain(t *testing.T) {
	tests := []struct {
		in   string
		want Domain
	}{
		{"inet", Inet},
		{"inet6", Inet6},
		{"local", Local},
		{"17", Domain{Number: 17}},
		{"0", Domain{}},
	}
	for _, tt := range tests {
		got, err := ParseDomain(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseDomain(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "INET", "unix", "unspecified", "-1", "inet4", "99999999999"} {
		if got, err := ParseDomain(in); err == nil {
			t.Errorf("ParseDomain(%q) = %v, want an error", in, got)
		}
	}
	_, err := ParseDomain("unix")
	if want := `invalid domain "unix": want inet, inet6, local or a number`; err.Error() != want {
		t.Errorf("ParseDomain error = %q, want %q", err, want)
	}
}

func TestParseType(t *testing.T) {
	tests := []struct {
		in   string
		want Type
	}{
		{"stream", Stream},
		{"dgram", Dgram},
		{"seqpacket", SeqPacket},
		{"raw", Raw},
		{"rdm", Type{Enum: sockdv1.Type_TYPE_RDM}},
		{"10", Type{Number: 10}},
	}
	for _, tt := range tests {
		got, err := ParseType(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseType(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if got, err := ParseType("datagram"); err == nil {
		t.Errorf("ParseType(datagram) = %v, want an error", got)
	}
}

func TestParseProtocol(t *testing.T) {
	tests := []struct {
		in   string
		want Protocol
	}{
		{"default", DefaultProtocol},
		{"0", DefaultProtocol},
		{"tcp", TCP},
		{"udp", UDP},
		{"sctp", SCTP},
		{"ip", Protocol{Enum: sockdv1.Protocol_PROTOCOL_IP}},
		{"icmpv6", Protocol{Enum: sockdv1.Protocol_PROTOCOL_ICMPV6}},
		{"mptcp", Protocol{Enum: sockdv1.Protocol_PROTOCOL_MPTCP}},
		{"132", Protocol{Number: 132}},
	}
	for _, tt := range tests {
		got, err := ParseProtocol(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseProtocol(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := ParseProtocol("tcp6"); err == nil || !strings.Contains(err.Error(), "want default, ip, tcp, udp, sctp") {
		t.Errorf("ParseProtocol(tcp6) error = %v, want a list of protocols, default first", err)
	}
	if _, err := ParseProtocol("-1"); err == nil || !strings.Contains(err.Error(), "must not be negative") {
		t.Errorf("ParseProtocol(-1) error = %v, want a negative number refused as such", err)
	}
}

func TestNamesString(t *testing.T) {
	tests := []struct {
		in   interface{ String() string }
		want string
	}{
		{Inet6, "inet6"},
		{Domain{Number: 17}, "17"},
		{SeqPacket, "seqpacket"},
		{Type{Number: 10}, "10"},
		{DefaultProtocol, "default"},
		{UDP, "udp"},
		{Protocol{Number: 132}, "132"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseHow(t *testing.T) {
	tests := map[string]sockdv1.ShutdownHow{
		"read":       sockdv1.ShutdownHow_SHUTDOWN_HOW_READ,
		"write":      sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE,
		"read_write": sockdv1.ShutdownHow_SHUTDOWN_HOW_READ_WRITE,
	}
	for in, want := range tests {
		if got, err := ParseHow(in); err != nil || got != want {
			t.Errorf("ParseHow(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	_, err := ParseHow("both")
	if want := `invalid shutdown direction "both": want read, write, read_write`; err == nil || err.Error() != want {
		t.Errorf("ParseHow(both) error = %v, want %q", err, want)
	}
}

func TestParseOperationAndMsgFlag(t *testing.T) {
	if got, err := ParseOperation("recvfrom"); err != nil || got != sockdv1.Operation_OPERATION_RECVFROM {
		t.Errorf("ParseOperation(recvfrom) = %v, %v", got, err)
	}
	if _, err := ParseOperation("unspecified"); err == nil {
		t.Error("ParseOperation(unspecified) succeeded")
	}
	if got, err := ParseMsgFlag("peek"); err != nil || got != sockdv1.MsgFlag_MSG_FLAG_PEEK {
		t.Errorf("ParseMsgFlag(peek) = %v, %v", got, err)
	}
	if got, err := ParseMsgFlag("cmsg_cloexec"); err != nil || got != sockdv1.MsgFlag_MSG_FLAG_CMSG_CLOEXEC {
		t.Errorf("ParseMsgFlag(cmsg_cloexec) = %v, %v", got, err)
	}
}

func TestEnumName(t *testing.T) {
	tests := []struct {
		in   protoreflect.Enum
		want string
	}{
		{sockdv1.Operation_OPERATION_ACCEPT, "accept"},
		{sockdv1.ShutdownHow_SHUTDOWN_HOW_READ_WRITE, "read_write"},
		{sockdv1.SocketError_KIND_POSIX, "posix"},
		{sockdv1.AsyncMode_ASYNC_MODE_COMPLETION, "completion"},
		{sockdv1.AddrShortcut_ADDR_SHORTCUT_BROADCAST, "broadcast"},
		{sockdv1.Operation(99), "99"},
	}
	for _, tt := range tests {
		if got := EnumName(tt.in); got != tt.want {
			t.Errorf("EnumName(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParseNames: a domain, type or protocol parses to a name, whose
// EnumName parses back to it, or to a non-negative number, or is refused.
func FuzzParseNames(f *testing.F) {
	for _, s := range []string{"inet", "inet6", "local", "stream", "dgram", "tcp", "udp", "ip", "default", "17", "-1", "INET", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := ParseDomain(s); err == nil {
			if d.Number < 0 || (d.Enum != 0 && d.Number != 0) {
				t.Fatalf("ParseDomain(%q) = %+v", s, d)
			}
			if d.Enum != 0 {
				if back, err := ParseDomainName(EnumName(d.Enum)); err != nil || back != d.Enum {
					t.Fatalf("domain %v does not parse back: %v %v", d.Enum, back, err)
				}
			}
		}
		if ty, err := ParseType(s); err == nil && ty.Enum != 0 {
			if back, err := ParseTypeName(EnumName(ty.Enum)); err != nil || back != ty.Enum {
				t.Fatalf("type %v does not parse back: %v %v", ty.Enum, back, err)
			}
		}
		if p, err := ParseProtocol(s); err == nil && p.Enum != 0 {
			if back, err := ParseProtocolName(EnumName(p.Enum)); err != nil || back != p.Enum {
				t.Fatalf("protocol %v does not parse back: %v %v", p.Enum, back, err)
			}
		}
	})
}
