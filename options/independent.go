package options

import (
	"sync"

	"golang.org/x/sys/unix"
)

// optionSets serialise option sets, by descriptor, and keep reads out of
// them: a read between a TOS set's set and its restore would see the
// priority the kernel made. Sockets whose descriptors share a stripe wait
// for each other's sets, which take a syscall or three.
var optionSets [64]sync.RWMutex

func optionLock(fd int) *sync.RWMutex { return &optionSets[uint(fd)%uint(len(optionSets))] }

// setsockoptIndependent is setsockopt with Linux's coupling of IP_TOS and
// SO_PRIORITY undone (reference §6.6). Setting IP_TOS also sets the socket's
// priority on Linux, so a priority set earlier would silently change; the
// other direction, and IPV6_TCLASS, leave the other option alone. Like
// Erlang's NIF, an IP_TOS set reads the priority before the call and
// restores it afterwards, so each option keeps the value last set for it;
// every other option is a plain setsockopt. Restoring is best effort: a
// priority above 6 needs CAP_NET_ADMIN to be set again, and the NIF ignores
// that EPERM too.
//
// A socket's sets are serialised, as the NIF's are by its write mutex: a
// priority set between a TOS set's read of the priority and its restore
// would be undone.
func setsockoptIndependent(fd, level, name int, b []byte) error {
	mu := optionLock(fd)
	mu.Lock()
	defer mu.Unlock()
	if level != unix.IPPROTO_IP || name != unix.IP_TOS {
		return setsockopt(fd, level, name, b)
	}
	prio, prioErr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY)
	if err := setsockopt(fd, level, name, b); err != nil {
		return err
	}
	if prioErr == nil {
		restoreInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY, prio)
	}
	return nil
}

// restoreInt sets the option back to was if it changed; errors are ignored.
func restoreInt(fd, level, name, was int) {
	if now, err := unix.GetsockoptInt(fd, level, name); err == nil && now != was {
		_ = unix.SetsockoptInt(fd, level, name, was)
	}
}
