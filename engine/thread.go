package engine

import (
	"runtime"
	"slices"

	"golang.org/x/sys/unix"
)

// openSocket creates a socket, in the network namespace at path netns if
// that is not empty, and recorded by the kernel as c.UID's if c is set.
func openSocket(domain, typ, protocol int, netns string, c *Creds) (int, error) {
	create := func() (int, error) { return unix.Socket(domain, typ, protocol) }
	if netns == "" && c == nil {
		return create()
	}
	return onLockedThread(func() (int, error, bool) { return createSwitched(netns, c, create) })
}

// onLockedThread runs f on a goroutine of its own, locked to its thread:
// setns(2), setfsuid(2), setfsgid(2) and setgroups(2) change the calling
// thread only. f reports whether it put the thread back as it found it; if
// not, the goroutine exits still locked and the runtime discards the
// thread, so that nothing else ever runs there.
func onLockedThread(f func() (int, error, bool)) (int, error) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		n, err, restored := f()
		if restored {
			runtime.UnlockOSThread()
		}
		done <- result{n, err}
	}()
	r := <-done
	return r.n, r.err
}

// createSwitched runs create (socket(2), accept4(2)) in the network
// namespace at path netns (if not empty) and with the filesystem uid set to
// c.UID (if c is set), which the kernel records as a new socket's owner
// (sk_uid). It must run on a locked thread; restored is false when the
// thread was left in the other namespace or with the other fsuid. A daemon
// without CAP_SETUID cannot switch its fsuid (setfsuid fails silently) and
// creates the socket as its own, as it would anyway.
func createSwitched(netns string, c *Creds, create func() (int, error)) (fd int, err error, restored bool) {
	restored = true
	if netns != "" {
		leave, err := enterNetns(netns)
		if err != nil {
			return -1, err, true
		}
		defer func() { restored = leave() && restored }()
	}
	if c != nil {
		prev, _ := unix.SetfsuidRetUid(int(c.UID))
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

// pathUser is the user whose rights a syscall of s naming to must be made
// with (asUser): the socket's (OpenOptions.Creds) when to is a filesystem
// path (a local address that is not abstract), so that the kernel checks
// that user's rights on the path and the socket file a bind creates is the
// user's; nil otherwise.
func (s *Socket) pathUser(to *rawSockaddr) *Creds {
	if c := s.creds.Load(); c != nil && to.isPath() {
		return c
	}
	return nil
}

// asUser makes call with the filesystem uid and gid set to c's and no
// supplementary groups, on a locked thread of its own, so that the kernel
// checks c's rights and never more: a daemon that cannot switch (no
// CAP_SETUID or CAP_SETGID) answers EPERM rather than make the call with
// its own rights.
func asUser(c *Creds, call func() (int, error)) (int, error) {
	return onLockedThread(func() (int, error, bool) { return callAsUser(*c, call) })
}

// callAsUser must run on a locked thread.
func callAsUser(c Creds, call func() (int, error)) (n int, err error, restored bool) {
	groups, err := unix.Getgroups()
	if err != nil {
		return 0, err, true
	}
	prevGID, _ := unix.SetfsgidRetGid(int(c.GID))
	prevUID, _ := unix.SetfsuidRetUid(int(c.UID))
	unix.Setgroups(nil)
	defer func() {
		unix.Setgroups(groups)
		unix.SetfsuidRetUid(prevUID)
		unix.SetfsgidRetGid(prevGID)
		// setfsuid(-1) and setfsgid(-1) change nothing and tell what is in force.
		uid, _ := unix.SetfsuidRetUid(-1)
		gid, _ := unix.SetfsgidRetGid(-1)
		now, err := unix.Getgroups()
		restored = uid == prevUID && gid == prevGID && err == nil && slices.Equal(now, groups)
	}()
	if !switchedTo(c) {
		return 0, unix.EPERM, true // restored says the rest
	}
	n, err = call()
	return n, err, true
}

// switchedTo reports whether the calling thread now has c's filesystem
// rights and no more: fsuid and fsgid c's, no supplementary groups, and
// none of the capabilities that bypass file permissions (the kernel drops
// them when the fsuid leaves 0, unless a securebit keeps them).
func switchedTo(c Creds) bool {
	uid, _ := unix.SetfsuidRetUid(-1)
	gid, _ := unix.SetfsgidRetGid(-1)
	groups, err := unix.Getgroups()
	if uid != int(c.UID) || gid != int(c.GID) || err != nil || len(groups) != 0 {
		return false
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3} // Pid 0: this thread
	var data [2]unix.CapUserData
	if unix.Capget(&hdr, &data[0]) != nil {
		return false
	}
	const bypass = 1<<unix.CAP_DAC_OVERRIDE | 1<<unix.CAP_DAC_READ_SEARCH | 1<<unix.CAP_FOWNER
	return data[0].Effective&bypass == 0
}
