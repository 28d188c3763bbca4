package engine

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The engine encodes and decodes sockaddrs itself rather than through
// unix.Sockaddr: x/sys cannot express flowinfo, rewrites a leading '@' of a
// local path into the abstract namespace, and truncates abstract names at
// their first NUL. These byte-exact codecs keep every address round-trippable.

// Sizes of the kernel's sockaddr structures.
const (
	sizeofSockaddrInet4 = 16
	sizeofSockaddrInet6 = 28
	sizeofSockaddrUnix  = 110
	sizeofSunPath       = sizeofSockaddrUnix - 2

	// MaxLocalPath is the longest filesystem path of a local address: the
	// kernel's sun_path less the terminating NUL. Abstract names (leading NUL)
	// may use all of sun_path.
	MaxLocalPath = sizeofSunPath - 1
)

// errSockaddr is the generic {invalid, sockaddr}.
func errSockaddr(value any) error { return &InvalidError{What: "sockaddr", Value: value} }

// rawSockaddr is an address in the kernel's layout, ready for a syscall.
type rawSockaddr struct {
	any unix.RawSockaddrAny
	len uint32
}

func (r *rawSockaddr) bytes() []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&r.any)), unsafe.Sizeof(r.any))
}

// ptr is the address to hand to a syscall (nil for "no address").
func (r *rawSockaddr) ptr() unsafe.Pointer {
	if r == nil {
		return nil
	}
	return unsafe.Pointer(&r.any)
}

// isPath reports whether r is a local address naming a filesystem path.
func (r *rawSockaddr) isPath() bool {
	if r == nil || r.any.Addr.Family != unix.AF_UNIX {
		return false
	}
	const pathOffset = uint32(unsafe.Offsetof(unix.RawSockaddrUnix{}.Path))
	sun := (*unix.RawSockaddrUnix)(unsafe.Pointer(&r.any))
	return r.len > pathOffset && sun.Path[0] != 0
}

func (r *rawSockaddr) size() uint32 {
	if r == nil {
		return 0
	}
	return r.len
}

// raw encodes sa for a syscall. Its family is not checked against the
// socket's domain, as Erlang's NIF does not: the kernel decides, and it
// takes more than the domain suggests (an inet6 UDP socket sends to an
// inet address; one turned inet by IPV6_ADDRFORM takes only those).
func (sa *SockAddr) raw() (*rawSockaddr, error) {
	r := new(rawSockaddr)
	if err := sa.encode(r); err != nil {
		return nil, err
	}
	return r, nil
}

// encode writes sa in the kernel's layout.
func (sa *SockAddr) encode(r *rawSockaddr) error {
	b := r.bytes()
	clear(b)
	switch sa.Family {
	case FamilyInet:
		addr := sa.Addr
		if addr.Is4In6() {
			addr = addr.Unmap()
		}
		if !addr.Is4() {
			return errSockaddr("addr")
		}
		binary.NativeEndian.PutUint16(b[0:], unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], sa.Port)
		a4 := addr.As4()
		copy(b[4:8], a4[:])
		r.len = sizeofSockaddrInet4
	case FamilyInet6:
		if !sa.Addr.IsValid() {
			return errSockaddr("addr")
		}
		binary.NativeEndian.PutUint16(b[0:], unix.AF_INET6)
		binary.BigEndian.PutUint16(b[2:], sa.Port)
		binary.BigEndian.PutUint32(b[4:], sa.Flowinfo)
		a16 := sa.Addr.As16() // a 4-byte Addr becomes its IPv4-mapped form
		copy(b[8:24], a16[:])
		binary.NativeEndian.PutUint32(b[24:], sa.ScopeID)
		r.len = sizeofSockaddrInet6
	case FamilyLocal:
		path, err := LocalPath(sa.Path)
		if err != nil {
			return err
		}
		binary.NativeEndian.PutUint16(b[0:], unix.AF_UNIX)
		copy(b[2:], path)
		r.len = 2 + uint32(len(path))
		if len(path) > 0 && path[0] != 0 {
			r.len++ // the terminating NUL of a filesystem path
		}
	case FamilyUnspec:
		// AF_UNSPEC (0, already there) and Raw as sa_data, at least the
		// size of a struct sockaddr.
		if 2+len(sa.Raw) > len(b) {
			return errSockaddr("addr")
		}
		copy(b[2:], sa.Raw)
		r.len = uint32(max(2+len(sa.Raw), 16))
	case FamilyNative:
		if len(sa.Raw) < 2 || len(sa.Raw) > len(b) {
			return errSockaddr("raw")
		}
		copy(b, sa.Raw)
		r.len = uint32(len(sa.Raw))
	default:
		return errSockaddr("family")
	}
	return nil
}

// LocalPath validates a local address path as Linux and Erlang take it: an
// abstract name (leading NUL) byte for byte, in all of sun_path; a
// filesystem path in sun_path less its terminating NUL, one trailing NUL
// dropped, and no other NUL. It returns the path to bind or connect to, a
// subslice of p.
func LocalPath(p []byte) ([]byte, error) {
	abstract := len(p) > 0 && p[0] == 0
	limit := sizeofSunPath
	if !abstract {
		p, limit = bytes.TrimSuffix(p, []byte{0}), MaxLocalPath
	}
	switch {
	case len(p) > limit:
		return nil, errSockaddr("path too long")
	case !abstract && bytes.IndexByte(p, 0) >= 0:
		return nil, errSockaddr("path")
	}
	return p, nil
}

// DecodeRawSockaddr decodes a sockaddr in the kernel's layout, as found in
// IP_ORIGDSTADDR and sock_extended_err offender control messages. AF_UNSPEC
// comes back as FamilyUnspec with its sa_data in Raw; families the engine
// does not know as FamilyNative with the whole sockaddr in Raw. It never
// panics on malformed input.
func DecodeRawSockaddr(b []byte) (*SockAddr, error) {
	if len(b) < 2 {
		return nil, errSockaddr("short")
	}
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) < 8 {
			return nil, errSockaddr("short")
		}
		return &SockAddr{
			Family: FamilyInet,
			Port:   binary.BigEndian.Uint16(b[2:]),
			Addr:   netip.AddrFrom4([4]byte(b[4:8])),
		}, nil
	case unix.AF_INET6:
		if len(b) < 24 {
			return nil, errSockaddr("short")
		}
		sa := &SockAddr{
			Family:   FamilyInet6,
			Port:     binary.BigEndian.Uint16(b[2:]),
			Flowinfo: binary.BigEndian.Uint32(b[4:]),
			Addr:     netip.AddrFrom16([16]byte(b[8:24])),
		}
		if len(b) >= sizeofSockaddrInet6 {
			sa.ScopeID = binary.NativeEndian.Uint32(b[24:])
		}
		return sa, nil
	case unix.AF_UNIX:
		path := b[2:min(len(b), sizeofSockaddrUnix)]
		if len(path) > 0 && path[0] != 0 {
			if i := bytes.IndexByte(path, 0); i >= 0 {
				path = path[:i]
			}
		}
		return &SockAddr{Family: FamilyLocal, Path: bytes.Clone(path)}, nil
	case unix.AF_UNSPEC:
		return &SockAddr{Family: FamilyUnspec, Raw: bytes.Clone(b[2:])}, nil
	}
	return &SockAddr{Family: FamilyNative, Raw: bytes.Clone(b)}, nil
}

// decode turns what a syscall filled in into a SockAddr; nil when the kernel
// returned no name (length 0, e.g. recvfrom on a connected stream).
func (r *rawSockaddr) decode() *SockAddr {
	if r.len == 0 {
		return nil
	}
	b := r.bytes()[:min(int(r.len), int(unsafe.Sizeof(r.any)))]
	sa, err := DecodeRawSockaddr(b)
	if err != nil { // too short for its family: pass it on as it is
		return &SockAddr{Family: FamilyNative, Raw: bytes.Clone(b)}
	}
	return sa
}
