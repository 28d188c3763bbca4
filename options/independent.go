package options

import "golang.org/x/sys/unix"

// setsockoptIndependent is setsockopt with Linux's coupling of IP_TOS and
// SO_PRIORITY undone (reference §6.6). Setting IP_TOS also sets the socket's
// priority on Linux, so a priority set earlier would silently change. Like
// Erlang's NIF, it reads both before the call and afterwards restores the one
// the call did not name, so each option keeps the value last set for it.
// Restoring is best effort: a priority above 6 needs CAP_NET_ADMIN to be
// set again, and the NIF ignores that EPERM too.
func setsockoptIndependent(fd, level, name int, b []byte) error {
	prio, prioErr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY)
	tos, tosErr := unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS)
	if err := setsockopt(fd, level, name, b); err != nil {
		return err
	}
	if prioErr == nil && !(level == unix.SOL_SOCKET && name == unix.SO_PRIORITY) {
		restoreInt(fd, unix.SOL_SOCKET, unix.SO_PRIORITY, prio)
	}
	if tosErr == nil && !(level == unix.IPPROTO_IP && name == unix.IP_TOS) {
		restoreInt(fd, unix.IPPROTO_IP, unix.IP_TOS, tos)
	}
	return nil
}

// restoreInt sets the option back to was if it changed; errors are ignored.
func restoreInt(fd, level, name, was int) {
	if now, err := unix.GetsockoptInt(fd, level, name); err == nil && now != was {
		_ = unix.SetsockoptInt(fd, level, name, was)
	}
}
