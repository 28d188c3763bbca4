package engine

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// openSocket creates a socket, in the network namespace at path netns if it
// is not empty.
func openSocket(domain, typ, protocol int, netns string) (int, error) {
	if netns == "" {
		return unix.Socket(domain, typ, protocol)
	}
	// setns(2) changes the calling thread only, so the switch runs on a
	// goroutine locked to its thread. If the thread cannot be switched back
	// it must not run anything else: the goroutine then exits still locked,
	// and the runtime discards the thread.
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err, restored := socketInNetns(domain, typ, protocol, netns)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// socketInNetns must run on a locked thread. restored is false when the
// thread was left in the other namespace.
func socketInNetns(domain, typ, protocol int, netns string) (fd int, err error, restored bool) {
	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err, true
	}
	defer unix.Close(home)
	target, err := unix.Open(netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err, true
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return -1, err, true
	}
	fd, err = unix.Socket(domain, typ, protocol)
	if unix.Setns(home, unix.CLONE_NEWNET) != nil {
		return fd, err, false
	}
	return fd, err, true
}
