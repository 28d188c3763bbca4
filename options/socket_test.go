package options

import (
	"context"
	"errors"
	"math"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdSocket is a plain descriptor with the otp settings held in fields: the
// options package's view of a socket, without the engine.
type fdSocket struct {
	fd, domain, typ, protocol int
	rcvN, rcvSize, rcvCtrl    int
	sndCtrl                   int
	iow, debug, reg, selRead  bool
}

func openSocket(t *testing.T, domain, typ, protocol int) *fdSocket {
	t.Helper()
	fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, protocol)
	if err != nil {
		t.Fatalf("socket(%d, %d, %d): %v", domain, typ, protocol, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if protocol == 0 {
		protocol, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	}
	return &fdSocket{fd: fd, domain: domain, typ: typ, protocol: protocol, rcvSize: 8192, rcvCtrl: 1024, sndCtrl: 1024}
}

func (s *fdSocket) Domain() int                      { return s.domain }
func (s *fdSocket) Type() int                        { return s.typ }
func (s *fdSocket) Protocol() int                    { return s.protocol }
func (s *fdSocket) Control(fn func(int) error) error { return fn(s.fd) }
func (s *fdSocket) Fd() int                          { return s.fd }
func (s *fdSocket) SocketError() (int, error) {
	return unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
}
func (s *fdSocket) RcvBuf() (int, int) { return s.rcvN, s.rcvSize }
func (s *fdSocket) SetRcvBuf(n, size int) {
	if size <= 0 {
		size = 8192
	}
	s.rcvN, s.rcvSize = n, size
}
func (s *fdSocket) CtrlBufs() (int, int) { return s.rcvCtrl, s.sndCtrl }
func (s *fdSocket) SetRcvCtrlBuf(n int) {
	s.rcvCtrl = n
	if n <= 0 {
		s.rcvCtrl = 1024
	}
}
func (s *fdSocket) SetSndCtrlBuf(n int) {
	s.sndCtrl = n
	if n <= 0 {
		s.sndCtrl = 1024
	}
}
func (s *fdSocket) SelectRead() bool      { return s.selRead }
func (s *fdSocket) SetSelectRead(v bool)  { s.selRead = v }
func (s *fdSocket) IOW() bool             { return s.iow }
func (s *fdSocket) SetIOW(v bool)         { s.iow = v }
func (s *fdSocket) Debug() bool           { return s.debug }
func (s *fdSocket) SetDebug(v bool)       { s.debug = v }
func (s *fdSocket) UseRegistry() bool     { return s.reg }
func (s *fdSocket) SetUseRegistry(v bool) { s.reg = v }

var testHost = Probe(context.Background())

// sample is a value each type can be set to, and the value get must answer
// afterwards (nil: get answers something else, checked elsewhere).
func sample(o *Option) (set, want any) {
	switch o.Type {
	case TypeBool:
		return true, true
	case TypeInt, TypeNonNegInt, TypeUint8:
		switch o.Key.String() {
		case "socket.rcvbuf", "socket.sndbuf":
			return 65536, nil // Linux doubles it
		case "socket.debug":
			return 1, 1 // Linux keeps a flag
		case "socket.priority", "ip.ttl", "ip.multicast_ttl", "ip.minttl", "tcp.keepcnt", "ipv6.tclass":
			return 5, 5
		case "tcp.maxseg":
			return 1000, nil // the kernel adjusts it
		case "ip.router_alert", "ipv6.router_alert", "ipv6.multicast_if":
			return 1, 1
		}
		return 7, 7
	case TypeString:
		if o.Level == LevelTCP {
			return "reno", "reno"
		}
		return "lo", "lo"
	case TypeLinger:
		return Linger{OnOff: true, Seconds: 5}, Linger{OnOff: true, Seconds: 5}
	case TypeIPPMTUDisc, TypeIPv6PMTUDisc:
		return PMTUDisc(2), PMTUDisc(2)
	case TypeIPTOS:
		return TOS(0x10), TOS(0x10)
	case TypeIPMulticastIf:
		lo := netip.MustParseAddr("127.0.0.1")
		return lo, lo
	case TypeIPv6Hops:
		return Hops(9), Hops(9)
	}
	return nil, nil
}

// TestEverySupportedOptionSetsAndGets sets every supported settable and
// gettable option of the socket, ip, ipv6, tcp and udp levels on a real
// socket meeting its requirements, and reads it back.
func TestEverySupportedOptionSetsAndGets(t *testing.T) {
	tested := 0
	for i := range Table {
		o := &Table[i]
		if o.Level == LevelOTP || !o.Set || !o.Get || !testHost.Supported(o) || o.AfterConnect {
			continue
		}
		set, want := sample(o)
		if set == nil {
			t.Errorf("%s: no sample value for %s", o.Key, o.Type)
			continue
		}
		t.Run(o.Key.String(), func(t *testing.T) {
			d, ty, pr := scratchFor(o.Requires)
			if os.Geteuid() != 0 && (o.Privileged || ty == unix.SOCK_RAW) {
				t.Skip("needs root: a privileged option or a raw socket")
			}
			if o.Key.String() == "ipv6.router_alert" {
				pr = unix.IPPROTO_RAW // Linux takes it only on IPPROTO_RAW sockets
			}
			s := openSocket(t, d, ty, pr)
			err := testHost.Set(s, o.Key, set)
			if errors.Is(err, unix.ENOPROTOOPT) && o.Key.String() == "socket.sndlowat" {
				return // "not changeable on Linux", as the table says
			}
			if err != nil {
				t.Fatalf("Set(%v): %v", set, err)
			}
			got, err := testHost.Get(s, o.Key)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if want != nil && got != want {
				t.Fatalf("Get = %#v, want %#v", got, want)
			}
		})
		tested++
	}
	if tested < 50 {
		t.Errorf("only %d options tested", tested)
	}
}

func TestErrorsPerReference(t *testing.T) {
	udp := openSocket(t, unix.AF_INET, unix.SOCK_DGRAM, 0)
	tcp := openSocket(t, unix.AF_INET, unix.SOCK_STREAM, 0)
	var optErr *OptionError
	var valErr *ValueError
	for _, c := range []struct {
		s    Socket
		key  Key
		v    any
		want string
	}{
		{udp, Key{LevelSocket, "nosuch"}, true, "unknown"},
		{udp, Key{LevelSocket, "type"}, 1, "get only"},
		{udp, Key{LevelSocket, "peek_off"}, 1, "disabled"},
		{udp, Key{LevelSocket, "rcvtimeo"}, Timeval{Sec: 1}, "nonblocking"},
		{udp, Key{LevelSocket, "exclusiveaddruse"}, true, "Windows"},
		{udp, Key{LevelSCTP, "nodelay"}, true, "not supported by this host"},
	} {
		err := testHost.Set(c.s, c.key, c.v)
		if !errors.As(err, &optErr) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Set(%s) = %v, want an OptionError %q", c.key, err, c.want)
		}
	}
	if _, err := testHost.Get(udp, Key{LevelIP, "add_membership"}); !errors.As(err, &optErr) {
		t.Errorf("Get of a set-only option = %v", err)
	}
	for _, c := range []struct {
		key Key
		v   any
	}{
		{Key{LevelSocket, "reuseaddr"}, 1},
		{Key{LevelSocket, "bindtodevice"}, "a-name-longer-than-ifnamsiz"},
		{Key{LevelIP, "add_membership"}, IPMreq{Multiaddr: netip.MustParseAddr("::1")}},
		{Key{LevelOTP, "use_registry"}, false},
		{Key{LevelOTP, "rcvbuf"}, RcvBuf{N: 2, Size: 100}}, // tuple form on udp
		{Key{LevelOTP, "rcvbuf"}, RcvBuf{Size: -1}},
		{Key{LevelOTP, "rcvbuf"}, RcvBuf{Size: MaxRcvBufBytes + 1}},
		{Key{LevelOTP, "rcvctrlbuf"}, CtrlBuf{Size: MaxCtrlBuf + 1}},
	} {
		if err := testHost.Set(udp, c.key, c.v); !errors.As(err, &valErr) {
			t.Errorf("Set(%s, %v) = %v, want a ValueError", c.key, c.v, err)
		}
	}
	// The OS's refusal is its errno: sndlowat is not changeable on Linux,
	// and an option of another protocol or family is none of its business.
	for _, c := range []struct {
		s   Socket
		key Key
		v   any
	}{
		{udp, Key{LevelSocket, "sndlowat"}, 10},
		{udp, Key{LevelTCP, "nodelay"}, true},
		{udp, Key{LevelIPv6, "v6only"}, true},
		{tcp, Key{LevelUDP, "cork"}, true},
	} {
		if err := testHost.Set(c.s, c.key, c.v); !errors.Is(err, unix.ENOPROTOOPT) {
			t.Errorf("Set(%s) = %v, want enoprotoopt", c.key, err)
		}
	}
	// A well-formed address that is no group: the kernel's einval.
	if err := testHost.Set(udp, Key{LevelIP, "add_membership"}, IPMreq{Multiaddr: netip.MustParseAddr("10.0.0.1")}); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Set(add_membership 10.0.0.1) = %v, want einval", err)
	}
	// The seed's comments are not enforced where the kernel is more
	// generous: IP_MINTTL guards TCP (RFC 5082), ip options apply to a
	// dual-stack inet6 socket, SO_BROADCAST is a flag on any socket.
	tcp6 := openSocket(t, unix.AF_INET6, unix.SOCK_STREAM, 0)
	for _, c := range []struct {
		s    Socket
		key  Key
		v    any
		want any
	}{
		{tcp, Key{LevelIP, "minttl"}, 255, 255},
		{tcp6, Key{LevelIP, "tos"}, TOS(0x20), TOS(0x20)},
		{tcp, Key{LevelSocket, "broadcast"}, true, true},
	} {
		if err := testHost.Set(c.s, c.key, c.v); err != nil {
			t.Errorf("Set(%s, %v) = %v, want the kernel to take it", c.key, c.v, err)
			continue
		}
		if got, err := testHost.Get(c.s, c.key); err != nil || got != c.want {
			t.Errorf("Get(%s) = %v, %v; want %v", c.key, got, err, c.want)
		}
	}
}

func TestOTPOptions(t *testing.T) {
	s := openSocket(t, unix.AF_INET, unix.SOCK_STREAM, 0)
	must := func(k string, v any) {
		t.Helper()
		if err := testHost.Set(s, Key{LevelOTP, k}, v); err != nil {
			t.Fatalf("Set(otp %s, %v): %v", k, v, err)
		}
	}
	get := func(k string) any {
		t.Helper()
		v, err := testHost.Get(s, Key{LevelOTP, k})
		if err != nil {
			t.Fatalf("Get(otp %s): %v", k, err)
		}
		return v
	}
	if got := get("rcvbuf"); got != (RcvBuf{Size: 8192}) {
		t.Errorf("default rcvbuf = %v", got)
	}
	must("rcvbuf", RcvBuf{N: 4, Size: 1024})
	if got := get("rcvbuf"); got != (RcvBuf{N: 4, Size: 1024}) {
		t.Errorf("rcvbuf = %v", got)
	}
	// N * Size is bounded, and a product that overflows is no way round it.
	for _, huge := range []RcvBuf{{N: 2, Size: MaxRcvBufBytes}, {N: 1 << 32, Size: 1 << 32},
		{N: math.MaxUint32, Size: math.MaxUint32}, {N: math.MaxInt, Size: 2}, {N: MaxRcvBufBytes + 1, Size: 1},
		{N: MaxRcvBufBytes, Default: true}} {
		var valErr *ValueError
		if err := testHost.Set(s, Key{LevelOTP, "rcvbuf"}, huge); !errors.As(err, &valErr) {
			t.Errorf("Set(rcvbuf %+v) = %v, want a ValueError", huge, err)
		}
	}
	if got := get("rcvbuf"); got != (RcvBuf{N: 4, Size: 1024}) {
		t.Errorf("rcvbuf after refused sets = %v", got)
	}
	must("rcvbuf", RcvBuf{Default: true})
	if got := get("rcvbuf"); got != (RcvBuf{Size: 8192}) {
		t.Errorf("rcvbuf after default = %v", got)
	}
	must("rcvctrlbuf", CtrlBuf{Size: 4096})
	must("sndctrlbuf", CtrlBuf{Size: 2048})
	if get("rcvctrlbuf") != (CtrlBuf{Size: 4096}) || get("sndctrlbuf") != (CtrlBuf{Size: 2048}) {
		t.Error("ctrl bufs not set")
	}
	must("rcvctrlbuf", CtrlBuf{Default: true})
	if get("rcvctrlbuf") != (CtrlBuf{Size: 1024}) {
		t.Error("rcvctrlbuf default not restored")
	}
	for _, k := range []string{"iow", "debug", "select_read"} {
		must(k, true)
		if get(k) != true {
			t.Errorf("%s not set", k)
		}
	}
	must("use_registry", true)
	if get("use_registry") != true || get("fd") != s.fd {
		t.Error("use_registry or fd wrong")
	}
	if err := testHost.Set(s, Key{LevelOTP, "fd"}, 3); err == nil {
		t.Error("fd is get only")
	}
	if err := testHost.Set(s, Key{LevelOTP, "controlling_process"}, "x"); !errors.Is(err, ErrSessionOption) {
		t.Errorf("controlling_process: %v", err)
	}
}

func TestNative(t *testing.T) {
	s := openSocket(t, unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err := SetNative(s, unix.SOL_SOCKET, unix.SO_BROADCAST, true); err != nil {
		t.Fatal(err)
	}
	if v, err := GetNative(s, unix.SOL_SOCKET, unix.SO_BROADCAST, NativeSpec{Bool: true}); err != nil || v != true {
		t.Fatalf("broadcast = %v, %v", v, err)
	}
	if err := SetNative(s, unix.IPPROTO_IP, unix.IP_TTL, 33); err != nil {
		t.Fatal(err)
	}
	if v, err := GetNative(s, unix.IPPROTO_IP, unix.IP_TTL, NativeSpec{Int: true}); err != nil || v != 33 {
		t.Fatalf("ttl = %v, %v", v, err)
	}
	if err := SetNative(s, unix.SOL_SOCKET, unix.SO_LINGER, []byte{1, 0, 0, 0, 3, 0, 0, 0}); err != nil {
		t.Fatal(err)
	}
	if v, err := GetNative(s, unix.SOL_SOCKET, unix.SO_LINGER, NativeSpec{Size: 8}); err != nil || len(v.([]byte)) != 8 || v.([]byte)[4] != 3 {
		t.Fatalf("linger = %v, %v", v, err)
	}
	// An unbound socket's SO_BINDTODEVICE is zero bytes long: an int or a
	// bool spec reads 0 and false, as Erlang's NIF answers.
	for _, c := range []struct {
		spec NativeSpec
		want any
	}{{NativeSpec{Int: true}, 0}, {NativeSpec{Bool: true}, false}} {
		if v, err := GetNative(s, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, c.spec); err != nil || v != c.want {
			t.Errorf("bindtodevice as %+v = %v, %v; want %v", c.spec, v, err, c.want)
		}
	}
	var optErr *OptionError
	if err := SetNative(s, -1, 2, 1); !errors.As(err, &optErr) {
		t.Errorf("negative level: %v", err)
	}
	var specErr *SpecError
	if _, err := GetNative(s, 1, 2, NativeSpec{Size: MaxNativeBytes + 1}); !errors.As(err, &specErr) {
		t.Errorf("huge size spec: %v", err)
	}
	if err := SetNative(s, 1, 2, "string"); err == nil {
		t.Error("a string native value was accepted")
	}
	// SO_PEERPIDFD would leave a pidfd in the daemon per call: refused
	// before the kernel sees it (a connected unix pair answers it since 6.5).
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[1])
	defer unix.Close(pair[0])
	u := &fdSocket{fd: pair[0], domain: unix.AF_UNIX, typ: unix.SOCK_STREAM}
	before := openFds(t)
	for range 10 {
		if _, err := GetNative(u, unix.SOL_SOCKET, soPeerPidfd, NativeSpec{Int: true}); !errors.As(err, &optErr) {
			t.Fatalf("SO_PEERPIDFD: %v, want an OptionError", err)
		}
	}
	if after := openFds(t); after != before {
		t.Errorf("descriptors %d -> %d", before, after)
	}
	// Gets through which the kernel writes where the buffer points, or
	// installs descriptors, are refused before any syscall, whatever the
	// socket (a TCP one answers TCP_ZEROCOPY_RECEIVE with a zeroed buffer).
	tcp := openSocket(t, unix.AF_INET, unix.SOCK_STREAM, 0)
	for _, key := range [][2]int{
		{unix.IPPROTO_TCP, unix.TCP_ZEROCOPY_RECEIVE}, {unix.SOL_MPTCP, 4}, // MPTCP_FULL_INFO
		{unix.IPPROTO_SCTP, 102}, {unix.IPPROTO_SCTP, 122}, {unix.IPPROTO_SCTP, 111}, // peeloff, peeloff_flags, connectx3
	} {
		zc := make([]byte, 64)
		if _, err := GetNative(tcp, key[0], key[1], NativeSpec{Buffer: zc}); !errors.As(err, &optErr) {
			t.Errorf("native getopt %v: %v, want an OptionError", key, err)
		}
	}
	for _, key := range [][2]int{
		{unix.SOL_IP, 129}, {unix.SOL_IP, 131}, // EBT_SO_GET_ENTRIES, EBT_SO_GET_INIT_ENTRIES
	} {
		if _, err := GetNative(tcp, key[0], key[1], NativeSpec{Size: 64}); !errors.As(err, &optErr) {
			t.Errorf("native getopt %v: %v, want an OptionError", key, err)
		}
	}
	// Sets through which the kernel writes where the buffer points (the
	// netfilter replaces' counters), or builds rings only an mmap reaches.
	for _, key := range [][2]int{
		{unix.SOL_IP, 64}, {unix.SOL_IPV6, 64}, {unix.SOL_IP, 96}, {unix.SOL_IP, 128}, // ipt, ip6t, arpt, ebt replace
		{unix.SOL_PACKET, unix.PACKET_RX_RING}, {unix.SOL_PACKET, unix.PACKET_TX_RING},
		{unix.SOL_XDP, unix.XDP_UMEM_REG}, {unix.SOL_XDP, unix.XDP_RX_RING}, {unix.SOL_XDP, unix.XDP_TX_RING},
		{unix.SOL_XDP, unix.XDP_UMEM_FILL_RING}, {unix.SOL_XDP, unix.XDP_UMEM_COMPLETION_RING},
		{unix.SOL_RDS, 2}, {unix.SOL_RDS, 7}, // RDS_GET_MR, RDS_GET_MR_FOR_DEST
	} {
		if err := SetNative(tcp, key[0], key[1], make([]byte, 128)); !errors.As(err, &optErr) {
			t.Errorf("native setopt %v: %v, want an OptionError", key, err)
		}
	}
}

// openFds counts this process's open descriptors.
func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestProbeIsBounded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	h := Probe(ctx)
	if time.Since(start) > time.Second {
		t.Error("a cancelled probe took long")
	}
	reuse, _ := Lookup(Key{LevelSocket, "reuseaddr"})
	if h.Supported(reuse) {
		t.Error("an option not probed in time is reported supported")
	}
	peek, _ := Lookup(Key{LevelSocket, "peek_off"})
	if testHost.Supported(peek) {
		t.Error("peek_off must always be reported unsupported")
	}
	if !testHost.Supported(reuse) {
		t.Error("reuseaddr unsupported on Linux?")
	}
}

// A daemon that may not open raw sockets still finds the options the seed
// marks "type = raw" that the kernel knows (IP_MINTTL guards TCP too): the
// probe asks a datagram socket instead.
func TestProbeWithoutRawSockets(t *testing.T) {
	scratch := newScratch()
	defer scratch.close()
	for _, proto := range []int{unix.IPPROTO_UDP, unix.IPPROTO_RAW} {
		scratch.fds[[3]int{unix.AF_INET, unix.SOCK_RAW, proto}] = -1 // as EPERM would leave it
	}
	o, ok := Lookup(Key{LevelIP, "minttl"})
	if !ok {
		t.Fatal("no ip minttl row")
	}
	if !probe(o, scratch) {
		t.Fatal("ip minttl unsupported when raw sockets cannot be opened")
	}
	if o, _ := Lookup(Key{LevelSCTP, "nodelay"}); probe(o, scratch) && scratch.get(unix.AF_INET, unix.SOCK_SEQPACKET, unix.IPPROTO_SCTP) < 0 {
		t.Fatal("an SCTP option supported without SCTP")
	}
}

// SO_ERROR, read through the socket's SocketError, comes back in whatever
// form the native spec asks for, as getsockopt would give it.
func TestNativeSocketError(t *testing.T) {
	s := openSocket(t, unix.AF_INET, unix.SOCK_DGRAM, 0)
	// A datagram to a closed port: the ICMP refusal sets SO_ERROR.
	if err := unix.Connect(s.fd, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	unix.Write(s.fd, []byte("x"))
	deadline := time.Now().Add(2 * time.Second)
	for {
		v, err := GetNative(s, unix.SOL_SOCKET, unix.SO_ERROR, NativeSpec{Size: 8})
		if err != nil {
			t.Fatal(err)
		}
		b := v.([]byte)
		if len(b) != 4 {
			t.Fatalf("SO_ERROR into 8 bytes: %d bytes, want 4", len(b))
		}
		if n := int(*(*int32)(unsafe.Pointer(&b[0]))); n != 0 {
			if unix.Errno(n) != unix.ECONNREFUSED {
				t.Fatalf("SO_ERROR %d, want econnrefused", n)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no refusal reported")
		}
		time.Sleep(time.Millisecond)
	}
	if v, err := GetNative(s, unix.SOL_SOCKET, unix.SO_ERROR, NativeSpec{Size: 2}); err != nil || len(v.([]byte)) != 2 {
		t.Fatalf("SO_ERROR into 2 bytes: %v %v", v, err)
	}
	if v, err := GetNative(s, unix.SOL_SOCKET, unix.SO_ERROR, NativeSpec{Int: true}); err != nil || v != 0 {
		t.Fatalf("SO_ERROR once read: %v %v, want 0", v, err)
	}
}
