package engine

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// procNetUID is the uid /proc/net/FILE records for the socket bound to
// local port port on 127.0.0.1.
// readProcNet reads /proc/net/file as this process's network namespace has
// it: through a thread of its own, since /proc/net follows the main thread,
// which a test that left a namespace locked on it may have kept there.
func readProcNet(t *testing.T, file string) []byte {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b, err := os.ReadFile("/proc/thread-self/net/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func procNetUID(t *testing.T, file string, port uint16) int {
	t.Helper()
	b := readProcNet(t, file)
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 7 && f[1] == want {
			uid, err := strconv.Atoi(f[7])
			if err != nil {
				t.Fatal(err)
			}
			return uid
		}
	}
	t.Fatalf("no socket on 127.0.0.1:%d in /proc/net/%s", port, file)
	return -1
}

// everyThreadRoot fails t if a thread of the process is left with another
// real, effective, saved or filesystem uid or gid than root's, or other
// supplementary groups or effective capabilities than the main thread's.
func everyThreadRoot(t *testing.T, after string) {
	t.Helper()
	credLines := func(task string) map[string]string {
		b, err := os.ReadFile("/proc/self/task/" + task + "/status")
		if err != nil {
			return nil // the thread has exited
		}
		lines := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && slices.Contains([]string{"Uid", "Gid", "Groups", "CapEff"}, name) {
				lines[name] = strings.Join(strings.Fields(value), " ")
			}
		}
		return lines
	}
	main := credLines(strconv.Itoa(os.Getpid()))
	if main["Uid"] != "0 0 0 0" || main["Gid"] != "0 0 0 0" {
		t.Fatalf("the main thread is not root's: %v", main)
	}
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		if lines := credLines(task.Name()); lines != nil && !maps.Equal(lines, main) {
			t.Errorf("after %s, thread %s has %v, the main thread %v", after, task.Name(), lines, main)
		}
	}
}

// A socket opened with OpenOptions.Creds is that uid's in the kernel's eyes,
// and so are the connections it accepts; without it, the daemon's.
func TestOpenAsUID(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setfsuid needs CAP_SETUID")
	}
	e := newEngine(t, Config{})
	c := newRecorder("c")
	creds := Creds{UID: 4242, GID: 4242}
	open := func(typ int, opts OpenOptions) (*Socket, uint16) {
		s, err := e.Open(c, unix.AF_INET, typ, 0, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Bind(loopback(unix.AF_INET)); err != nil {
			t.Fatal(err)
		}
		sa, err := s.SockName()
		if err != nil {
			t.Fatal(err)
		}
		return s, sa.Port
	}
	if _, port := open(unix.SOCK_DGRAM, OpenOptions{Creds: &creds}); procNetUID(t, "udp", port) != 4242 {
		t.Errorf("a socket opened as uid 4242 is uid %d's", procNetUID(t, "udp", port))
	}
	if _, port := open(unix.SOCK_DGRAM, OpenOptions{}); procNetUID(t, "udp", port) != 0 {
		t.Errorf("a socket opened without a uid is uid %d's", procNetUID(t, "udp", port))
	}
	everyThreadRoot(t, "the opens")
	// Accept on a socket that does not listen fails at once, as without a
	// uid, rather than waiting for connections that cannot come.
	udp, _ := open(unix.SOCK_DGRAM, OpenOptions{Creds: &creds})
	if r := udp.Accept(bg, c, nowait); r.Err == nil || r.Select != nil {
		t.Errorf("accept on a datagram socket as uid 4242: %+v, want an error", r)
	}

	ln, port := open(unix.SOCK_STREAM, OpenOptions{Creds: &creds})
	if err := ln.Listen(4); err != nil {
		t.Fatal(err)
	}
	// The accept waits first (finding nothing, it does not switch threads),
	// then the loop makes it in completion mode when the connection comes.
	sel := ln.Accept(bg, c, completion())
	if sel.Err != nil || sel.Select == nil {
		t.Fatalf("accept: %+v", sel)
	}
	peer := dialFrom(t, "127.0.0.1", SockAddr{Family: FamilyInet, Addr: loopback(unix.AF_INET).Addr, Port: port})
	r := *c.expect(t, EventCompletion, sel.Select.Handle).Completion.Accept
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	defer r.Socket.Close()
	local := peer.LocalAddr().String()
	_, p, _ := strings.Cut(local, ":")
	peerPort, _ := strconv.Atoi(p)
	// The accepted end is the one from the listener's port to the dialer's
	// (both: a closed connection of an earlier run may linger in TIME_WAIT,
	// which /proc shows as uid 0's, with the same dialer port).
	b := readProcNet(t, "tcp")
	localAddr, remote := fmt.Sprintf("0100007F:%04X", port), fmt.Sprintf("0100007F:%04X", peerPort)
	found := false
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 7 && f[1] == localAddr && f[2] == remote {
			found = true
			if f[7] != "4242" {
				t.Errorf("the accepted connection is uid %s's, want the listener's 4242", f[7])
			}
		}
	}
	if !found {
		t.Error("the accepted connection is not in /proc/net/tcp")
	}
}

// A socket opened for a uid binds, connects and sends to filesystem paths
// with that user's rights: the kernel checks them, and the socket file a
// bind creates is the user's. Without a uid, the daemon's rights apply.
func TestLocalPathsWithTheOwnersRights(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setfsuid needs CAP_SETUID")
	}
	e := newEngine(t, Config{})
	c := newRecorder("c")
	uid := uint32(4242)
	creds := Creds{UID: uid, GID: uid}
	dir := t.TempDir()
	// Root's directories, which uid 4242 may traverse but not write.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mine := filepath.Join(dir, "mine")
	if err := os.Mkdir(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(mine, int(uid), int(uid)); err != nil {
		t.Fatal(err)
	}
	open := func(typ int, opts OpenOptions) *Socket {
		s, err := e.Open(c, unix.AF_UNIX, typ, 0, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	at := func(path string) SockAddr { return SockAddr{Family: FamilyLocal, Path: []byte(path)} }

	if err := open(unix.SOCK_DGRAM, OpenOptions{Creds: &creds}).Bind(at(filepath.Join(dir, "no"))); err != unix.EACCES {
		t.Errorf("bind in root's directory as uid 4242: %v, want eacces", err)
	}
	if err := open(unix.SOCK_DGRAM, OpenOptions{Creds: &creds}).Bind(at(filepath.Join(mine, "s"))); err != nil {
		t.Fatalf("bind in uid 4242's directory: %v", err)
	}
	if st, err := os.Stat(filepath.Join(mine, "s")); err != nil || st.Sys().(*syscall.Stat_t).Uid != uid {
		t.Errorf("the socket file is not uid 4242's: %v", err)
	}

	// A socket only root may use (mode 0600 in a root directory).
	rootDgram := open(unix.SOCK_DGRAM, OpenOptions{})
	rootPath := filepath.Join(dir, "root")
	if err := rootDgram.Bind(at(rootPath)); err != nil {
		t.Fatal(err)
	}
	os.Chmod(rootPath, 0o600)
	if r := open(unix.SOCK_DGRAM, OpenOptions{Creds: &creds}).SendTo(bg, c, []byte("x"), 0, at(rootPath), infinity); r.Err != unix.EACCES {
		t.Errorf("sendto a root-only socket as uid 4242: %+v, want eacces", r)
	}
	if r := open(unix.SOCK_DGRAM, OpenOptions{Creds: &creds}).Connect(bg, c, ptr(at(rootPath)), infinity); r.Err != unix.EACCES {
		t.Errorf("connect to a root-only socket as uid 4242: %+v, want eacces", r)
	}
	if r := open(unix.SOCK_DGRAM, OpenOptions{}).SendTo(bg, c, []byte("x"), 0, at(rootPath), infinity); r.Err != nil {
		t.Errorf("sendto it as the daemon: %+v", r)
	}
	// Groups: the user's own gid counts, the daemon's do not.
	os.Chmod(rootPath, 0o660) // root:root
	if r := open(unix.SOCK_DGRAM, OpenOptions{Creds: &creds}).SendTo(bg, c, []byte("x"), 0, at(rootPath), infinity); r.Err != unix.EACCES {
		t.Errorf("sendto a root:root 0660 socket as uid 4242: %+v, want eacces", r)
	}
	os.Chown(rootPath, 0, int(creds.GID))
	if r := open(unix.SOCK_DGRAM, OpenOptions{Creds: &creds}).SendTo(bg, c, []byte("x"), 0, at(rootPath), infinity); r.Err != nil {
		t.Errorf("sendto a root:4242 0660 socket as uid 4242 gid 4242: %+v", r)
	}
	if st, err := os.Stat(filepath.Join(mine, "s")); err == nil && st.Sys().(*syscall.Stat_t).Gid != creds.GID {
		t.Errorf("the socket file's group is %d, want the user's %d", st.Sys().(*syscall.Stat_t).Gid, creds.GID)
	}
}

func ptr(sa SockAddr) *SockAddr { return &sa }

// The daemon's supplementary groups do not count for a user's socket
// paths. The daemon here is this test binary run again as root with group
// 4243 (setgroups applies to every thread of a process only through
// AllThreadsSyscall, which a -race binary lacks).
func TestLocalPathsIgnoreDaemonGroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if os.Getenv("SOCKD_TEST_GROUPS_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLocalPathsIgnoreDaemonGroups$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SOCKD_TEST_GROUPS_CHILD=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 0, Gid: 0, Groups: []uint32{4243}}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("as root in group 4243: %v\n%s", err, out)
		}
		return
	}
	if groups, _ := unix.Getgroups(); !slices.Contains(groups, 4243) {
		t.Fatalf("the child's groups are %v", groups)
	}
	e := newEngine(t, Config{})
	c := newRecorder("c")
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		os.Chmod(d, 0o755)
	}
	path := filepath.Join(dir, "s")
	server, err := e.Open(c, unix.AF_UNIX, unix.SOCK_DGRAM, 0, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := server.Bind(SockAddr{Family: FamilyLocal, Path: []byte(path)}); err != nil {
		t.Fatal(err)
	}
	os.Chown(path, 0, 4243)
	os.Chmod(path, 0o660)
	user, err := e.Open(c, unix.AF_UNIX, unix.SOCK_DGRAM, 0, OpenOptions{Creds: &Creds{UID: 4242, GID: 4242}})
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close()
	if r := user.SendTo(bg, c, []byte("x"), 0, SockAddr{Family: FamilyLocal, Path: []byte(path)}, infinity); r.Err != unix.EACCES {
		t.Fatalf("sendto a root:4243 0660 socket as uid 4242 of a daemon in group 4243: %+v, want eacces", r)
	}
}

// Close clears otp meta (reference §5): a tombstone keeps none of it.
func TestCloseClearsMeta(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	s := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_DGRAM)
	if err := s.SetMeta(c, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.mu.Lock()
	kept := s.meta
	s.mu.Unlock()
	if kept != nil {
		t.Fatalf("a closed socket keeps %d bytes of meta", len(kept))
	}
}

// Meta read while the socket closes answers the meta or closed, never the
// undefined that close leaves behind.
func TestMetaWhileClosing(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	for i := range 200 {
		s := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_DGRAM)
		if err := s.SetMeta(c, []byte("m")); err != nil {
			t.Fatal(err)
		}
		const readers = 4
		bad := make(chan string, readers)
		var reading sync.WaitGroup
		reading.Add(readers)
		for range readers {
			go func() {
				first := true
				for {
					m, err := s.Meta()
					if first {
						reading.Done()
						first = false
					}
					if err != nil {
						bad <- ""
						return
					}
					if string(m) != "m" {
						bad <- fmt.Sprintf("iteration %d: meta %q with no error", i, m)
						return
					}
				}
			}()
		}
		reading.Wait()
		s.Close()
		for range readers {
			if msg := <-bad; msg != "" {
				t.Fatal(msg)
			}
		}
	}
}
