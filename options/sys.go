package options

import (
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

func getsockoptInto(fd, level, name int, b []byte) ([]byte, error) {
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
