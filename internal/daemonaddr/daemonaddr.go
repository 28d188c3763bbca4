// Package daemonaddr is the one parser of a sockd daemon's address, shared
// by the daemon (what it listens on) and its clients (what they dial), and
// the address both use when told nothing else.
package daemonaddr

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
)

// Default is where sockd listens and clients connect when told nothing
// else: $SOCKD_ADDR if set, else $XDG_RUNTIME_DIR/sockd.sock, else
// /tmp/sockd-<uid>/sockd.sock.
func Default() string {
	if addr := os.Getenv("SOCKD_ADDR"); addr != "" {
		return addr
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		return "unix://" + strings.TrimSuffix(dir, "/") + "/sockd.sock"
	}
	return fmt.Sprintf("unix:///tmp/sockd-%d/sockd.sock", os.Getuid())
}

// Target is a parsed daemon address.
type Target struct {
	Network     string // "unix" or "tcp"
	Address     string // a socket path or host:port
	GRPCTarget  string // the target for grpc.NewClient
	PlaintextOK bool   // unix or loopback: no transport security needed
	TLS         bool   // tls://: the daemon's TLS listener
}

// Parse reads unix:///path, unix:/path, an absolute path, tcp://host:port or
// tls://host:port.
func Parse(addr string) (Target, error) {
	bad := func(why string) (Target, error) {
		return Target{}, fmt.Errorf("invalid sockd address %q: %s", addr, why)
	}
	switch {
	case strings.HasPrefix(addr, "/"):
		return unixTarget(addr), nil
	case strings.HasPrefix(addr, "unix:"):
		// unix:///path and unix:/path both name /path.
		path := strings.TrimPrefix(strings.TrimPrefix(addr, "unix:"), "//")
		if !strings.HasPrefix(path, "/") {
			return bad("the unix socket path must be absolute")
		}
		return unixTarget(path), nil
	case strings.HasPrefix(addr, "tcp://"), strings.HasPrefix(addr, "tls://"):
		scheme := addr[:strings.Index(addr, ":")]
		u, err := url.Parse(addr)
		if err != nil || u.Host == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
			return bad("want " + scheme + "://host:port")
		}
		tls := scheme == "tls"
		return Target{
			Network:     "tcp",
			Address:     u.Host,
			GRPCTarget:  "passthrough:///" + u.Host,
			PlaintextOK: !tls && isLoopbackHost(u.Hostname()),
			TLS:         tls,
		}, nil
	case addr == "":
		return bad("empty")
	}
	return bad("want unix:///path, an absolute path, tcp://host:port or tls://host:port")
}

// Split parses addr into a network ("unix", "tcp" or "tls", which is TCP
// with TLS) and the address net.Dial or net.Listen takes.
func Split(addr string) (network, address string, err error) {
	t, err := Parse(addr)
	if t.TLS {
		return "tls", t.Address, err
	}
	return t.Network, t.Address, err
}

func unixTarget(path string) Target {
	return Target{Network: "unix", Address: path, GRPCTarget: "unix://" + path, PlaintextOK: true}
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
