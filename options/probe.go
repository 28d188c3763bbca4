package options

import (
	"context"
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// Host is what this host's kernel accepts, found by Probe. Set and Get are
// its methods so that an option the kernel lacks answers invalid like one the
// table lacks (reference §6.3).
type Host struct {
	supported map[*Option]bool
	// SCTP reports whether the kernel opens SCTP sockets.
	SCTP bool
	// IPv6 reports whether the kernel opens IPv6 sockets.
	IPv6 bool
}

// Supported reports whether o is in the table, available on this platform
// and accepted by this host's kernel. A nil Host supports nothing native:
// only the otp options it implements itself.
func (h *Host) Supported(o *Option) bool {
	if o.Unavailable != "" {
		return false
	}
	if h == nil {
		return !o.Native() && o.Level == LevelOTP
	}
	return h.supported[o]
}

// Probe finds out which options this host's kernel accepts, on scratch
// sockets (one per domain, type and protocol the table needs, closed before
// it returns): an option is supported when getsockopt answers, or, for a
// set-only option, when setsockopt with an empty value is taken or refused
// with anything but ENOPROTOOPT or EOPNOTSUPP (the kernel looked the name
// up before checking the value; one that takes an empty value, sctp events,
// copies none of it). ctx bounds the time taken; options not probed in
// time are reported unsupported.
func Probe(ctx context.Context) *Host {
	h := &Host{supported: make(map[*Option]bool, len(Table))}
	scratch := newScratch()
	defer scratch.close()
	h.IPv6 = scratch.get(unix.AF_INET6, unix.SOCK_DGRAM, 0) >= 0
	h.SCTP = scratch.get(unix.AF_INET, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP) >= 0
	for i := range Table {
		if ctx.Err() != nil {
			break
		}
		o := &Table[i]
		h.supported[o] = probe(o, scratch)
	}
	return h
}

func probe(o *Option, scratch *scratchSockets) bool {
	if o.Unavailable != "" {
		return false
	}
	if !o.Native() {
		return true // otp options the daemon implements itself
	}
	domain, typ, protocol := scratchFor(o.Requires)
	fd := scratch.get(domain, typ, protocol)
	if fd < 0 && typ == unix.SOCK_RAW {
		// A daemon without CAP_NET_RAW opens no raw socket; the kernel
		// knows the option all the same, and the requirement is the
		// seed's comment, not a rule (Requires): ask a datagram socket.
		fd = scratch.get(domain, unix.SOCK_DGRAM, 0)
	}
	if fd < 0 {
		return false
	}
	if o.Get {
		_, err := getsockopt(fd, o.SysLevel, o.SysName, codecOrInt(o).size)
		// The kernel knows the option if it answers, or refuses for the
		// socket's state (ipv6 mtu before connect) rather than the name.
		return err == nil || (o.AfterConnect && !errors.Is(err, unix.ENOPROTOOPT))
	}
	// An empty value: refused for its length (einval) by most options the
	// kernel knows, taken by some (sctp events copies no bytes of it).
	err := setsockopt(fd, o.SysLevel, o.SysName, nil)
	return !errors.Is(err, unix.ENOPROTOOPT) && !errors.Is(err, unix.EOPNOTSUPP)
}

func codecOrInt(o *Option) codec {
	if c, ok := codecs[o.Type]; ok {
		return c
	}
	return codecs[TypeInt]
}

// scratchFor picks the socket a probe runs on: the first domain, type and
// protocol the requirements allow, IPv4 UDP by default.
func scratchFor(r Requirements) (domain, typ, protocol int) {
	domain, typ, protocol = unix.AF_INET, unix.SOCK_DGRAM, 0
	if len(r.Domains) > 0 {
		domain = r.Domains[0]
	}
	if len(r.Protocols) > 0 {
		protocol = r.Protocols[0]
		switch protocol {
		case unix.IPPROTO_TCP:
			typ = unix.SOCK_STREAM
		case unix.IPPROTO_SCTP:
			typ = unix.SOCK_SEQPACKET
		}
	}
	if len(r.Types) > 0 {
		typ = r.Types[0]
	}
	if typ == unix.SOCK_RAW && protocol == 0 {
		protocol = unix.IPPROTO_UDP // a raw socket needs a protocol; this one sends nothing
	}
	return domain, typ, protocol
}

// scratchSockets opens each kind of socket once, lazily, and remembers
// failures as -1.
type scratchSockets struct {
	fds map[[3]int]int
}

func newScratch() *scratchSockets { return &scratchSockets{fds: make(map[[3]int]int)} }

func (s *scratchSockets) get(domain, typ, protocol int) int {
	k := [3]int{domain, typ, protocol}
	if fd, ok := s.fds[k]; ok {
		return fd
	}
	fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, protocol)
	if err != nil {
		fd = -1
	}
	s.fds[k] = fd
	return fd
}

func (s *scratchSockets) close() {
	for _, fd := range s.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// ProbeTimeout is a sensible bound for Probe at start-up: it makes about a
// hundred syscalls.
const ProbeTimeout = 2 * time.Second
