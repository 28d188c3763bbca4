package engine

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// openSocket creates a socket, in the network namespace at path netns if
// that is not empty, and recorded by the kernel as uid's if uid is set.
func openSocket(domain, typ, protocol int, netns string, uid *uint32) (int, error) {
	create := func() (int, error) { return unix.Socket(domain, typ, protocol) }
	if netns == "" && uid == nil {
		return create()
	}
	return onOwnThread(netns, uid, create)
}

// asFsuid runs create (accept4(2)) with the filesystem uid set to uid, which
// the kernel records as a new socket's owner (sk_uid).
func asFsuid(uid uint32, create func() (int, error)) (int, error) {
	return onOwnThread("", &uid, create)
}

// onOwnThread runs create in the network namespace at path netns (if not
// empty) and with the filesystem uid set to uid (if set). setns(2) and
// setfsuid(2) change the calling thread only, so create runs on a goroutine
// of its own, locked to its thread; if the thread cannot be put back the
// goroutine exits still locked and the runtime discards the thread, so that
// nothing else ever runs there. A daemon without CAP_SETUID cannot switch
// its fsuid (setfsuid fails silently) and creates the socket as its own, as
// it would anyway.
func onOwnThread(netns string, uid *uint32, create func() (int, error)) (int, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err, restored := createSwitched(netns, uid, create)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// createSwitched must run on a locked thread; restored is false when the
// thread was left in the other namespace or with the other fsuid.
func createSwitched(netns string, uid *uint32, create func() (int, error)) (fd int, err error, restored bool) {
	restored = true
	if netns != "" {
		leave, err := enterNetns(netns)
		if err != nil {
			return -1, err, true
		}
		defer func() { restored = leave() && restored }()
	}
	if uid != nil {
		prev, _ := unix.SetfsuidRetUid(int(*uid))
		defer func() {
			unix.SetfsuidRetUid(prev)
			// setfsuid(-1) changes nothing and tells the fsuid in force.
			now, _ := unix.SetfsuidRetUid(-1)
			restored = restored && now == prev
		}()
	}
	fd, err = create()
	return fd, err, restored
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

// asOwner makes call, a syscall naming the address to, with the socket's
// OpenOptions.UID as the filesystem uid when to is a filesystem path (a
// local address that is not abstract): the kernel then checks that user's
// rights on the path, and the socket file a bind creates is that user's.
func (s *Socket) asOwner(to *rawSockaddr, call func() (int, error)) (int, error) {
	if uid := s.ownerUID.Load(); uid != nil && to.isPath() {
		return asFsuid(*uid, call)
	}
	return call()
}
