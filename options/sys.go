package options

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setsockopt passes b as the option value; an empty b passes NULL, 0.
func setsockopt(fd, level, name int, b []byte) error {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(p), uintptr(len(b)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// getsockopt reads up to size bytes of the option and returns what the kernel
// wrote.
func getsockopt(fd, level, name, size int) ([]byte, error) {
	return getsockoptInto(fd, level, name, make([]byte, size))
}

// readOption reads (level, name) with get, but SO_ERROR through the
// socket's SocketError, handing what it read to the caller as put would
// have it: a read of it must not take a connect's outcome from the connect.
func readOption(s Socket, level, name int, get func(fd int) error, put func(v int)) error {
	if level != unix.SOL_SOCKET || name != unix.SO_ERROR {
		return s.Control(get)
	}
	v, err := s.SocketError()
	if err == nil {
		put(v)
	}
	return err
}

// cIntBytes is v as getsockopt writes a C int into a buffer of size bytes:
// in the host's order, cut short by a smaller buffer.
func cIntBytes(v, size int) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(int32(v)))
	return b[:min(size, 4)]
}

func getsockoptInto(fd, level, name int, b []byte) ([]byte, error) {
	mu := optionLock(fd)
	mu.RLock()
	defer mu.RUnlock()
	n := uint32(len(b))
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(p), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return nil, e
	}
	return b[:min(int(n), len(b))], nil
}
