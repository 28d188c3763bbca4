package engine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Layout of struct cmsghdr: cmsg_len is a size_t, then level and type.
const (
	cmsgLenSize = int(unsafe.Sizeof(unix.Cmsghdr{}.Len))
	cmsgHdrSize = unix.SizeofCmsghdr
	cmsgAlign   = int(unsafe.Sizeof(uintptr(0)))
)

func cmsgAligned(n int) int { return (n + cmsgAlign - 1) &^ (cmsgAlign - 1) }

// Sizes of the decoded payloads.
const (
	sizeofTimeval     = 16 // two 64-bit longs
	sizeofPktInfo     = 12 // int ifindex, in_addr spec_dst, in_addr addr
	sizeofPktInfo6    = 20 // in6_addr addr, unsigned ifindex
	sizeofExtendedErr = 16 // u32 errno; u8 origin, type, code, pad; u32 info, data
)

// BadControlLevel is the Level (and Type) of the ControlMessage that
// DecodeControl appends for a malformed tail: its Data holds the bytes that
// could not be parsed (Erlang's bad_data).
const BadControlLevel = -1

// DecodeControl parses a received control buffer. Known (level, type) pairs
// get a decoded Value; everything else keeps Data with Value nil. A malformed
// buffer never panics: the messages decoded so far are returned together
// with a BadControlLevel message holding the rest, and an error.
func DecodeControl(b []byte) ([]ControlMessage, error) {
	var msgs []ControlMessage
	for len(b) > 0 {
		if len(b) < cmsgHdrSize {
			return badControl(msgs, b, "truncated header")
		}
		n64, level, typ := cmsgHeader(b)
		if cmsgLenSize == 8 && n64 > uint64(len(b)) {
			return badControl(msgs, b, "length beyond buffer")
		}
		n := int(n64)
		if n < cmsgHdrSize || n > len(b) {
			return badControl(msgs, b, "bad length")
		}
		data := bytes.Clone(b[cmsgHdrSize:n])
		msgs = append(msgs, ControlMessage{Level: level, Type: typ, Data: data, Value: decodeControlValue(level, typ, data)})
		b = b[min(cmsgAligned(n), len(b)):]
	}
	return msgs, nil
}

// cmsgHeader reads the control message header at the start of b (at least
// cmsgHdrSize bytes): the message's length, header included, as written,
// and its level and type.
func cmsgHeader(b []byte) (n uint64, level, typ int) {
	if cmsgLenSize == 8 {
		n = binary.NativeEndian.Uint64(b)
	} else {
		n = uint64(binary.NativeEndian.Uint32(b))
	}
	level = int(int32(binary.NativeEndian.Uint32(b[cmsgLenSize:])))
	typ = int(int32(binary.NativeEndian.Uint32(b[cmsgLenSize+4:])))
	return n, level, typ
}

func badControl(msgs []ControlMessage, rest []byte, why string) ([]ControlMessage, error) {
	msgs = append(msgs, ControlMessage{Level: BadControlLevel, Type: BadControlLevel, Data: bytes.Clone(rest)})
	return msgs, &InvalidError{What: "ctrl", Value: why}
}

// ControlValue is m's value: the decoded one it carries, or the one its raw
// data decodes to (nil if none does).
func ControlValue(m ControlMessage) any {
	if m.Value != nil {
		return m.Value
	}
	return decodeControlValue(m.Level, m.Type, m.Data)
}

// decodeControlValue decodes the payloads of reference §7; nil when the
// (level, type) is unknown or the payload has the wrong size.
func decodeControlValue(level, typ int, d []byte) any {
	switch {
	case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMP:
		if len(d) >= sizeofTimeval {
			return Timeval{Sec: int64(binary.NativeEndian.Uint64(d)), Usec: int64(binary.NativeEndian.Uint64(d[8:]))}
		}
	case level == unix.IPPROTO_IP && (typ == unix.IP_TOS || typ == unix.IP_RECVTOS ||
		typ == unix.IP_TTL || typ == unix.IP_RECVTTL):
		return decodeInt(d)
	case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO:
		if len(d) >= sizeofPktInfo {
			return PktInfo{
				Ifindex: int32(binary.NativeEndian.Uint32(d)),
				SpecDst: netip.AddrFrom4([4]byte(d[4:8])),
				Addr:    netip.AddrFrom4([4]byte(d[8:12])),
			}
		}
	case level == unix.IPPROTO_IP && typ == unix.IP_ORIGDSTADDR:
		if sa, err := DecodeRawSockaddr(d); err == nil {
			return *sa
		}
	case (level == unix.IPPROTO_IP && typ == unix.IP_RECVERR) ||
		(level == unix.IPPROTO_IPV6 && typ == unix.IPV6_RECVERR):
		return decodeExtendedErr(d)
	case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO:
		if len(d) >= sizeofPktInfo6 {
			return PktInfo6{Addr: netip.AddrFrom16([16]byte(d[0:16])), Ifindex: binary.NativeEndian.Uint32(d[16:])}
		}
	case level == unix.IPPROTO_IPV6 && (typ == unix.IPV6_HOPLIMIT || typ == unix.IPV6_2292HOPLIMIT || typ == unix.IPV6_TCLASS):
		// IPV6_2292HOPLIMIT is what ipv6 hoplimit (the RFC 2292 option) makes
		// the kernel send.
		return decodeInt(d)
	}
	return nil
}

// decodeInt reads an int payload; the kernel sends IP_TOS as a single byte.
func decodeInt(d []byte) any {
	switch len(d) {
	case 1:
		return int(d[0])
	case 4:
		return int(int32(binary.NativeEndian.Uint32(d)))
	}
	return nil
}

func decodeExtendedErr(d []byte) any {
	if len(d) < sizeofExtendedErr {
		return nil
	}
	ee := ExtendedErr{
		Errno:  int32(binary.NativeEndian.Uint32(d)),
		Origin: d[4],
		Type:   d[5],
		Code:   d[6],
		Info:   binary.NativeEndian.Uint32(d[8:]),
		Data:   binary.NativeEndian.Uint32(d[12:]),
	}
	// SO_EE_OFFENDER: the sockaddr right after the struct; AF_UNSPEC when
	// the kernel has none.
	if rest := d[sizeofExtendedErr:]; len(rest) >= 2 && binary.NativeEndian.Uint16(rest) != unix.AF_UNSPEC {
		if off, err := DecodeRawSockaddr(rest); err == nil {
			ee.Offender = off
		}
	}
	return ee
}

// EncodeControl builds a control buffer for sendmsg. A message's Data is used
// as is; when Data is nil, Value is encoded for the types that have one
// (timestamp, tos, ttl, pktinfo, hoplimit, tclass). Anything else is
// &InvalidError{What: "msg"}, Erlang's {invalid, {msg, ctrl, ...}}.
func EncodeControl(msgs []ControlMessage) ([]byte, error) {
	var buf []byte
	for i := range msgs {
		m := &msgs[i]
		data := m.Data
		if data == nil && m.Value != nil {
			var err error
			if data, err = encodeControlValue(m.Level, m.Type, m.Value); err != nil {
				return nil, err
			}
		}
		start := len(buf)
		buf = append(buf, make([]byte, unix.CmsgSpace(len(data)))...)
		h := buf[start:]
		if cmsgLenSize == 8 {
			binary.NativeEndian.PutUint64(h, uint64(unix.CmsgLen(len(data))))
		} else {
			binary.NativeEndian.PutUint32(h, uint32(unix.CmsgLen(len(data))))
		}
		binary.NativeEndian.PutUint32(h[cmsgLenSize:], uint32(int32(m.Level)))
		binary.NativeEndian.PutUint32(h[cmsgLenSize+4:], uint32(int32(m.Type)))
		copy(h[cmsgHdrSize:], data)
	}
	return buf, nil
}

func encodeControlValue(level, typ int, v any) ([]byte, error) {
	bad := func() ([]byte, error) {
		return nil, &InvalidError{What: "msg", Value: fmt.Sprintf("ctrl: level %d type %d value %v", level, typ, v)}
	}
	switch {
	case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMP:
		tv, ok := v.(Timeval)
		if !ok {
			return bad()
		}
		b := make([]byte, sizeofTimeval)
		binary.NativeEndian.PutUint64(b, uint64(tv.Sec))
		binary.NativeEndian.PutUint64(b[8:], uint64(tv.Usec))
		return b, nil
	case level == unix.IPPROTO_IP && (typ == unix.IP_TOS || typ == unix.IP_TTL),
		level == unix.IPPROTO_IPV6 && (typ == unix.IPV6_HOPLIMIT || typ == unix.IPV6_TCLASS):
		n, ok := v.(int)
		if !ok {
			return bad()
		}
		b := make([]byte, 4)
		binary.NativeEndian.PutUint32(b, uint32(int32(n)))
		return b, nil
	case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO:
		pi, ok := v.(PktInfo)
		if !ok {
			return bad()
		}
		b := make([]byte, sizeofPktInfo)
		binary.NativeEndian.PutUint32(b, uint32(pi.Ifindex))
		if pi.SpecDst.Is4() {
			a := pi.SpecDst.As4()
			copy(b[4:8], a[:])
		}
		if pi.Addr.Is4() {
			a := pi.Addr.As4()
			copy(b[8:12], a[:])
		}
		return b, nil
	case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO:
		pi, ok := v.(PktInfo6)
		if !ok {
			return bad()
		}
		b := make([]byte, sizeofPktInfo6)
		if pi.Addr.IsValid() {
			a := pi.Addr.As16()
			copy(b[0:16], a[:])
		}
		binary.NativeEndian.PutUint32(b[16:], pi.Ifindex)
		return b, nil
	}
	return bad()
}
