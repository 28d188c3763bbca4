package server

import (
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sockd/sockd/engine"
	"golang.org/x/sys/unix"
)

// addrPattern is an entry of a rule's bind, connect, sendto or accept list.
//
//   - any inet or inet6 address, any port
//     HOST  or  HOST:PORTS    HOST is *, an address or a CIDR prefix; an
//     inet6 HOST with PORTS is bracketed: [::1]:80
//     PORTS                   *, N, or N-M
//     local:*                 any local address
//     local:/path  local:@name        one path, one abstract name
//     local:/dir/*  local:@prefix*    paths or abstract names that start so
//
// An inet pattern matches inet and inet6 addresses (an IPv4-mapped inet6
// address as its IPv4 address); a local pattern matches local ones.
type addrPattern struct {
	local bool

	// inet
	prefix netip.Prefix // invalid: any address
	lo, hi uint16

	// local
	name     string // "/path" or "@abstract"; with anyLocal unused
	isPrefix bool
	anyLocal bool
}

func parseAddrPattern(s string) (addrPattern, error) {
	if rest, ok := strings.CutPrefix(s, "local:"); ok {
		return parseLocalPattern(s, rest)
	}
	a := addrPattern{lo: 0, hi: 65535}
	host, ports := s, "*"
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return addrPattern{}, fmt.Errorf("%q: no closing ]", s)
		}
		host = s[1:end]
		switch tail := s[end+1:]; {
		case tail == "":
		case strings.HasPrefix(tail, ":"):
			ports = tail[1:]
		default:
			return addrPattern{}, fmt.Errorf("%q: want [HOST]:PORTS", s)
		}
	case s == "*" || strings.Count(s, ":") > 1:
		// "*", or an inet6 address or prefix without ports.
	default:
		if h, p, ok := strings.Cut(s, ":"); ok {
			host, ports = h, p
		}
	}
	if host != "*" {
		prefix, err := parseHost(host)
		if err != nil {
			return addrPattern{}, fmt.Errorf("%q: %w", s, err)
		}
		a.prefix = prefix
	}
	if ports != "*" {
		lo, hi, err := parsePorts(ports)
		if err != nil {
			return addrPattern{}, fmt.Errorf("%q: %w", s, err)
		}
		a.lo, a.hi = lo, hi
	}
	return a, nil
}

func parseHost(host string) (netip.Prefix, error) {
	if strings.Contains(host, "/") {
		p, err := netip.ParsePrefix(host)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad prefix %q", host)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad address %q", host)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parsePorts(s string) (lo, hi uint16, err error) {
	from, to, isRange := strings.Cut(s, "-")
	l, err1 := strconv.ParseUint(from, 10, 16)
	h := l
	var err2 error
	if isRange {
		h, err2 = strconv.ParseUint(to, 10, 16)
	}
	if err1 != nil || err2 != nil || l > h {
		return 0, 0, fmt.Errorf("bad ports %q: want *, N or N-M with N <= M <= 65535", s)
	}
	return uint16(l), uint16(h), nil
}

func parseLocalPattern(s, rest string) (addrPattern, error) {
	a := addrPattern{local: true}
	if rest == "*" {
		a.anyLocal = true
		return a, nil
	}
	a.name, a.isPrefix = strings.CutSuffix(rest, "*")
	switch {
	case strings.HasPrefix(a.name, "@"):
	case strings.HasPrefix(a.name, "/"):
		// Paths are compared as written, so a rule's must be clean: "/run/app/"
		// for a prefix, never "/run/app/../x".
		clean := path.Clean(a.name)
		if a.isPrefix && strings.HasSuffix(a.name, "/") {
			clean += "/"
		}
		if clean != a.name && !(a.name == "/" && a.isPrefix) {
			return addrPattern{}, fmt.Errorf("%q: not a clean path (%q)", s, clean)
		}
	default:
		return addrPattern{}, fmt.Errorf("%q: want local:*, local:/path[*] or local:@name[*]", s)
	}
	if strings.Contains(a.name, "*") || strings.ContainsRune(a.name, 0) {
		return addrPattern{}, fmt.Errorf("%q: * only at the end", s)
	}
	return a, nil
}

// matches reports whether the pattern covers sa.
func (a addrPattern) matches(sa engine.SockAddr) bool {
	switch sa.Family {
	case engine.FamilyInet, engine.FamilyInet6:
		if a.local || sa.Port < a.lo || sa.Port > a.hi {
			return false
		}
		if !a.prefix.IsValid() {
			return true
		}
		if sa.Addr.Is4In6() {
			// An IPv4-mapped address reaches its IPv4 address: IPv4 prefixes
			// decide it, and of the IPv6 ones only those inside ::ffff:0:0/96,
			// so that allowing IPv6 (::/0) does not allow IPv4, loopback
			// included.
			if a.prefix.Addr().Is4() {
				return a.prefix.Contains(sa.Addr.Unmap())
			}
			return a.prefix.Bits() >= mappedPrefix.Bits() && mappedPrefix.Contains(a.prefix.Addr()) && a.prefix.Contains(sa.Addr)
		}
		return a.prefix.Contains(sa.Addr)
	case engine.FamilyLocal:
		if !a.local {
			return false
		}
		if a.anyLocal {
			return true
		}
		name, ok := localName(sa.Path)
		if !ok {
			return false
		}
		if a.isPrefix {
			return strings.HasPrefix(name, a.name)
		}
		return name == a.name
	}
	return false
}

// mappedPrefix holds the IPv4-mapped IPv6 addresses.
var mappedPrefix = netip.MustParsePrefix("::ffff:0:0/96")

// localName is a local address as patterns spell it: "@name" for the
// abstract namespace (an empty path, which binds to an abstract name the
// kernel picks, is "@"), the path otherwise. A path that is not absolute
// and clean matches no pattern: "/run/app/../../etc/x" must not pass as
// being under /run/app/.
func localName(p []byte) (string, bool) {
	if len(p) == 0 {
		return "@", true
	}
	if p[0] == 0 {
		return "@" + string(p[1:]), true
	}
	s := string(p)
	return s, strings.HasPrefix(s, "/") && path.Clean(s) == s
}

// allowsAnyLocal reports whether list allows every local address
// (local:*), when no path needs a closer look.
func allowsAnyLocal(list []addrPattern) bool {
	return slices.ContainsFunc(list, func(a addrPattern) bool { return a.local && a.anyLocal })
}

// throughSymlink reports whether an absolute, clean path reaches its file
// through a symbolic link, in a directory or as its last name. Between
// this check and the call the policy decides, a link may still be put in
// place: the directories a rule names must not be writable by those it
// confines (deploy/policy.example.yaml says so); the check keeps a link
// already there from taking a call elsewhere.
func throughSymlink(p string) bool {
	dir, base := filepath.Split(p)
	fd, err := unix.Openat2(unix.AT_FDCWD, dir, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS})
	switch {
	case err == unix.ELOOP:
		return true
	case err == unix.ENOSYS: // before Linux 5.6: name by name
		for q := p; q != "/"; q = filepath.Dir(q) {
			var st unix.Stat_t
			if unix.Lstat(q, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return true
			}
		}
		return false
	case err != nil:
		return false // no such directory: the call fails by itself
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	return unix.Fstatat(fd, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// allowsAddr reports whether any pattern of list covers sa. No pattern
// covers an AF_UNSPEC or native address: Linux reads AF_UNSPEC as AF_INET
// in bind and sendto, and a native one could be anything.
func allowsAddr(list []addrPattern, sa engine.SockAddr) bool {
	for _, a := range list {
		if a.matches(sa) {
			return true
		}
	}
	return false
}

// allowsUnspecified reports whether list lets a connect or send reach the
// unspecified address sa: a pattern of any address, or of that very
// address, with its port.
func allowsUnspecified(list []addrPattern, sa engine.SockAddr) bool {
	for _, a := range list {
		if a.local || sa.Port < a.lo || sa.Port > a.hi {
			continue
		}
		if !a.prefix.IsValid() || a.prefix.IsSingleIP() && a.prefix.Addr().Unmap() == sa.Addr.Unmap() {
			return true
		}
	}
	return false
}

// String spells the pattern as a rule's address lists do.
func (a addrPattern) String() string {
	if a.local {
		if a.anyLocal {
			return "local:*"
		}
		if a.isPrefix {
			return "local:" + a.name + "*"
		}
		return "local:" + a.name
	}
	host := "*"
	if a.prefix.IsValid() {
		host = a.prefix.String()
		if a.prefix.IsSingleIP() {
			host = a.prefix.Addr().String()
		}
	}
	var ports string
	switch {
	case a.lo == 0 && a.hi == 65535:
		return host
	case a.lo == a.hi:
		ports = strconv.Itoa(int(a.lo))
	default:
		ports = fmt.Sprintf("%d-%d", a.lo, a.hi)
	}
	if a.prefix.IsValid() && a.prefix.Addr().Is6() {
		host = "[" + host + "]"
	}
	return host + ":" + ports
}
