package server

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func inet(addr string, port uint32) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet{Inet: &sockdv1.InetAddr{Host: &sockdv1.InetAddr_Address{Address: addr}, Port: port}}}
}

func inet6(addr string, port, flow uint32) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet6{Inet6: &sockdv1.Inet6Addr{Host: &sockdv1.Inet6Addr_Address{Address: addr}, Port: port, Flowinfo: flow}}}
}

func local(path string) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: []byte(path)}}}
}

func shortcut(s sockdv1.AddrShortcut) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Shortcut{Shortcut: s}}
}

func TestDecodeAddr(t *testing.T) {
	tests := []struct {
		name   string
		in     *sockdv1.SockAddr
		domain int
		want   engine.SockAddr
	}{
		{"inet", inet("127.0.0.1", 8080), unix.AF_INET, engine.SockAddr{Family: engine.FamilyInet, Addr: netip.MustParseAddr("127.0.0.1"), Port: 8080}},
		{"inet6 flowinfo", inet6("::1", 80, 7), unix.AF_INET6, engine.SockAddr{Family: engine.FamilyInet6, Addr: netip.IPv6Loopback(), Port: 80, Flowinfo: 7}},
		{"any on inet", shortcut(sockdv1.AddrShortcut_ADDR_SHORTCUT_ANY), unix.AF_INET, engine.SockAddr{Family: engine.FamilyInet, Addr: netip.IPv4Unspecified()}},
		{"loopback on inet6", shortcut(sockdv1.AddrShortcut_ADDR_SHORTCUT_LOOPBACK), unix.AF_INET6, engine.SockAddr{Family: engine.FamilyInet6, Addr: netip.IPv6Loopback()}},
		{"broadcast", shortcut(sockdv1.AddrShortcut_ADDR_SHORTCUT_BROADCAST), unix.AF_INET, engine.SockAddr{Family: engine.FamilyInet, Addr: netip.AddrFrom4([4]byte{255, 255, 255, 255})}},
		{"local", local("/tmp/x.sock"), unix.AF_UNIX, engine.SockAddr{Family: engine.FamilyLocal, Path: []byte("/tmp/x.sock")}},
		{"abstract", local("\x00name"), unix.AF_UNIX, engine.SockAddr{Family: engine.FamilyLocal, Path: []byte("\x00name")}},
		// An abstract name has all of sun_path, its leading NUL included.
		{"abstract of 108 bytes", local("\x00" + strings.Repeat("a", 107)), unix.AF_UNIX, engine.SockAddr{Family: engine.FamilyLocal, Path: []byte("\x00" + strings.Repeat("a", 107))}},
		{"local of 107 bytes", local("/" + strings.Repeat("a", 106)), unix.AF_UNIX, engine.SockAddr{Family: engine.FamilyLocal, Path: []byte("/" + strings.Repeat("a", 106))}},
		// One trailing NUL is dropped, as Erlang's NIF drops it.
		{"local with its NUL", local("/tmp/x.sock\x00"), unix.AF_UNIX, engine.SockAddr{Family: engine.FamilyLocal, Path: []byte("/tmp/x.sock")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bad := decodeAddr(tt.in, tt.domain)
			if bad != nil {
				t.Fatalf("decodeAddr: %v", bad)
			}
			if got.Family != tt.want.Family || got.Addr != tt.want.Addr || got.Port != tt.want.Port ||
				got.Flowinfo != tt.want.Flowinfo || !bytes.Equal(got.Path, tt.want.Path) {
				t.Fatalf("decodeAddr = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeAddrRejects(t *testing.T) {
	tests := []struct {
		name   string
		in     *sockdv1.SockAddr
		domain int
		reason string // "invalid" or a posix name
	}{
		{"no family", &sockdv1.SockAddr{}, unix.AF_INET, "invalid"},
		{"nil", nil, unix.AF_INET, "invalid"},
		{"bad inet", inet("300.1.1.1", 1), unix.AF_INET, "invalid"},
		{"inet6 text in inet", inet("::1", 1), unix.AF_INET, "invalid"},
		{"inet port range", inet("127.0.0.1", 70000), unix.AF_INET, "invalid"},
		{"inet6 zone", inet6("fe80::1%eth0", 1, 0), unix.AF_INET6, "invalid"},
		{"inet6 flowinfo range", inet6("::1", 1, 0x100000), unix.AF_INET6, "invalid"},
		{"inet6 v4 text", inet6("127.0.0.1", 1, 0), unix.AF_INET6, "invalid"},
		{"local too long", local("/" + strings.Repeat("a", 107)), unix.AF_UNIX, "invalid"},
		{"local NUL inside", local("/tmp/a\x00b"), unix.AF_UNIX, "invalid"},
		{"local two trailing NULs", local("/tmp/a\x00\x00"), unix.AF_UNIX, "invalid"},
		{"local only a NUL's place", local("/" + strings.Repeat("a", 106) + "\x00\x00"), unix.AF_UNIX, "invalid"},
		{"abstract too long", local("\x00" + strings.Repeat("a", 108)), unix.AF_UNIX, "invalid"},
		{"shortcut on local", shortcut(sockdv1.AddrShortcut_ADDR_SHORTCUT_ANY), unix.AF_UNIX, "eafnosupport"},
		{"broadcast on inet6", shortcut(sockdv1.AddrShortcut_ADDR_SHORTCUT_BROADCAST), unix.AF_INET6, "invalid"},
		{"native", &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Native{Native: &sockdv1.NativeAddr{Family: 17}}}, unix.AF_INET, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, bad := decodeAddr(tt.in, tt.domain)
			if bad == nil {
				t.Fatal("accepted")
			}
			if bad.Reason != tt.reason {
				t.Fatalf("reason %q, want %q (%v)", bad.Reason, tt.reason, bad)
			}
		})
	}
}

// FuzzDecodeAddr feeds arbitrary wire bytes through the protobuf decoder and
// the address decoder: no input may panic, and an accepted address must
// survive an encode/decode round trip.
func FuzzDecodeAddr(f *testing.F) {
	for _, a := range []*sockdv1.SockAddr{
		inet("127.0.0.1", 80), inet6("::1", 443, 1), local("/tmp/s"), local("\x00abs"),
		shortcut(sockdv1.AddrShortcut_ADDR_SHORTCUT_ANY),
	} {
		b, _ := proto.Marshal(a)
		f.Add(b, int(unix.AF_INET))
		f.Add(b, int(unix.AF_INET6))
	}
	f.Fuzz(func(t *testing.T, wire []byte, domain int) {
		var a sockdv1.SockAddr
		if proto.Unmarshal(wire, &a) != nil {
			return
		}
		sa, bad := decodeAddr(&a, domain)
		if bad != nil {
			return
		}
		again, bad := decodeAddr(encodeAddr(&sa), domain)
		if bad != nil {
			t.Fatalf("round trip of %+v rejected: %v", sa, bad)
		}
		if again.Family != sa.Family || again.Addr != sa.Addr || again.Port != sa.Port || !bytes.Equal(again.Path, sa.Path) {
			t.Fatalf("round trip changed %+v to %+v", sa, again)
		}
	})
}
