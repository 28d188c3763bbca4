package engine

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSockAddrRoundTrip(t *testing.T) {
	for _, sa := range []SockAddr{
		{Family: FamilyInet, Addr: netip.MustParseAddr("192.0.2.7"), Port: 80},
		{Family: FamilyInet6, Addr: netip.MustParseAddr("2001:db8::1"), Port: 443, Flowinfo: 0x12345, ScopeID: 3},
		{Family: FamilyInet6, Addr: netip.MustParseAddr("::ffff:192.0.2.7"), Port: 1},
		{Family: FamilyLocal, Path: []byte("/run/sockd.sock")},
		{Family: FamilyLocal, Path: []byte("\x00abstract\x00with nul")},
		{Family: FamilyLocal, Path: []byte{}},
	} {
		var r rawSockaddr
		if err := sa.encode(&r); err != nil {
			t.Fatalf("encode %+v: %v", sa, err)
		}
		got := r.decode()
		if !reflect.DeepEqual(*got, sa) {
			t.Errorf("round trip %+v -> %+v", sa, *got)
		}
	}
}

func TestSockAddrEncodingRules(t *testing.T) {
	// An IPv4 address for an inet6 socket is used in its mapped form.
	v4 := SockAddr{Family: FamilyInet6, Addr: netip.MustParseAddr("192.0.2.7")}
	r, err := v4.raw()
	if err != nil || r.decode().Addr != netip.MustParseAddr("::ffff:192.0.2.7") {
		t.Fatalf("mapped: %v %+v", err, r)
	}
	// A mapped address for an inet socket is unmapped.
	m := SockAddr{Family: FamilyInet, Addr: netip.MustParseAddr("::ffff:192.0.2.7")}
	if r, err := m.raw(); err != nil || r.decode().Addr != netip.MustParseAddr("192.0.2.7") {
		t.Fatalf("unmapped: %v", err)
	}
	for _, bad := range []SockAddr{
		{Family: FamilyInet, Addr: netip.MustParseAddr("2001:db8::1")},
		{Family: FamilyInet6},
		{Family: FamilyLocal, Path: bytes.Repeat([]byte("p"), MaxLocalPath+1)},
		{Family: FamilyLocal, Path: append([]byte{0}, bytes.Repeat([]byte("p"), MaxLocalPath+1)...)},
		{Family: FamilyLocal, Path: []byte("a\x00b")},
		{Family: Family(99)},
	} {
		_, err := bad.raw()
		wantInvalid(t, err, "sockaddr")
	}
	// The longest paths fit.
	for _, p := range [][]byte{
		bytes.Repeat([]byte("p"), MaxLocalPath),
		append([]byte{0}, bytes.Repeat([]byte("p"), MaxLocalPath)...),
		append(bytes.Repeat([]byte("p"), MaxLocalPath), 0),
	} {
		if _, err := (&SockAddr{Family: FamilyLocal, Path: p}).raw(); err != nil {
			t.Fatalf("path of %d bytes: %v", len(p), err)
		}
	}
}

func TestDecodeRawSockaddr(t *testing.T) {
	if _, err := DecodeRawSockaddr([]byte{1}); err == nil {
		t.Fatal("short input accepted")
	}
	if _, err := DecodeRawSockaddr([]byte{byte(unix.AF_INET6), 0, 1, 2}); err == nil {
		t.Fatal("short inet6 accepted")
	}
	raw := []byte{byte(unix.AF_PACKET), 0, 1, 2, 3}
	sa, err := DecodeRawSockaddr(raw)
	if err != nil || sa.Family != FamilyNative || !bytes.Equal(sa.Raw, raw) {
		t.Fatalf("unknown family: %+v %v", sa, err)
	}
	// A native address encodes back byte for byte.
	var r rawSockaddr
	if err := sa.encode(&r); err != nil || !bytes.Equal(r.bytes()[:r.len], raw) {
		t.Fatalf("native encode: %v", err)
	}
	// Unspec carries sa_data, as Erlang's #{family := unspec, addr := Bin}.
	unspec := SockAddr{Family: FamilyUnspec, Raw: []byte{9, 8, 7}}
	if err := unspec.encode(&r); err != nil || r.len != 16 || r.bytes()[0] != 0 || r.bytes()[2] != 9 {
		t.Fatalf("unspec encode: %v %d", err, r.len)
	}
	if got := r.decode(); got.Family != FamilyUnspec || !bytes.Equal(got.Raw[:3], []byte{9, 8, 7}) {
		t.Fatalf("unspec decode: %+v", got)
	}
}

func FuzzDecodeRawSockaddr(f *testing.F) {
	for _, sa := range []SockAddr{
		{Family: FamilyInet, Addr: netip.MustParseAddr("192.0.2.7"), Port: 80},
		{Family: FamilyInet6, Addr: netip.MustParseAddr("2001:db8::1"), Port: 443, ScopeID: 3},
		{Family: FamilyLocal, Path: []byte("/tmp/x")},
		{Family: FamilyLocal, Path: []byte("\x00abs")},
	} {
		var r rawSockaddr
		sa.encode(&r)
		f.Add(bytes.Clone(r.bytes()[:r.len]))
	}
	f.Add([]byte{})
	f.Add([]byte{byte(unix.AF_INET6)})
	f.Fuzz(func(t *testing.T, b []byte) {
		sa, err := DecodeRawSockaddr(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode (paths may be normalised).
		var r rawSockaddr
		if sa.Family != FamilyLocal && len(b) <= len(r.bytes()) {
			if err := sa.encode(&r); err != nil {
				t.Fatalf("decoded %+v does not encode: %v", sa, err)
			}
		}
	})
}
