package server

import (
	"bytes"
	"encoding/binary"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// decodeAddr validates an address from a request and converts it for the
// engine. domain is the socket's domain, used by the bare shortcut form
// (Erlang's bind(S, any)). A malformed address is answered as Erlang does,
// in-band: {invalid, {sockaddr, What}}.
func decodeAddr(a *sockdv1.SockAddr, domain int) (engine.SockAddr, *sockdv1.SocketError) {
	switch f := a.GetFamily().(type) {
	case *sockdv1.SockAddr_Inet:
		return decodeInet(f.Inet)
	case *sockdv1.SockAddr_Inet6:
		return decodeInet6(f.Inet6)
	case *sockdv1.SockAddr_Local:
		return decodeLocal(f.Local)
	case *sockdv1.SockAddr_Unspec:
		return engine.SockAddr{Family: engine.FamilyUnspec, Raw: f.Unspec.GetAddr()}, nil
	case *sockdv1.SockAddr_Shortcut:
		switch domain {
		case unix.AF_INET:
			return decodeInet(&sockdv1.InetAddr{Host: &sockdv1.InetAddr_Shortcut{Shortcut: f.Shortcut}})
		case unix.AF_INET6:
			return decodeInet6(&sockdv1.Inet6Addr{Host: &sockdv1.Inet6Addr_Shortcut{Shortcut: f.Shortcut}})
		default:
			// Erlang: an atom shortcut on a non-inet socket is eafnosupport.
			return engine.SockAddr{}, socketError(unix.EAFNOSUPPORT)
		}
	case *sockdv1.SockAddr_Native:
		return engine.SockAddr{}, invalid("sockaddr", "native family not accepted")
	default:
		return engine.SockAddr{}, invalid("sockaddr", "family")
	}
}

func decodeInet(a *sockdv1.InetAddr) (engine.SockAddr, *sockdv1.SocketError) {
	if a.GetPort() > 65535 {
		return engine.SockAddr{}, invalid("sockaddr", "port")
	}
	sa := engine.SockAddr{Family: engine.FamilyInet, Port: uint16(a.GetPort())}
	switch h := a.GetHost().(type) {
	case nil:
		sa.Addr = netip.IPv4Unspecified()
	case *sockdv1.InetAddr_Shortcut:
		switch h.Shortcut {
		case sockdv1.AddrShortcut_ADDR_SHORTCUT_ANY:
			sa.Addr = netip.IPv4Unspecified()
		case sockdv1.AddrShortcut_ADDR_SHORTCUT_LOOPBACK:
			sa.Addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		case sockdv1.AddrShortcut_ADDR_SHORTCUT_BROADCAST:
			sa.Addr = netip.AddrFrom4([4]byte{255, 255, 255, 255})
		default:
			return engine.SockAddr{}, invalid("sockaddr", "addr")
		}
	case *sockdv1.InetAddr_Address:
		ip, err := netip.ParseAddr(h.Address)
		if err != nil || !ip.Is4() {
			return engine.SockAddr{}, invalid("sockaddr", "addr "+quote(h.Address))
		}
		sa.Addr = ip
	}
	return sa, nil
}

func decodeInet6(a *sockdv1.Inet6Addr) (engine.SockAddr, *sockdv1.SocketError) {
	if a.GetPort() > 65535 {
		return engine.SockAddr{}, invalid("sockaddr", "port")
	}
	if a.GetFlowinfo() > 0xFFFFF {
		return engine.SockAddr{}, invalid("sockaddr", "flowinfo")
	}
	sa := engine.SockAddr{Family: engine.FamilyInet6, Port: uint16(a.GetPort()),
		Flowinfo: a.GetFlowinfo(), ScopeID: a.GetScopeId()}
	switch h := a.GetHost().(type) {
	case nil:
		sa.Addr = netip.IPv6Unspecified()
	case *sockdv1.Inet6Addr_Shortcut:
		switch h.Shortcut {
		case sockdv1.AddrShortcut_ADDR_SHORTCUT_ANY:
			sa.Addr = netip.IPv6Unspecified()
		case sockdv1.AddrShortcut_ADDR_SHORTCUT_LOOPBACK:
			sa.Addr = netip.IPv6Loopback()
		default:
			// There is no IPv6 broadcast.
			return engine.SockAddr{}, invalid("sockaddr", "addr")
		}
	case *sockdv1.Inet6Addr_Address:
		ip, err := netip.ParseAddr(h.Address)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return engine.SockAddr{}, invalid("sockaddr", "addr "+quote(h.Address))
		}
		sa.Addr = ip
	}
	return sa, nil
}

// decodeLocal takes a local address as the engine does (engine.LocalPath).
// An empty path goes to the kernel as Erlang's does, the family alone: a
// bind to it autobinds (an abstract name the kernel picks), a connect or
// sendto answers einval.
func decodeLocal(a *sockdv1.LocalAddr) (engine.SockAddr, *sockdv1.SocketError) {
	path, err := engine.LocalPath(a.GetPath())
	if err != nil {
		return engine.SockAddr{}, socketError(err)
	}
	return engine.SockAddr{Family: engine.FamilyLocal, Path: bytes.Clone(path)}, nil
}

// encodeAddr converts an address the kernel reported.
func encodeAddr(sa *engine.SockAddr) *sockdv1.SockAddr {
	if sa == nil {
		return nil
	}
	switch sa.Family {
	case engine.FamilyInet:
		return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet{Inet: &sockdv1.InetAddr{
			Host: &sockdv1.InetAddr_Address{Address: sa.Addr.String()}, Port: uint32(sa.Port)}}}
	case engine.FamilyInet6:
		return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet6{Inet6: &sockdv1.Inet6Addr{
			Host: &sockdv1.Inet6Addr_Address{Address: sa.Addr.WithZone("").String()}, Port: uint32(sa.Port),
			Flowinfo: sa.Flowinfo, ScopeId: sa.ScopeID}}}
	case engine.FamilyLocal:
		return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: sa.Path}}}
	case engine.FamilyNative:
		// Raw is the whole sockaddr: the native-endian family, then the address.
		native := &sockdv1.NativeAddr{}
		if len(sa.Raw) >= 2 {
			native.Family = int32(binary.NativeEndian.Uint16(sa.Raw))
			native.Addr = sa.Raw[2:]
		}
		return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Native{Native: native}}
	default:
		return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Unspec{Unspec: &sockdv1.UnspecAddr{Addr: sa.Raw}}}
	}
}

func quote(s string) string { return `"` + clip(s, 64) + `"` }
