package options

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// TestCodecRoundTrips encodes a value of every type and decodes it back.
func TestCodecRoundTrips(t *testing.T) {
	mc := netip.MustParseAddr("224.0.0.1")
	lo := netip.MustParseAddr("127.0.0.1")
	cases := []struct {
		typ ValueType
		v   any
	}{
		{TypeBool, true},
		{TypeBool, false},
		{TypeInt, -5},
		{TypeNonNegInt, 1 << 20},
		{TypeUint8, 255},
		{TypeDomain, 2},
		{TypeType, 1},
		{TypeProtocol, 6},
		{TypeString, "lo"},
		{TypeString, ""},
		{TypeLinger, Linger{OnOff: true, Seconds: 5}},
		{TypeLinger, Linger{OnOff: true}},
		{TypeTimeval, Timeval{Sec: 3, Usec: 999_999}},
		{TypeIPMreq, IPMreq{Multiaddr: mc, Interface: lo}},
		{TypeIPMreqSource, IPMreqSource{Multiaddr: mc, Interface: lo, Source: netip.MustParseAddr("127.0.0.2")}},
		{TypeIPMsfilter, &IPMsfilter{Multiaddr: mc, Interface: lo, Exclude: true, Sources: []netip.Addr{lo, netip.MustParseAddr("127.0.0.9")}}},
		{TypeIPMsfilter, (*IPMsfilter)(nil)},
		{TypeIPPMTUDisc, PMTUDisc(2)},
		{TypeIPv6PMTUDisc, PMTUDisc(3)},
		{TypeIPTOS, TOS(0x10)},
		{TypeIPTOS, TOS(0xb8)},
		{TypeIPMulticastIf, lo},
		{TypeIPv6Mreq, IPv6Mreq{Multiaddr: netip.MustParseAddr("ff02::1"), Interface: 1}},
		{TypeIPv6Hops, Hops(64)},
		{TypeIPv6Hops, HopsDefault},
		{TypeIPv6AddrForm, 2},
		{TypeSCTPAssocParams, SCTPAssocParams{AssocID: 7, AsocMaxRxt: 10, NumberPeerDestinations: 2, PeerRwnd: 1 << 16, LocalRwnd: 1 << 17, CookieLife: 60000}},
		{TypeSCTPEventSubscribe, SCTPEventSubscribe{DataIO: true, Shutdown: true, SenderDry: true}},
		{TypeSCTPInitMsg, SCTPInitMsg{NumOstreams: 10, MaxInstreams: 11, MaxAttempts: 4, MaxInitTimeo: 3000}},
		{TypeSCTPRtoInfo, SCTPRtoInfo{AssocID: 1, Initial: 3000, Max: 60000, Min: 1000}},
		{TypeUcred, Ucred{Pid: 42, Uid: 1000, Gid: 100}},
	}
	covered := map[ValueType]bool{}
	for _, c := range cases {
		b, err := encodeAs(c.typ, c.v)
		if err != nil {
			t.Errorf("encodeAs(%s, %v): %v", c.typ, c.v, err)
			continue
		}
		got, err := decodeAs(c.typ, b)
		if err != nil {
			t.Errorf("decodeAs(%s, %x): %v", c.typ, b, err)
			continue
		}
		if !reflect.DeepEqual(got, c.v) {
			t.Errorf("%s: round trip of %#v gave %#v", c.typ, c.v, got)
		}
		covered[c.typ] = true
	}
	for typ := range codecs {
		if !covered[typ] {
			t.Errorf("no round-trip case for %s", typ)
		}
	}
}

// TestEncodeRejectsBadValues: each malformed value is a valueErr naming why.
func TestEncodeRejectsBadValues(t *testing.T) {
	cases := []struct {
		typ  ValueType
		v    any
		want string
	}{
		{TypeBool, 1, "boolean"},
		{TypeInt, 1 << 40, "out of range"},
		{TypeNonNegInt, -1, "out of range"},
		{TypeUint8, 256, "out of range"},
		{TypeString, strings.Repeat("x", 16), "longer than 15"},
		{TypeString, "a\x00b", "NUL"},
		{TypeLinger, Linger{Seconds: -1}, "out of range"},
		{TypeLinger, true, "abort"},
		{TypeTimeval, Timeval{Usec: 1_000_000}, "usec"},
		{TypeIPMreq, IPMreq{Multiaddr: netip.MustParseAddr("::1")}, "want an IPv4 address"},
		{TypeIPMreq, IPMreq{Multiaddr: netip.MustParseAddr("ff02::1")}, "IPv4"},
		{TypeIPMreqSource, IPMreqSource{Multiaddr: netip.MustParseAddr("232.1.1.1")}, "sourceaddr"},
		{TypeIPMsfilter, &IPMsfilter{Multiaddr: netip.MustParseAddr("232.1.1.1"), Sources: make([]netip.Addr, maxMsfSource+1)}, "sources"},
		{TypeIPPMTUDisc, PMTUDisc(9), "out of range"},
		{TypeIPTOS, TOS(300), "out of range"},
		{TypeIPMulticastIf, netip.MustParseAddr("::1"), "IPv4"},
		{TypeIPv6Mreq, IPv6Mreq{Multiaddr: netip.MustParseAddr("224.0.0.1")}, "want an IPv6 address"},
		{TypeIPv6Hops, Hops(-2), "out of range"},
		{TypeIPv6Hops, Hops(256), "out of range"},
		{TypeIPv6AddrForm, 10, "inet"},
		{TypeSCTPInitMsg, 5, "sctp_initmsg"},
	}
	for _, c := range cases {
		_, err := encodeAs(c.typ, c.v)
		var bad *valueErr
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("encodeAs(%s, %v) = %v, want a value error mentioning %q", c.typ, c.v, err, c.want)
		}
	}
}

// TestDecodeRejectsShortInput: the kernel's answer is checked, not trusted.
func TestDecodeRejectsShortInput(t *testing.T) {
	for typ := range codecs {
		if typ == TypeString || typ == TypeIPMsfilter {
			continue // any length is a string; empty is null
		}
		if _, err := decodeAs(typ, []byte{1, 2, 3}); err == nil {
			t.Errorf("decodeAs(%s, 3 bytes) accepted", typ)
		}
	}
	// A source count that claims more than the bytes hold.
	b, _ := encodeAs(TypeIPMsfilter, &IPMsfilter{Multiaddr: netip.MustParseAddr("232.1.1.1")})
	b[12] = 200
	if _, err := decodeAs(TypeIPMsfilter, b); err == nil {
		t.Error("decodeAs(ip_msfilter) accepted a count past the end")
	}
}

// TestNamesOfTOSAndPMTUDisc: getopt answers names where Erlang does.
func TestNamesOfTOSAndPMTUDisc(t *testing.T) {
	for _, name := range []string{"lowdelay", "throughput", "reliability", "mincost"} {
		v, ok := ParseTOS(name)
		if !ok || v.Name() != name {
			t.Errorf("TOS %s: %v %v", name, v, ok)
		}
	}
	for _, name := range []string{"want", "dont", "do", "probe"} {
		v, ok := ParsePMTUDisc(name)
		if !ok || v.Name() != name {
			t.Errorf("PMTUDisc %s: %v %v", name, v, ok)
		}
	}
	if TOS(0xb8).Name() != "" {
		t.Error("an unnamed TOS has a name")
	}
}

// encodeAs validates v as a value of type t and returns the bytes setsockopt
// takes, as Set does for an option of that type.
func encodeAs(t ValueType, v any) ([]byte, error) {
	c, ok := codecs[t]
	if !ok {
		return nil, badValue(v, "type %s has no socket encoding", t)
	}
	return c.encode(v)
}

// decodeAs parses the bytes getsockopt answered as a value of type t, as Get
// does for an option of that type.
func decodeAs(t ValueType, b []byte) (any, error) {
	c, ok := codecs[t]
	if !ok {
		return nil, badValue(b, "type %s has no socket encoding", t)
	}
	return c.decode(b)
}
