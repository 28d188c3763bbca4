package engine

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// openSocket creates a socket, in the network namespace at path netns if
// that is not empty, and recorded by the kernel as uid's if uid is set.
func openSocket(domain, typ, protocol int, netns string, uid *uint32) (int, error) {
	create := func() (int, error) { return unix.Socket(domain, typ, protocol) }
	if uid != nil {
		create = func() (int, error) {
			return asFsuid(*uid, func() (int, error) { return unix.Socket(domain, typ, protocol) })
		}
	}
	if netns == "" {
		return create()
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
		leave, err := enterNetns(netns)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, err}
			return
		}
		fd, err := create()
		if leave() {
			runtime.UnlockOSThread()
		}
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// asFsuid runs create (socket(2), accept4(2)) with the calling thread's
// filesystem uid set to uid: the kernel records a new socket's owner
// (sk_uid) from it. setfsuid(2) changes the calling thread only, so the
// goroutine stays on its thread meanwhile, and for good if the fsuid could
// not be put back, so that nothing else runs there with it. A daemon
// without CAP_SETUID cannot switch, and creates the socket as its own, as
// it would anyway.
func asFsuid(uid uint32, create func() (int, error)) (int, error) {
	runtime.LockOSThread()
	prev, err := unix.SetfsuidRetUid(int(uid))
	if err != nil {
		runtime.UnlockOSThread()
		return create()
	}
	fd, err := create()
	unix.SetfsuidRetUid(prev)
	// setfsuid(-1) changes nothing and tells the fsuid in force.
	if now, _ := unix.SetfsuidRetUid(-1); now == prev {
		runtime.UnlockOSThread()
	}
	return fd, err
}

// enterNetns moves the calling (locked) thread into the network namespace
// at path; leave moves it back and reports whether it could.
func enterNetns(path string) (leave func() bool, err error) {
	home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(home)
		return nil, err
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		unix.Close(home)
		return nil, err
	}
	return func() bool {
		defer unix.Close(home)
		return unix.Setns(home, unix.CLONE_NEWNET) == nil
	}, nil
}
