package engine

import (
	"runtime"
	"slices"
	"unsafe"

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

// asOwner makes call, a syscall naming the address to, as the socket's
// user (OpenOptions.Creds) when to is a filesystem path (a local address
// that is not abstract): the kernel then checks that user's rights on the
// path, and the socket file a bind creates is the user's.
func (s *Socket) asOwner(to *rawSockaddr, call func() (int, error)) (int, error) {
	if c := s.creds.Load(); c != nil && to.isPath() {
		return asUser(*c, call)
	}
	return call()
}

// asUser makes call with the calling thread's filesystem uid and gid set to
// c's and no supplementary groups, on a goroutine of its own locked to its
// thread, so that the kernel checks c's rights and never more: a daemon
// that cannot switch (no CAP_SETUID or CAP_SETGID) answers EPERM rather
// than make the call with its own rights. If the thread cannot be put back
// it is discarded (the goroutine exits locked).
func asUser(c Creds, call func() (int, error)) (int, error) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		n, err, restored := callAsUser(c, call)
		if restored {
			runtime.UnlockOSThread()
		}
		done <- result{n, err}
	}()
	r := <-done
	return r.n, r.err
}

// callAsUser must run on a locked thread.
func callAsUser(c Creds, call func() (int, error)) (n int, err error, restored bool) {
	groups, err := threadGroups()
	if err != nil {
		return 0, err, true
	}
	prevGID, _ := unix.SetfsgidRetGid(int(c.GID))
	prevUID, _ := unix.SetfsuidRetUid(int(c.UID))
	setThreadGroups(nil)
	defer func() {
		setThreadGroups(groups)
		unix.SetfsuidRetUid(prevUID)
		unix.SetfsgidRetGid(prevGID)
		// setfsuid(-1) and setfsgid(-1) change nothing and tell what is in force.
		uid, _ := unix.SetfsuidRetUid(-1)
		gid, _ := unix.SetfsgidRetGid(-1)
		now, err := threadGroups()
		restored = uid == prevUID && gid == prevGID && err == nil && slices.Equal(now, groups)
	}()
	uid, _ := unix.SetfsuidRetUid(-1)
	gid, _ := unix.SetfsgidRetGid(-1)
	if now, err := threadGroups(); uid != int(c.UID) || gid != int(c.GID) || err != nil || len(now) != 0 {
		return 0, unix.EPERM, true // restored says the rest
	}
	n, err = call()
	return n, err, true
}

// threadGroups and setThreadGroups are getgroups(2) and setgroups(2) of the
// calling thread alone: the raw syscalls, which the C library would apply
// to every thread of the process.
func threadGroups() ([]uint32, error) {
	n, _, e := unix.RawSyscall(unix.SYS_GETGROUPS, 0, 0, 0)
	if e != 0 {
		return nil, e
	}
	if n == 0 {
		return nil, nil
	}
	groups := make([]uint32, n)
	n, _, e = unix.RawSyscall(unix.SYS_GETGROUPS, n, uintptr(unsafe.Pointer(&groups[0])), 0)
	if e != 0 {
		return nil, e
	}
	return groups[:n], nil
}

func setThreadGroups(groups []uint32) {
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(p), 0)
}
