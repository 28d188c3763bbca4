package client

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func inet(host string, port uint32) *sockdv1.SockAddr {
	return inetAddr(&sockdv1.InetAddr{Host: &sockdv1.InetAddr_Address{Address: host}, Port: port})
}

func inet6(host string, port, scope uint32) *sockdv1.SockAddr {
	return inet6Addr(&sockdv1.Inet6Addr{Host: &sockdv1.Inet6Addr_Address{Address: host}, Port: port, ScopeId: scope})
}

func inetShortcut(sc sockdv1.AddrShortcut, port uint32) *sockdv1.SockAddr {
	return inetAddr(&sockdv1.InetAddr{Host: &sockdv1.InetAddr_Shortcut{Shortcut: sc}, Port: port})
}

func inet6Shortcut(sc sockdv1.AddrShortcut, port uint32) *sockdv1.SockAddr {
	return inet6Addr(&sockdv1.Inet6Addr{Host: &sockdv1.Inet6Addr_Shortcut{Shortcut: sc}, Port: port})
}

func local(path string) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: []byte(path)}}}
}

func bare(sc sockdv1.AddrShortcut) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Shortcut{Shortcut: sc}}
}

const (
	scAny       = sockdv1.AddrShortcut_ADDR_SHORTCUT_ANY
	scLoopback  = sockdv1.AddrShortcut_ADDR_SHORTCUT_LOOPBACK
	scBroadcast = sockdv1.AddrShortcut_ADDR_SHORTCUT_BROADCAST
)

func TestParseAddr(t *testing.T) {
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in     string
		want   *sockdv1.SockAddr
		format string // FormatAddr(want); "" means the input itself
	}{
		{in: "127.0.0.1:8080", want: inet("127.0.0.1", 8080)},
		{in: "127.0.0.1", want: inet("127.0.0.1", 0), format: "127.0.0.1:0"},
		{in: "0.0.0.0:65535", want: inet("0.0.0.0", 65535)},
		{in: "10.0.0.1:080", want: inet("10.0.0.1", 80), format: "10.0.0.1:80"},
		{in: "[::1]:8080", want: inet6("::1", 8080, 0)},
		{in: "[::1]", want: inet6("::1", 0, 0), format: "[::1]:0"},
		{in: "[0:0::1]:1", want: inet6("::1", 1, 0), format: "[::1]:1"},
		{in: "[fe80::1%2]:80", want: inet6("fe80::1", 80, 2)},
		{in: "[::ffff:1.2.3.4]:5", want: inet6("::ffff:1.2.3.4", 5, 0)},
		{in: "any:0", want: inetShortcut(scAny, 0)},
		{in: "loopback:80", want: inetShortcut(scLoopback, 80)},
		{in: "broadcast:67", want: inetShortcut(scBroadcast, 67)},
		{in: "[any]:0", want: inet6Shortcut(scAny, 0)},
		{in: "[loopback]:443", want: inet6Shortcut(scLoopback, 443)},
		{in: "any", want: bare(scAny)},
		{in: "loopback", want: bare(scLoopback)},
		{in: "broadcast", want: bare(scBroadcast)},
		{in: "local:/run/app.sock", want: local("/run/app.sock")},
		{in: "local:relative.sock", want: local(filepath.Join(cwd, "relative.sock")), format: "local:" + filepath.Join(cwd, "relative.sock")},
		// Joined as the kernel resolves it: ".." after a link goes through it.
		{in: "local:link/../x.sock", want: local(cwd + "/link/../x.sock"), format: "local:" + cwd + "/link/../x.sock"},
		{in: "local:@abstract", want: local("\x00abstract")},
		{in: "local:@", want: local("\x00")},
		{in: "local:/" + strings.Repeat("a", 106), want: local("/" + strings.Repeat("a", 106))},
		{in: "local:@" + strings.Repeat("a", 107), want: local("\x00" + strings.Repeat("a", 107))},
		{in: `local:"\x00a\x00b"`, want: local("\x00a\x00b")},
		{in: `local:"@literal"`, want: local(filepath.Join(cwd, "@literal")), format: "local:" + filepath.Join(cwd, "@literal")},
		{in: `local:"/tmp/new\nline"`, want: local("/tmp/new\nline")},
		{in: `local:"/plain"`, want: local("/plain"), format: "local:/plain"},
		{in: "local:", want: local(""), format: `local:""`}, // no path: autobind
		{in: `local:""`, want: local("")},
		{in: "unspec", want: &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Unspec{Unspec: &sockdv1.UnspecAddr{}}}},
		{in: "unspec:0a0b", want: &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Unspec{Unspec: &sockdv1.UnspecAddr{Addr: []byte{10, 11}}}}},
		{in: "native:17:00ff", want: &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Native{Native: &sockdv1.NativeAddr{Family: 17, Addr: []byte{0, 255}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddr(tt.in)
			if err != nil {
				t.Fatalf("ParseAddr(%q): %v", tt.in, err)
			}
			if !proto.Equal(got, tt.want) {
				t.Fatalf("ParseAddr(%q) = %v, want %v", tt.in, got, tt.want)
			}
			wantText := tt.format
			if wantText == "" {
				wantText = tt.in
			}
			if text := FormatAddr(got); text != wantText {
				t.Errorf("FormatAddr(ParseAddr(%q)) = %q, want %q", tt.in, text, wantText)
			}
		})
	}
}

func TestParseAddrErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // a part of the error message
	}{
		{"", "empty"},
		{"localhost:80", "not an IP address"},
		{"1.2.3.4:", "missing port"},
		{"1.2.3.4:65536", `port "65536"`},
		{"1.2.3.4:-1", `port "-1"`},
		{"1.2.3.4:http", `port "http"`},
		{"::1", "IPv6 addresses go in brackets"},
		{"::1:80", "IPv6 addresses go in brackets"},
		{"fe80::1:80", "IPv6 addresses go in brackets"},
		{"[::1", "missing ]"},
		{"[::1]80", "want [IPv6]:PORT"},
		{"[::1]:", "want [IPv6]:PORT"},
		{"[1.2.3.4]:80", "brackets hold an IPv6 address"},
		{"[fe80::1%eth0]:80", `scope id "eth0"`},
		{"[broadcast]:0", "no broadcast"},
		{"ANY", "not an IP address"},
		{"any:", "missing port"},
		{`local:"unterminated`, "quoting"},
		{`local:"a"b`, "quoting"},
		{`local:"/a\x00b"`, "NUL"},
		{"local:/" + strings.Repeat("a", 107), "a path of 108 bytes: at most 107"},
		{"local:" + strings.Repeat("a", 100), "at most 107"}, // once absolute
		{"local:@" + strings.Repeat("a", 108), "an abstract name of 108 bytes: at most 107"},
		{"unspec:xyz", "hex"},
		{"native:x:00", "family"},
		{"native:2", "native:FAMILY:HEX"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddr(tt.in)
			if err == nil {
				t.Fatalf("ParseAddr(%q) = %v, want an error", tt.in, got)
			}
			prefix := fmt.Sprintf("invalid address %q: ", tt.in)
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tt.want) {
				t.Errorf("ParseAddr(%q) error = %q, want %q...%q", tt.in, msg, prefix, tt.want)
			}
		})
	}
}

func TestFormatAddrOfReceivedAddresses(t *testing.T) {
	tests := []struct {
		in   *sockdv1.SockAddr
		want string
	}{
		{nil, ""},
		{&sockdv1.SockAddr{}, ""},
		{inetAddr(&sockdv1.InetAddr{Port: 7}), "0.0.0.0:7"},
		{inet6Addr(&sockdv1.Inet6Addr{Port: 7}), "[::]:7"},
		{local("\x00bad\xffname"), `local:"\x00bad\xffname"`},
		{local(""), `local:""`},
	}
	for _, tt := range tests {
		if got := FormatAddr(tt.in); got != tt.want {
			t.Errorf("FormatAddr(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParseAddr checks that ParseAddr never panics and that its results
// survive a round trip through FormatAddr unchanged.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{
		"127.0.0.1:8080", "[::1]:8080", "[fe80::1%2]:80", "any:0", "loopback:0",
		"broadcast:0", "[any]:1", "any", "local:/path", "local:@abstract",
		`local:"\x00\xff"`, "unspec", "unspec:00", "native:17:0102", "1.2.3.4",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddr(s)
		if err != nil {
			return
		}
		text := FormatAddr(a)
		b, err := ParseAddr(text)
		if err != nil {
			t.Fatalf("ParseAddr(%q) = %v, but its format %q does not parse: %v", s, a, text, err)
		}
		if !proto.Equal(a, b) {
			t.Fatalf("round trip of %q through %q: got %v, want %v", s, text, b, a)
		}
		if again := FormatAddr(b); again != text {
			t.Fatalf("FormatAddr is not stable for %q: %q then %q", s, text, again)
		}
	})
}

func ExampleParseAddr() {
	for _, s := range []string{"127.0.0.1:8080", "[fe80::1%2]:80", "local:@sockd", "any"} {
		a, err := ParseAddr(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(FormatAddr(a))
	}
	_, err := ParseAddr("localhost:80")
	fmt.Println(err)
	// Output:
	// 127.0.0.1:8080
	// [fe80::1%2]:80
	// local:@sockd
	// any
	// invalid address "localhost:80": "localhost" is not an IP address (names are not resolved); want IP:PORT, [IPv6]:PORT, any|loopback|broadcast[:PORT], local:PATH or unspec
}

// An IPv6 zone is the scope id, for the net adapters' addresses too: a
// link-local peer that ReadFrom reports can be written back to.
func TestInetSockAddrZone(t *testing.T) {
	sa, d, err := inetSockAddr("udp6", "[fe80::1%2]:547")
	if err != nil || d != Inet6 || sa.GetInet6().GetScopeId() != 2 || sa.GetInet6().GetAddress() != "fe80::1" {
		t.Fatalf("inetSockAddr with zone 2: %v %v %v", sa, d, err)
	}
	if _, _, err := inetSockAddr("tcp", "[fe80::1%eth0]:80"); err == nil {
		t.Fatal("a zone named, not numbered, was accepted (and would be dropped)")
	}
	p := &PacketConn{network: "udp6", local: &net.UDPAddr{IP: net.IPv6unspecified}}
	dest, err := p.destination(&net.UDPAddr{IP: net.ParseIP("fe80::1"), Port: 546, Zone: "2"})
	if err != nil || dest.GetInet6().GetScopeId() != 2 {
		t.Fatalf("destination of a link-local peer: %v %v", dest, err)
	}
	if back := NetAddr("udp6", dest).String(); back != "[fe80::1%2]:546" {
		t.Fatalf("round trip: %s", back)
	}
}
