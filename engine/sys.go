package engine

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Raw socket syscalls. The x/sys wrappers decode addresses through
// unix.Sockaddr (see sockaddr.go for why the engine does not) and allocate
// per call; these take the kernel layouts directly. All of them retry EINTR
// except connect, whose interruption leaves the attempt running.

// zeroByte gives empty buffers a valid base pointer.
var zeroByte byte

func bufPtr(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return unsafe.Pointer(&zeroByte)
	}
	return unsafe.Pointer(&p[0])
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// sysRecvfrom reads into p; when from is non-nil it receives the source,
// and its length only when the read succeeds (as sysRecvmsg's), so that a
// failed or empty read leaves no address behind.
func sysRecvfrom(fd int, p []byte, flags int, from *rawSockaddr) (int, error) {
	var name, lenp unsafe.Pointer
	namelen := uint32(unsafe.Sizeof(from.any))
	if from != nil {
		name, lenp = unsafe.Pointer(&from.any), unsafe.Pointer(&namelen)
	}
	base := bufPtr(p)
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(base), uintptr(len(p)),
			uintptr(flags), uintptr(name), uintptr(lenp))
		if e == unix.EINTR {
			continue
		}
		if e == 0 && from != nil {
			from.len = namelen
		}
		return int(n), errnoErr(e)
	}
}

// sysSendto writes p, to the address to if non-nil.
func sysSendto(fd int, p []byte, flags int, to *rawSockaddr) (int, error) {
	base := bufPtr(p)
	for {
		n, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(base), uintptr(len(p)),
			uintptr(flags), uintptr(to.ptr()), uintptr(to.size()))
		if e == unix.EINTR {
			continue
		}
		return int(n), errnoErr(e)
	}
}

// msgResult is what recvmsg reports besides the data length.
type msgResult struct {
	n     int // data bytes (the datagram's full length if MSG_TRUNC was asked)
	oobn  int // control bytes
	flags int // msg_flags
}

// sysRecvmsg reads one message into p and its control data into oob.
//
// Descriptors a peer passes with SCM_RIGHTS arrive in the daemon's own fd
// table, where no client can use them: they are closed at once (the
// control message still reports their numbers), so that a peer cannot fill
// the table. MSG_CMSG_CLOEXEC keeps them from any child meanwhile.
func sysRecvmsg(fd int, p, oob []byte, flags int, from *rawSockaddr) (msgResult, error) {
	flags |= unix.MSG_CMSG_CLOEXEC
	iov := unix.Iovec{Base: (*byte)(bufPtr(p))}
	iov.SetLen(len(p))
	var msg unix.Msghdr
	msg.Iov = &iov
	msg.SetIovlen(1)
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	if from != nil {
		msg.Name = (*byte)(unsafe.Pointer(&from.any))
		msg.Namelen = uint32(unsafe.Sizeof(from.any))
	}
	for {
		n, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return msgResult{}, e
		}
		if from != nil {
			from.len = msg.Namelen
		}
		closeReceivedRights(oob[:msg.Controllen])
		return msgResult{n: int(n), oobn: int(msg.Controllen), flags: int(msg.Flags)}, nil
	}
}

// scmPidfd is SCM_PIDFD (Linux 6.5): the sender's pidfd, a descriptor too.
const scmPidfd = 0x04

// closeReceivedRights closes the descriptors of the SCM_RIGHTS (and
// SCM_PIDFD) messages in a control buffer recvmsg just filled.
func closeReceivedRights(oob []byte) {
	for _, fd := range receivedFDs(oob) {
		unix.Close(fd)
	}
}

// receivedFDs lists the descriptors of the SCM_RIGHTS and SCM_PIDFD
// messages in a control buffer. Unlike DecodeControl it takes a length past
// the buffer's end as the end, so that no descriptor the kernel installed
// is left open.
func receivedFDs(oob []byte) []int {
	var fds []int
	for len(oob) >= cmsgHdrSize {
		n64, level, typ := cmsgHeader(oob)
		n := int(min(n64, uint64(len(oob))))
		if n < cmsgHdrSize {
			break
		}
		if level == unix.SOL_SOCKET && (typ == unix.SCM_RIGHTS || typ == scmPidfd) {
			for data := oob[cmsgHdrSize:n]; len(data) >= 4; data = data[4:] {
				fds = append(fds, int(int32(binary.NativeEndian.Uint32(data))))
			}
		}
		oob = oob[min(cmsgAligned(n), len(oob)):]
	}
	return fds
}

// sysSendmsg writes the buffers of iov (at most IOV_MAX), with control data
// oob, to the address to if non-nil.
func sysSendmsg(fd int, iov []unix.Iovec, oob []byte, flags int, to *rawSockaddr) (int, error) {
	var msg unix.Msghdr
	if len(iov) > 0 {
		msg.Iov = &iov[0]
		msg.SetIovlen(len(iov))
	}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	if to != nil {
		msg.Name = (*byte)(to.ptr())
		msg.Namelen = to.len
	}
	for {
		n, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
		if e == unix.EINTR {
			continue
		}
		return int(n), errnoErr(e)
	}
}

// sysAccept4 accepts a connection, and its peer's address into peer if
// that is not nil.
func sysAccept4(fd int, flags int, peer *rawSockaddr) (int, error) {
	var addr, addrLen uintptr
	if peer != nil {
		peer.len = uint32(unsafe.Sizeof(peer.any))
		addr, addrLen = uintptr(unsafe.Pointer(&peer.any)), uintptr(unsafe.Pointer(&peer.len))
	}
	for {
		nfd, _, e := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), addr, addrLen, uintptr(flags), 0, 0)
		if e == unix.EINTR {
			continue
		}
		return int(nfd), errnoErr(e)
	}
}

func sysBind(fd int, sa *rawSockaddr) error {
	_, _, e := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(sa.ptr()), uintptr(sa.size()))
	return errnoErr(e)
}

// sysConnect does not retry EINTR: the connection attempt goes on in the
// kernel, and the caller treats EINTR like EINPROGRESS.
func sysConnect(fd int, sa *rawSockaddr) error {
	_, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(sa.ptr()), uintptr(sa.size()))
	return errnoErr(e)
}

func sysGetsockname(fd int) (*rawSockaddr, error) { return sysGetname(unix.SYS_GETSOCKNAME, fd) }
func sysGetpeername(fd int) (*rawSockaddr, error) { return sysGetname(unix.SYS_GETPEERNAME, fd) }

func sysGetname(trap uintptr, fd int) (*rawSockaddr, error) {
	r := new(rawSockaddr)
	r.len = uint32(unsafe.Sizeof(r.any))
	_, _, e := unix.Syscall(trap, uintptr(fd), uintptr(unsafe.Pointer(&r.any)), uintptr(unsafe.Pointer(&r.len)))
	if e != 0 {
		return nil, e
	}
	return r, nil
}
