package client

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// ParseAddr parses the text form of a socket address:
//
//	127.0.0.1:8080            inet
//	127.0.0.1                 inet, port 0
//	[::1]:8080, [::1]         inet6 (always in brackets)
//	[fe80::1%2]:80            inet6 with scope id 2
//	any:0 loopback:80 broadcast:67
//	                          inet with a shortcut host
//	[any]:0 [loopback]:80     inet6 with a shortcut host
//	any loopback broadcast    the bare shortcut, in the socket's own domain
//	                          (Erlang's bind(Socket, any))
//	local:/run/app.sock       local (unix domain); a relative path is made
//	                          absolute in this process's working directory
//	local:@name               local, abstract: the path starts with a NUL
//	local:"..."               local, the exact path bytes as a Go quoted string
//	local:, local:""          local, no path: a bind autobinds (Linux picks an
//	                          abstract name), as an unnamed socket's address
//	unspec, unspec:HEX        AF_UNSPEC, e.g. to dissolve a datagram association
//	native:FAMILY:HEX         any other family, as raw bytes (received
//	                          addresses: the daemon takes none)
//
// Host names are not resolved and scope ids must be numbers: the daemon may
// live on another host or in another network namespace, where names and
// interface indexes differ from this one's. ParseAddr checks the syntax and
// a local path's length; the daemon checks the rest (whether the family fits
// the socket).
func ParseAddr(s string) (*sockdv1.SockAddr, error) {
	a, err := parseAddr(s)
	if err != nil {
		return nil, fmt.Errorf("invalid address %q: %s", s, err)
	}
	return a, nil
}

// FormatAddr returns the text form ParseAddr reads, or "" for nil. For every
// string s that ParseAddr accepts, ParseAddr(FormatAddr(a)) gives back a.
// Inet6 flowinfo has no text form and is left out.
func FormatAddr(a *sockdv1.SockAddr) string {
	switch f := a.GetFamily().(type) {
	case *sockdv1.SockAddr_Inet:
		return formatInet(f.Inet)
	case *sockdv1.SockAddr_Inet6:
		return formatInet6(f.Inet6)
	case *sockdv1.SockAddr_Local:
		return formatLocal(f.Local.GetPath())
	case *sockdv1.SockAddr_Unspec:
		if len(f.Unspec.GetAddr()) == 0 {
			return "unspec"
		}
		return "unspec:" + hex.EncodeToString(f.Unspec.GetAddr())
	case *sockdv1.SockAddr_Shortcut:
		return EnumName(f.Shortcut)
	case *sockdv1.SockAddr_Native:
		return fmt.Sprintf("native:%d:%s", f.Native.GetFamily(), hex.EncodeToString(f.Native.GetAddr()))
	}
	return ""
}

// addrSyntaxError is the reason part of ParseAddr's error.
type addrSyntaxError string

func (e addrSyntaxError) Error() string { return string(e) }

// addrForms lists the forms an address to send to or bind may take;
// native:FAMILY:HEX, which FormatAddr prints for a received address of a
// family the daemon does not decode, parses back but is no such address.
const addrForms = "want IP:PORT, [IPv6]:PORT, any|loopback|broadcast[:PORT], local:PATH or unspec"

var shortcutsByName = map[string]sockdv1.AddrShortcut{
	"any":       sockdv1.AddrShortcut_ADDR_SHORTCUT_ANY,
	"loopback":  sockdv1.AddrShortcut_ADDR_SHORTCUT_LOOPBACK,
	"broadcast": sockdv1.AddrShortcut_ADDR_SHORTCUT_BROADCAST,
}

func parseAddr(s string) (*sockdv1.SockAddr, error) {
	if s == "" {
		return nil, addrSyntaxError("empty; " + addrForms)
	}
	if rest, ok := strings.CutPrefix(s, "local:"); ok {
		return parseLocal(rest)
	}
	if rest, ok := strings.CutPrefix(s, "native:"); ok {
		return parseNative(rest)
	}
	if s == "unspec" {
		return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Unspec{Unspec: &sockdv1.UnspecAddr{}}}, nil
	}
	if rest, ok := strings.CutPrefix(s, "unspec:"); ok {
		raw, err := hex.DecodeString(rest)
		if err != nil {
			return nil, addrSyntaxError("unspec: want hex bytes after the colon")
		}
		return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Unspec{Unspec: &sockdv1.UnspecAddr{Addr: raw}}}, nil
	}
	if sc, ok := shortcutsByName[s]; ok {
		return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Shortcut{Shortcut: sc}}, nil
	}
	return parseIP(s)
}

// parseIP parses the inet and inet6 forms.
func parseIP(s string) (*sockdv1.SockAddr, error) {
	host, portText, bracketed, err := splitHostPort(s)
	if err != nil {
		return nil, err
	}
	port, err := parsePort(portText)
	if err != nil {
		return nil, err
	}
	if sc, ok := shortcutsByName[host]; ok {
		if !bracketed {
			return inetAddr(&sockdv1.InetAddr{Host: &sockdv1.InetAddr_Shortcut{Shortcut: sc}, Port: port}), nil
		}
		if sc == sockdv1.AddrShortcut_ADDR_SHORTCUT_BROADCAST {
			return nil, addrSyntaxError("IPv6 has no broadcast address")
		}
		return inet6Addr(&sockdv1.Inet6Addr{Host: &sockdv1.Inet6Addr_Shortcut{Shortcut: sc}, Port: port}), nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, addrSyntaxError(fmt.Sprintf("%q is not an IP address (names are not resolved); %s", host, addrForms))
	}
	if !bracketed {
		if !ip.Is4() {
			return nil, addrSyntaxError("IPv6 addresses go in brackets: [" + host + "]:PORT")
		}
		return inetAddr(&sockdv1.InetAddr{Host: &sockdv1.InetAddr_Address{Address: ip.String()}, Port: port}), nil
	}
	if !ip.Is6() {
		return nil, addrSyntaxError("brackets hold an IPv6 address; write IPv4 as ADDR:PORT")
	}
	var scope uint64
	if zone := ip.Zone(); zone != "" {
		if scope, err = strconv.ParseUint(zone, 10, 32); err != nil {
			return nil, addrSyntaxError(fmt.Sprintf("scope id %q: want an interface index (a number)", zone))
		}
	}
	return inet6Addr(&sockdv1.Inet6Addr{
		Host:    &sockdv1.Inet6Addr_Address{Address: ip.WithZone("").String()},
		Port:    port,
		ScopeId: uint32(scope),
	}), nil
}

// splitHostPort splits HOST:PORT, [HOST]:PORT, [HOST] and HOST; a missing
// port is returned as "".
func splitHostPort(s string) (host, port string, bracketed bool, err error) {
	if rest, ok := strings.CutPrefix(s, "["); ok {
		host, after, ok := strings.Cut(rest, "]")
		if !ok {
			return "", "", false, addrSyntaxError("missing ]")
		}
		if after == "" {
			return host, "", true, nil
		}
		port, ok := strings.CutPrefix(after, ":")
		if !ok || port == "" {
			return "", "", false, addrSyntaxError("want [IPv6]:PORT")
		}
		return host, port, true, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, "", false, nil
	}
	host, port = s[:i], s[i+1:]
	if strings.Contains(host, ":") {
		return "", "", false, addrSyntaxError("IPv6 addresses go in brackets: [ADDR]:PORT")
	}
	if port == "" {
		return "", "", false, addrSyntaxError("missing port after the colon")
	}
	return host, port, false, nil
}

func parsePort(s string) (uint32, error) {
	if s == "" {
		return 0, nil
	}
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, addrSyntaxError(fmt.Sprintf("port %q: want 0..65535", s))
	}
	return uint32(p), nil
}

// sunPath is the size of Linux's sockaddr_un path: an abstract name (its
// leading NUL included) may fill it, a filesystem path leaves room for the
// NUL that ends it.
const sunPath = 108

func parseLocal(rest string) (*sockdv1.SockAddr, error) {
	var path []byte
	switch {
	case strings.HasPrefix(rest, `"`):
		unquoted, err := strconv.Unquote(rest)
		if err != nil {
			return nil, addrSyntaxError(`local:"...": bad Go string quoting`)
		}
		path = []byte(unquoted)
	case strings.HasPrefix(rest, "@"):
		path = append([]byte{0}, rest[1:]...)
	default:
		path = []byte(rest)
	}
	abstract := len(path) > 0 && path[0] == 0
	if !abstract && strings.IndexByte(string(path), 0) >= 0 {
		return nil, addrSyntaxError("local: only abstract names may contain NUL bytes")
	}
	if !abstract && len(path) > 0 && path[0] != '/' {
		// The caller's directory, not the daemon's, where a relative path
		// would name another file (a reviewer's sockctl bind made it in
		// the daemon's directory), as unixSockAddr does for the adapters.
		abs, err := inWorkingDir(string(path))
		if err != nil {
			return nil, addrSyntaxError(fmt.Sprintf("local: %q: %v", path, err))
		}
		path = []byte(abs)
	}
	switch {
	case abstract && len(path) > sunPath:
		return nil, addrSyntaxError(fmt.Sprintf("local: an abstract name of %d bytes: at most %d", len(path)-1, sunPath-1))
	case !abstract && len(path) >= sunPath:
		return nil, addrSyntaxError(fmt.Sprintf("local: a path of %d bytes: at most %d", len(path), sunPath-1))
	}
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: path}}}, nil
}

func parseNative(rest string) (*sockdv1.SockAddr, error) {
	familyText, hexText, ok := strings.Cut(rest, ":")
	if !ok {
		return nil, addrSyntaxError("want native:FAMILY:HEX")
	}
	family, err := strconv.ParseInt(familyText, 10, 32)
	if err != nil || family < 0 {
		return nil, addrSyntaxError(fmt.Sprintf("native: family %q: want a number", familyText))
	}
	raw, err := hex.DecodeString(hexText)
	if err != nil {
		return nil, addrSyntaxError("native: want hex bytes after the family")
	}
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Native{Native: &sockdv1.NativeAddr{Family: int32(family), Addr: raw}}}, nil
}

func inetAddr(a *sockdv1.InetAddr) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet{Inet: a}}
}

func inet6Addr(a *sockdv1.Inet6Addr) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet6{Inet6: a}}
}

func formatInet(a *sockdv1.InetAddr) string {
	host := "0.0.0.0" // an absent host is INADDR_ANY
	switch h := a.GetHost().(type) {
	case *sockdv1.InetAddr_Address:
		host = h.Address
	case *sockdv1.InetAddr_Shortcut:
		host = EnumName(h.Shortcut)
	}
	return host + ":" + strconv.FormatUint(uint64(a.GetPort()), 10)
}

func formatInet6(a *sockdv1.Inet6Addr) string {
	host := "::" // an absent host is in6addr_any
	switch h := a.GetHost().(type) {
	case *sockdv1.Inet6Addr_Address:
		host = h.Address
	case *sockdv1.Inet6Addr_Shortcut:
		host = EnumName(h.Shortcut)
	}
	if a.GetScopeId() != 0 {
		host += "%" + strconv.FormatUint(uint64(a.GetScopeId()), 10)
	}
	return "[" + host + "]:" + strconv.FormatUint(uint64(a.GetPort()), 10)
}

// formatLocal writes paths plainly where the plain form reads back the same,
// and as a quoted string otherwise (control bytes, invalid UTF-8, or a path
// that starts with the characters that introduce the other forms).
func formatLocal(path []byte) string {
	switch {
	case len(path) > 0 && path[0] == 0 && isPlainText(path[1:]):
		return "local:@" + string(path[1:])
	case len(path) > 0 && path[0] != '@' && path[0] != '"' && isPlainText(path):
		return "local:" + string(path)
	}
	return "local:" + strconv.Quote(string(path))
}

func isPlainText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// NetAddr converts a daemon address to a net.Addr: *net.TCPAddr (or
// *net.UDPAddr when network starts with "udp") for inet and inet6,
// *net.UnixAddr for local, nil otherwise.
func NetAddr(network string, a *sockdv1.SockAddr) net.Addr {
	var ip netip.Addr
	var port uint32
	var zone string
	switch f := a.GetFamily().(type) {
	case *sockdv1.SockAddr_Inet:
		ip, _ = netip.ParseAddr(f.Inet.GetAddress())
		port = f.Inet.GetPort()
	case *sockdv1.SockAddr_Inet6:
		ip, _ = netip.ParseAddr(f.Inet6.GetAddress())
		port = f.Inet6.GetPort()
		if f.Inet6.GetScopeId() != 0 {
			zone = fmt.Sprint(f.Inet6.GetScopeId())
		}
	case *sockdv1.SockAddr_Local:
		name := string(f.Local.GetPath())
		if strings.HasPrefix(name, "\x00") {
			name = "@" + name[1:] // an abstract name, as package net writes it
		}
		if network != "unixgram" && network != "unixpacket" {
			network = "unix"
		}
		return &net.UnixAddr{Name: name, Net: network}
	default:
		return nil
	}
	ap := netip.AddrPortFrom(ip.WithZone(zone), uint16(port))
	if len(network) >= 3 && network[:3] == "udp" {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// inetSockAddr parses "host:port" for network tcp*/udp* into a daemon
// address and the domain to open. The host is an IP literal (the daemon
// resolves no names), or empty for the unspecified address, as package net
// takes ":8080": IPv6's for tcp6 and udp6, IPv4's otherwise (so that a
// dial of ":port" reaches the daemon's own host, as net's does; a listen
// takes both families, see dualStack). The port is a number or a service
// name, looked up here as net.LookupPort does.
func inetSockAddr(network, address string) (*sockdv1.SockAddr, Domain, error) {
	host, service, err := net.SplitHostPort(address)
	if err != nil {
		return nil, Domain{}, fmt.Errorf("address %q: want an IP literal and a port: %w", address, err)
	}
	port, err := net.LookupPort(network, service)
	if err != nil {
		return nil, Domain{}, fmt.Errorf("address %q: %w", address, err)
	}
	if host == "" {
		host = "0.0.0.0"
		if network == "tcp6" || network == "udp6" {
			host = "::"
		}
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return nil, Domain{}, fmt.Errorf("address %q: want an IP literal and a port: %w", address, err)
	}
	ap := netip.AddrPortFrom(addr, uint16(port))
	ip := ap.Addr().Unmap()
	wants6 := network == "tcp6" || network == "udp6"
	wants4 := network == "tcp4" || network == "udp4"
	switch {
	case ip.Is4() && !wants6:
		return inetAddr(&sockdv1.InetAddr{Host: &sockdv1.InetAddr_Address{Address: ip.String()}, Port: uint32(ap.Port())}), Inet, nil
	case ip.Is6() && !wants4:
		sa, err := inet6SockAddr(ip, ap.Port())
		return sa, Inet6, err
	}
	return nil, Domain{}, fmt.Errorf("address %q does not fit network %q", address, network)
}

// dualStack is where a listen on address for network binds to take both
// families, as package net's listen on ":port" for tcp or udp does: [::]
// with IPV6_V6ONLY off (setV6Only). nil for any other address, or network.
func dualStack(network, address string) *sockdv1.SockAddr {
	host, _, err := net.SplitHostPort(address)
	if err != nil || host != "" || network != "tcp" && network != "udp" {
		return nil
	}
	sa, _, err := inetSockAddr(network, "[::]"+address)
	if err != nil {
		return nil
	}
	return sa
}

// noIPv6 reports whether err says the daemon's host takes no IPv6: a
// dual-stack listen falls back to IPv4 then, as package net's does.
func noIPv6(err error) bool {
	var se *SocketError
	return errors.As(err, &se) && (se.Errno() == syscall.EAFNOSUPPORT || se.Errno() == syscall.EADDRNOTAVAIL)
}

// inWorkingDir is the relative path rel made absolute in this process's
// working directory, as the kernel would resolve it here: joined, not
// cleaned, so that "link/../x.sock" still goes through link (filepath.Abs
// took ".." by text, a reviewer's) and a trailing slash stays.
func inWorkingDir(rel string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(wd, "/") + "/" + rel, nil
}

// unixSockAddr is a local address written as package net writes one: a
// path, or "@name" for an abstract name. A relative path is made absolute
// in the caller's working directory, as package net's is: the daemon's
// own, where the daemon would resolve it, means nothing to its clients (a
// reviewer's "rel.sock" was made in the daemon's directory, and a native
// peer's relative path could not be sent to).
func unixSockAddr(name string) (*sockdv1.SockAddr, error) {
	path := []byte(name)
	switch rest, abstract := strings.CutPrefix(name, "@"); {
	case abstract:
		path = append([]byte{0}, rest...)
	case name != "" && !filepath.IsAbs(name):
		abs, err := inWorkingDir(name)
		if err != nil {
			return nil, fmt.Errorf("unix socket path %q: %w", name, err)
		}
		path = []byte(abs)
	}
	if len(path) == 0 {
		return nil, errors.New("a unix socket address needs a path or an @name")
	}
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: path}}}, nil
}

// inet6SockAddr is an IPv6 address and port, its zone the scope id: an
// interface index, since the names of the daemon's interfaces are not
// known here.
func inet6SockAddr(ip netip.Addr, port uint16) (*sockdv1.SockAddr, error) {
	var scope uint64
	if zone := ip.Zone(); zone != "" {
		var err error
		if scope, err = strconv.ParseUint(zone, 10, 32); err != nil {
			return nil, fmt.Errorf("zone %q of %s: want the daemon's interface index (a number)", zone, ip)
		}
	}
	return inet6Addr(&sockdv1.Inet6Addr{Host: &sockdv1.Inet6Addr_Address{Address: ip.WithZone("").String()}, Port: uint32(port), ScopeId: uint32(scope)}), nil
}
