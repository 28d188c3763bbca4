package engine

import (
	"fmt"
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
// setns(2), setfsuid(2), setfsgid(2), setgroups(2) and the raw setresuid(2)
// and setresgid(2) of asUser change the calling thread only. f reports
// whether it put the thread back as it found it; if not, the goroutine
// exits still locked and the runtime discards the thread, so that nothing
// else ever runs there.
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
			return -1, &NetnsError{Path: netns, Err: err}, true
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
	target, err := openNetns(path)
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

// openNetns opens the network namespace file at path for setns. The path is
// the client's: it is looked at through an O_PATH descriptor, which opens
// nothing, and opened for reading only once it is known to be a namespace
// (nsfs) file, so that a FIFO cannot block the call for ever and a device
// sees no open. Anything else is EINVAL, as setns answers.
func openNetns(path string) (int, error) {
	at, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(at)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(at, &fs); err != nil {
		return -1, err
	}
	if fs.Type != unix.NSFS_MAGIC {
		return -1, unix.EINVAL
	}
	// Reopening the O_PATH descriptor opens the inode it found, whatever
	// the path names by now.
	return unix.Open(fmt.Sprintf("/proc/thread-self/fd/%d", at), unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

// pathUser is the user whose rights a syscall of s naming to must be made
// with (asUser): the socket's (OpenOptions.Creds) when to is a filesystem
// path (a local address that is not abstract), so that the kernel checks
// that user's rights on the path and the socket file a bind creates is the
// user's; nil otherwise.
func (s *Socket) pathUser(to *rawSockaddr) *Creds {
	if c := s.creds; c != nil && to.isPath() {
		return c
	}
	return nil
}

// peerUser is the user a local socket acts for (OpenOptions.Creds), or nil.
// Its connect(2) and listen(2) must be made as that user (asUser): the
// kernel records the caller's credentials then, and the other end reads
// them with SO_PEERCRED and SO_PEERGROUPS; made as the daemon, a user's
// connection would look like root's to every service that trusts its
// peer's uid (D-Bus, systemd, docker), abstract addresses included.
func (s *Socket) peerUser() *Creds {
	if s.domain != unix.AF_UNIX {
		return nil
	}
	return s.creds
}

// asUser makes call as c on a locked thread of its own: effective (and so
// filesystem) uid and gid c's, no supplementary groups, so that the kernel
// checks c's rights and never more, and records c as the caller where a
// peer can read it. The real and saved uids stay the daemon's, so that
// the thread can switch back, and so that c's other processes cannot
// signal or trace it. A daemon that cannot switch (no CAP_SETUID or
// CAP_SETGID) answers EPERM rather than make the call with its own rights.
// With c nil, call is made here, as the daemon.
func asUser(c *Creds, call func() (int, error)) (int, error) {
	if c == nil {
		return call()
	}
	return onLockedThread(func() (int, error, bool) { return callAsUser(*c, call) })
}

// threadCreds are the credentials of the calling thread that asUser
// changes, with its capabilities, which the switches change too.
type threadCreds struct {
	euid, egid int
	groups     []int
	caps       [2]unix.CapUserData
}

func currentThreadCreds() (threadCreds, error) {
	_, euid, _ := unix.Getresuid()
	_, egid, _ := unix.Getresgid()
	groups, err := unix.Getgroups()
	t := threadCreds{euid: euid, egid: egid, groups: groups}
	if err == nil {
		err = unix.Capget(capsHeader(), &t.caps[0])
	}
	return t, err
}

// capsHeader names the calling thread (pid 0) to capget(2) and capset(2).
func capsHeader() *unix.CapUserHeader {
	return &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
}

// become switches the calling thread to euid and egid with no
// supplementary groups. It changes that thread only: unix.Setresuid and
// friends go through syscall's all-threads variants, these raw calls do
// not. Groups and gid go first, while the thread still has its
// capabilities; leaving euid 0 then clears the effective set.
func become(euid, egid int) {
	const keep = ^uintptr(0) // -1: leave as it is
	unix.Setgroups(nil)      // x/sys/unix: this thread only
	unix.RawSyscall(unix.SYS_SETRESGID, keep, uintptr(egid), keep)
	unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(euid), keep)
}

// restore switches the calling thread back to t: uid first, which gives
// back capabilities for the rest, and the capability sets last, since a
// return to euid 0 makes the effective set the whole permitted one.
func (t threadCreds) restore() {
	const keep = ^uintptr(0)
	unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(t.euid), keep)
	unix.RawSyscall(unix.SYS_SETRESGID, keep, uintptr(t.egid), keep)
	unix.Setgroups(t.groups)
	caps := t.caps
	unix.Capset(capsHeader(), &caps[0])
}

func (t threadCreds) equal(u threadCreds) bool {
	return t.euid == u.euid && t.egid == u.egid && slices.Equal(t.groups, u.groups) && t.caps == u.caps
}

// callAsUser must run on a locked thread.
func callAsUser(c Creds, call func() (int, error)) (n int, err error, restored bool) {
	prev, err := currentThreadCreds()
	if err != nil {
		return 0, err, true
	}
	become(int(c.UID), int(c.GID))
	defer func() {
		prev.restore()
		now, err := currentThreadCreds()
		restored = err == nil && now.equal(prev)
	}()
	if !switchedTo(c) {
		return 0, unix.EPERM, true // restored says the rest
	}
	n, err = call()
	return n, err, true
}

// switchedTo reports whether the calling thread now acts as c and no more:
// effective and filesystem uid and gid c's, no supplementary groups, and no
// effective capability (the kernel clears them when the effective uid
// leaves 0, unless a securebit keeps them).
func switchedTo(c Creds) bool {
	now, err := currentThreadCreds()
	fsuid, _ := unix.SetfsuidRetUid(-1) // -1 changes nothing and tells what is in force
	fsgid, _ := unix.SetfsgidRetGid(-1)
	return err == nil && now.euid == int(c.UID) && now.egid == int(c.GID) && len(now.groups) == 0 &&
		fsuid == int(c.UID) && fsgid == int(c.GID) &&
		now.caps[0].Effective == 0 && now.caps[1].Effective == 0
}
