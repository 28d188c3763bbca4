package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStreamLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name   string
		domain int
		addr   func(t *testing.T) SockAddr
	}{
		{"inet", unix.AF_INET, func(*testing.T) SockAddr { return loopback(unix.AF_INET) }},
		{"inet6", unix.AF_INET6, func(*testing.T) SockAddr { return loopback(unix.AF_INET6) }},
		{"local", unix.AF_UNIX, func(t *testing.T) SockAddr { return localAddr(t) }},
		{"abstract", unix.AF_UNIX, func(t *testing.T) SockAddr {
			return SockAddr{Family: FamilyLocal, Path: fmt.Appendf(nil, "\x00sockd-test-%d-%s", os.Getpid(), t.Name())}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Config{})
			owner, acceptor := newRecorder("owner"), newRecorder("acceptor")

			ln := mustOpen(t, e, owner, tc.domain, unix.SOCK_STREAM)
			defer ln.Close()
			if info := ln.Info(); info.NumReaders+info.NumWriters+info.NumAcceptors != 0 || len(info.RStates) != 0 {
				t.Fatalf("fresh socket info: %+v", info)
			}
			want := tc.addr(t)
			if err := ln.Bind(want); err != nil {
				t.Fatal("bind:", err)
			}
			if err := ln.Listen(5); err != nil {
				t.Fatal("listen:", err)
			}
			sa, err := ln.SockName()
			if err != nil {
				t.Fatal(err)
			}
			if sa.Family != want.Family || (want.Family == FamilyLocal && !bytes.Equal(sa.Path, want.Path)) {
				t.Fatalf("sockname %+v, want %+v", sa, want)
			}
			if got := ln.Info().RStates; !slices.Equal(got, []string{"bound", "listening"}) {
				t.Fatalf("listener rstates %v", got)
			}

			cl := mustOpen(t, e, owner, tc.domain, unix.SOCK_STREAM)
			defer cl.Close()
			if r := cl.Connect(bg, owner, &sa, infinity); r.Err != nil {
				t.Fatal("connect:", r.Err)
			}
			ar := ln.Accept(bg, acceptor, infinity)
			if ar.Err != nil {
				t.Fatal("accept:", ar.Err)
			}
			sv := ar.Socket
			defer sv.Close()
			if sv.Owner() != Caller(acceptor) {
				t.Fatal("accepted socket not owned by the acceptor")
			}
			if got, ok := e.Lookup(sv.ID()); !ok || got != sv {
				t.Fatal("accepted socket not in the table")
			}
			if got := sv.Info().WStates; !slices.Equal(got, []string{"connected"}) {
				t.Fatalf("accepted wstates %v", got)
			}
			if peer, err := cl.PeerName(); err != nil || peer.Family != want.Family {
				t.Fatalf("peername %+v %v", peer, err)
			}

			mustSend(t, cl, owner, "ping")
			if r := sv.Recv(bg, acceptor, 4, 0, infinity); r.Err != nil || string(r.Data) != "ping" {
				t.Fatalf("recv: %+v", r)
			}
			mustSend(t, sv, acceptor, "pong")
			if r := cl.Recv(bg, owner, 0, 0, infinity); r.Err != nil || string(r.Data) != "pong" {
				t.Fatalf("recv: %+v", r)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	if _, err := e.Open(c, 12345, unix.SOCK_STREAM, 0, OpenOptions{}); !errors.Is(err, unix.EAFNOSUPPORT) {
		t.Fatalf("bad domain: %v", err)
	}
	if _, err := e.Open(c, unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_UDP, OpenOptions{}); !errors.Is(err, unix.EPROTONOSUPPORT) {
		t.Fatalf("bad protocol: %v", err)
	}
	if PosixName(unix.EPROTONOSUPPORT) != "eprotonosupport" {
		t.Fatal(PosixName(unix.EPROTONOSUPPORT))
	}
	if e.NumOpen() != 0 {
		t.Fatalf("failed opens hold %d sockets", e.NumOpen())
	}
}

func TestOpenOptionsAndInfo(t *testing.T) {
	yes := true
	e := newEngine(t, Config{DefaultUseRegistry: false})
	c := newRecorder("c")
	s, err := e.Open(c, unix.AF_INET, unix.SOCK_DGRAM, 0, OpenOptions{Debug: true, UseRegistry: &yes})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info := s.Info()
	if !s.Debug() || !info.UseRegistry || info.Owner != "c" || info.Protocol != unix.IPPROTO_UDP || info.Fd < 0 {
		t.Fatalf("info %+v", info)
	}
	if len(s.ID()) != 32 {
		t.Fatalf("id %q", s.ID())
	}
	plain := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_DGRAM)
	defer plain.Close()
	if plain.UseRegistry() || plain.ID() == s.ID() {
		t.Fatal("use_registry default or id reuse")
	}
	s.Close()
	if owner := s.Info().Owner; owner != "" {
		t.Fatalf("a closed socket's info names owner %q, want none (undefined)", owner)
	}
}

func TestBindInvalidAddresses(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	s := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer s.Close()
	wantErr(t, s.Bind(loopback(unix.AF_INET6)), unix.EAFNOSUPPORT) // the kernel's answer, as in Erlang
	l := mustOpen(t, e, c, unix.AF_UNIX, unix.SOCK_STREAM)
	defer l.Close()
	wantInvalid(t, l.Bind(SockAddr{Family: FamilyLocal, Path: bytes.Repeat([]byte("x"), 108)}), "sockaddr")
}

func TestSetOwner(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	s := mustOpen(t, e, a, unix.AF_INET, unix.SOCK_STREAM)
	wantInvalid(t, s.SetOwner(b, b), "not_owner")
	if err := s.SetOwner(a, b); err != nil || s.Owner() != Caller(b) {
		t.Fatal(err)
	}
	s.Close()
	wantErr(t, s.SetOwner(b, a), ErrClosed)
}

func TestTombstones(t *testing.T) {
	e := newEngine(t, Config{MaxTombstones: 2})
	c := newRecorder("c")
	var socks []*Socket
	for range 3 {
		socks = append(socks, mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM))
	}
	s := socks[2]
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, ok := e.Lookup(s.ID()); !ok || got != s {
		t.Fatal("closed socket not found")
	}
	info := s.Info()
	if !slices.Equal(info.RStates, []string{"closed"}) || !slices.Equal(info.WStates, []string{"closed"}) || info.Fd != -1 {
		t.Fatalf("closed info %+v", info)
	}
	wantErr(t, s.Close(), ErrClosed)
	wantErr(t, s.Bind(loopback(unix.AF_INET)), ErrClosed)
	wantErr(t, s.Listen(1), ErrClosed)
	wantErr(t, s.Recv(bg, c, 0, 0, nowait).Err, ErrClosed)
	wantErr(t, s.Send(bg, c, []byte("x"), 0, nowait).Err, ErrClosed)
	wantErr(t, s.Accept(bg, c, nowait).Err, ErrClosed)
	wantErr(t, s.Control(func(int) error { return nil }), ErrClosed)
	if slices.Contains(e.Sockets(), s) || e.NumOpen() != 2 {
		t.Fatal("closed socket counted as open")
	}

	e.Forget(socks[0]) // still open: no effect
	if _, ok := e.Lookup(socks[0].ID()); !ok {
		t.Fatal("Forget dropped an open socket")
	}
	e.Forget(s)
	if _, ok := e.Lookup(s.ID()); ok {
		t.Fatal("forgotten socket still found")
	}

	// Past MaxTombstones the oldest tombstone goes first.
	for _, s := range socks[:2] {
		s.Close()
	}
	extra := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	extra.Close()
	if _, ok := e.Lookup(socks[0].ID()); ok {
		t.Fatal("oldest tombstone not evicted")
	}
	for _, s := range []*Socket{socks[1], extra} {
		if _, ok := e.Lookup(s.ID()); !ok {
			t.Fatal("recent tombstone evicted")
		}
	}
}

// tenantRecorder is a recorder that acts for tenant.
type tenantRecorder struct {
	*recorder
	tenant string
}

func (r tenantRecorder) Tenant() any { return r.tenant }

// One tenant closing sockets fast pushes out its own tombstones, not
// another's: past MaxTombstones the oldest of the tenant with the most goes.
func TestTombstonesByTenant(t *testing.T) {
	e := newEngine(t, Config{MaxTombstones: 8})
	quiet := tenantRecorder{newRecorder("quiet"), "quiet"}
	busy := tenantRecorder{newRecorder("busy"), "busy"}
	var kept []*Socket
	for range 3 {
		s := mustOpen(t, e, quiet, unix.AF_INET, unix.SOCK_DGRAM)
		s.Close()
		kept = append(kept, s)
	}
	var churned []*Socket
	for range 50 {
		s := mustOpen(t, e, busy, unix.AF_INET, unix.SOCK_DGRAM)
		s.Close()
		churned = append(churned, s)
	}
	for _, s := range kept {
		if _, ok := e.Lookup(s.ID()); !ok {
			t.Fatal("another tenant's churn evicted a quiet tenant's tombstone")
		}
	}
	found := 0
	for _, s := range churned {
		if _, ok := e.Lookup(s.ID()); ok {
			found++
		}
	}
	if found != 5 {
		t.Fatalf("the busy tenant keeps %d tombstones, want the 5 the bound leaves it", found)
	}
	if _, ok := e.Lookup(churned[len(churned)-1].ID()); !ok {
		t.Fatal("the busy tenant's newest tombstone was evicted")
	}
}

func TestSocketQuota(t *testing.T) {
	e := newEngine(t, Config{MaxSockets: 2})
	c := newRecorder("c")
	a := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	b := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	_, err := e.Open(c, unix.AF_INET, unix.SOCK_STREAM, 0, OpenOptions{})
	var q *QuotaError
	if !errors.As(err, &q) || q.Resource != "sockets" || q.Limit != 2 {
		t.Fatalf("third open: %v", err)
	}
	a.Close()
	b.Close()
	if e.NumOpen() != 0 {
		t.Fatal(e.NumOpen())
	}
}

func TestEngineCloseAbortsEverything(t *testing.T) {
	e, err := New(Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := newRecorder("c")
	ln, _ := listen(t, e, c, unix.AF_INET)
	r := ln.Accept(bg, c, nowait)
	if r.Select == nil {
		t.Fatalf("accept: %+v", r)
	}
	done := make(chan error)
	go func() { done <- ln.Accept(bg, newRecorder("blocked"), infinity).Err }()
	eventually(t, "queued acceptor", func() bool { return ln.Info().NumAcceptors == 2 })

	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, <-done, ErrClosed)
	wantErr(t, c.expectAbort(t, r.Select.Handle), ErrClosed)
	if !ln.Closed() || e.NumOpen() != 0 {
		t.Fatal("socket survived engine close")
	}
	if _, err := e.Open(c, unix.AF_INET, unix.SOCK_STREAM, 0, OpenOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("open after close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal("second close:", err)
	}
}

func TestAbandon(t *testing.T) {
	e := newEngine(t, Config{})
	owner, other := newRecorder("owner"), newRecorder("other")
	cl, sv := pair(t, e, owner, unix.AF_INET)
	_ = cl
	// A lingering socket must not make Abandon wait.
	if err := sv.Control(func(fd int) error {
		return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1})
	}); err != nil {
		t.Fatal(err)
	}
	r := sv.Recv(bg, other, 0, 0, nowait)
	if r.Select == nil {
		t.Fatalf("recv: %+v", r)
	}
	sv.Abandon()
	if sv.Owner() != nil || !sv.Closed() {
		t.Fatal("abandoned socket still owned or open")
	}
	wantErr(t, other.expectAbort(t, r.Select.Handle), ErrClosed)
	sv.Abandon() // safe twice
}

// TestNetns opens a socket in a fresh network namespace and checks, by the
// socket's own namespace, that it landed there and that the caller's
// namespace is untouched.
func TestNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	nsPath, release := newNetns(t)
	defer release()

	e := newEngine(t, Config{})
	c := newRecorder("c")
	home := threadNetns(t)

	s, err := e.Open(c, unix.AF_INET, unix.SOCK_STREAM, 0, OpenOptions{Netns: nsPath})
	if err != nil {
		t.Fatal("open in netns:", err)
	}
	defer s.Close()
	if got, want := socketNetns(t, s), nsInode(t, nsPath); got != want {
		t.Fatalf("socket in netns %d, want %d", got, want)
	}
	here := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer here.Close()
	if got := socketNetns(t, here); got != home {
		t.Fatalf("plain socket in netns %d, want the home one %d", got, home)
	}
	if now := threadNetns(t); now != home {
		t.Fatalf("caller's netns changed: %d -> %d", home, now)
	}
	if _, err := e.Open(c, unix.AF_INET, unix.SOCK_STREAM, 0, OpenOptions{Netns: "/nonexistent/ns"}); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("bad netns path: %v", err)
	}
	// A path that is no namespace is refused without being opened: a FIFO
	// would block the open for ever, a device would see it.
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, "/dev/null", "/proc/self/status"} {
		opened := make(chan error, 1)
		go func() {
			s, err := e.Open(c, unix.AF_INET, unix.SOCK_STREAM, 0, OpenOptions{Netns: p})
			if err == nil {
				s.Close()
			}
			opened <- err
		}()
		select {
		case err := <-opened:
			if !errors.Is(err, unix.EINVAL) {
				t.Errorf("netns %s: %v, want einval", p, err)
			}
		case <-time.After(eventWait):
			t.Fatalf("netns %s: open still blocked", p)
		}
	}
	// The namespaces of a process, behind their magic links, still do.
	s2, err := e.Open(c, unix.AF_INET, unix.SOCK_STREAM, 0, OpenOptions{Netns: "/proc/self/ns/net"})
	if err != nil {
		t.Fatal("netns /proc/self/ns/net:", err)
	}
	s2.Close()
}

// socketNetns is the inode of the network namespace s lives in
// (ioctl SIOCGSKNS).
func socketNetns(t *testing.T, s *Socket) uint64 {
	t.Helper()
	const siocgskns = 0x894C
	var ino uint64
	err := s.Control(func(fd int) error {
		nsfd, err := unix.IoctlRetInt(fd, siocgskns)
		if err != nil {
			return err
		}
		defer unix.Close(nsfd)
		var st unix.Stat_t
		if err := unix.Fstat(nsfd, &st); err != nil {
			return err
		}
		ino = st.Ino
		return nil
	})
	if err != nil {
		t.Skip("SIOCGSKNS:", err)
	}
	return ino
}

// threadNetns is the inode of the calling thread's network namespace.
// (Not /proc/self: that is the main thread's, which may be the very thread
// newNetns locked and moved.)
func threadNetns(t *testing.T) uint64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return nsInode(t, "/proc/thread-self/ns/net")
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// newNetns creates a network namespace held by a locked thread and returns
// its path; release lets the thread exit (and the runtime discard it).
func newNetns(t *testing.T) (string, func()) {
	type result struct {
		path string
		err  error
	}
	ready, quit, exited := make(chan result), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		// The thread goes back to its namespace before it is unlocked; if it
		// cannot, it stays locked and dies with the goroutine (unless it is
		// the main thread, which Go parks: readProcNet does not read /proc/net
		// through it for that reason).
		runtime.LockOSThread()
		home, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ready <- result{err: err}
			return
		}
		defer unix.Close(home)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- result{err: err}
			return
		}
		ready <- result{path: fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())}
		<-quit
		if unix.Setns(home, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	r := <-ready
	if r.err != nil {
		<-exited
		t.Skip("cannot create a network namespace:", r.err)
	}
	return r.path, func() { close(quit); <-exited }
}

func TestDebugLogging(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEngine(t, Config{Logger: logger})
	c := newRecorder("c")
	quiet := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_DGRAM)
	loud, err := e.Open(c, unix.AF_INET, unix.SOCK_DGRAM, 0, OpenOptions{Debug: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := loud.Bind(loopback(unix.AF_INET)); err != nil {
		t.Fatal(err)
	}
	to, _ := loud.SockName()
	sel := loud.Recv(bg, c, 0, 0, nowait).Select
	quiet.Recv(bg, c, 0, 0, nowait)
	quiet.SendTo(bg, c, []byte("x"), 0, to, infinity)
	c.expect(t, EventSelect, sel.Handle)
	loud.Recv(bg, c, 0, 0, nowait)
	loud.Shutdown(unix.SHUT_RDWR)
	loud.Close()
	quiet.Close()
	mu.Lock()
	defer mu.Unlock()
	out := buf.String()
	for _, want := range []string{"socket: opened", "socket: bind", "socket: select", "socket: done", "op=recv",
		"socket: shutdown", "socket: closed", loud.ID()} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, quiet.ID()) {
		t.Errorf("socket without debug logged:\n%s", out)
	}
}

// The global debug flag (socket:debug/1) traces a socket whose own flag is
// off; socket_debug/1 is the flag new sockets get.
func TestGlobalDebug(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newEngine(t, Config{Logger: logger})
	c := newRecorder("c")
	s := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_DGRAM)
	e.SetDebug(true)
	if err := s.Bind(loopback(unix.AF_INET)); err != nil {
		t.Fatal(err)
	}
	e.SetDebug(false)
	s.Close()
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "socket: bind") || strings.Contains(out, "socket: closed") || s.Debug() {
		t.Errorf("global debug on for the bind only, the socket's own flag off; log:\n%s", out)
	}
	e.SetSocketDebug(true)
	if on := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_DGRAM); !on.Debug() {
		t.Error("a socket opened under socket_debug has debug off")
	}
	e.SetSocketDebug(false)
	if off := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_DGRAM); off.Debug() {
		t.Error("a socket opened after socket_debug(false) has debug on")
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// A second connect on an established stream socket is eisconn, as in Erlang,
// although Linux answers 0 to the first connect after a nonblocking one.
func TestConnectTwiceIsEisconn(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	_, addr := listen(t, e, c, unix.AF_INET)
	s := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	if r := s.Connect(context.Background(), c, &addr, Timeout{}); r.Err != nil || r.Select != nil {
		t.Fatalf("first connect: %+v", r)
	}
	wantErr(t, s.Connect(context.Background(), c, &addr, Timeout{}).Err, unix.EISCONN)
}

// AF_INET with the obsolete SOCK_PACKET is, to Linux, an AF_PACKET socket
// that sees every interface's frames: the engine refuses a socket of
// another domain than the one asked for (and leaks no descriptor, which
// TestMain checks).
func TestOpenRefusesASocketOfAnotherDomain(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs CAP_NET_RAW to create the packet socket at all")
	}
	e := newEngine(t, Config{})
	const sockPacket, ethPAll = 10, 0x0300 // htons(ETH_P_ALL)
	s, err := e.Open(newRecorder("c"), unix.AF_INET, sockPacket, ethPAll, OpenOptions{})
	var inv *InvalidError
	if !errors.As(err, &inv) || inv.What != "type" {
		t.Fatalf("open(inet, SOCK_PACKET) = %v, %v; want {invalid, type}", s, err)
	}
	if n := e.NumOpen(); n != 0 {
		t.Fatalf("%d places taken after a refused open", n)
	}
}

// lingering makes a server socket with SO_LINGER on for secs and, with
// settle > 0, bytes queued that its peer (returned) does not read: sends
// until the peer's queue stays the same for a send's settle time.
func lingering(t *testing.T, e *Engine, c Caller, secs int32, settle time.Duration) (peer, sv *Socket) {
	t.Helper()
	peer, sv = pair(t, e, c, unix.AF_INET)
	if err := sv.Control(func(fd int) error {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
			return err
		}
		return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: secs})
	}); err != nil {
		t.Fatal(err)
	}
	// Until the peer's window is closed: its queue no longer grows while
	// bytes wait in sv's.
	for last := -1; settle > 0; {
		sv.Send(bg, c, make([]byte, 64<<10), 0, within(settle))
		if n := queued(t, peer); n == last && outQueued(t, sv) > 0 {
			break
		} else {
			last = n
		}
	}
	return peer, sv
}

// A TCP socket's linger is waited for without a thread: a burst of lingering
// closes must not make the runtime start a thread apiece (past 10,000 it
// dies). An engine that stops closes them at once, as the kernel does at a
// process's exit.
func TestLingeringClosesHoldNoThreads(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("owner")
	const n = 60
	socks := make([]*Socket, 0, n)
	for range n {
		_, sv := lingering(t, e, c, 30, 10*time.Millisecond)
		socks = append(socks, sv)
	}
	before := threads(t)
	for _, s := range socks {
		s.Abandon()
	}
	time.Sleep(300 * time.Millisecond) // the closes linger
	if grown := threads(t) - before; grown > 10 {
		t.Fatalf("%d lingering closes made %d threads", n, grown)
	}
	if open := e.NumOpen(); open < n {
		t.Fatalf("%d of %d lingering sockets released before their linger", n-open, n)
	}
	done := make(chan struct{})
	go func() { e.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the engine's close waited for the lingers")
	}
	if open := e.NumOpen(); open != 0 {
		t.Fatalf("%d descriptors still open after the engine stopped", open)
	}
}

// Close of a TCP socket with SO_LINGER waits as Linux's does: for the
// queued bytes and the FIN to be acknowledged, at most the linger time;
// what is left then still goes, after a FIN, not a reset. An idle one
// closes at once, and a socket whose close does not linger (UDP) too.
func TestCloseLingers(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")

	peer, sv := lingering(t, e, c, 1, 100*time.Millisecond)
	queued := sv.Info().Counters.WriteByte
	start := time.Now()
	if err := sv.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 3*time.Second {
		t.Fatalf("close with 1 s of linger and bytes the peer does not read took %v", took)
	}
	var got uint64
	for {
		r := peer.Recv(bg, c, 0, 0, within(5*time.Second))
		got += uint64(len(r.Data))
		if r.Err == ErrClosed {
			break
		}
		if r.Err != nil {
			t.Fatalf("the peer read %d of %d bytes, then %v: want them all, then the end", got, queued, r.Err)
		}
	}
	if got != queued {
		t.Fatalf("the peer read %d bytes, want %d", got, queued)
	}

	peer, sv = lingering(t, e, c, 30, 0)
	start = time.Now()
	sv.Close()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("close of an idle socket with 30 s of linger took %v", took)
	}
	if r := peer.Recv(bg, c, 0, 0, within(5*time.Second)); r.Err != ErrClosed {
		t.Fatalf("the idle socket's peer read %+v, want the end", r)
	}

	udp := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_DGRAM)
	udp.Control(func(fd int) error {
		return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 30})
	})
	start = time.Now()
	udp.Close()
	if took := time.Since(start); took > time.Second {
		t.Fatalf("close of a udp socket with linger took %v", took)
	}
}

// A close whose close(2) lingers in the kernel (MPTCP, SCTP) waits for a
// place among those for no longer than its own linger: with every place
// held (one principal's hour-long lingers held all 64), another's close
// still returns within the linger it asked for, closing as an exiting
// process does, and takes a place that frees meanwhile.
func TestLingerTurnWaitsNoLongerThanTheLinger(t *testing.T) {
	e := newEngine(t, Config{MaxLingeringCloses: 1})
	c := newRecorder("c")
	mptcp := func() *Socket {
		s, err := e.Open(c, unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_MPTCP, OpenOptions{})
		if errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.ENOPROTOOPT) || errors.Is(err, unix.EINVAL) {
			t.Skipf("no MPTCP here: %v", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Control(func(fd int) error {
			return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 1})
		}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	e.lingerTurns <- struct{}{} // every place held
	s := mptcp()
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 3*time.Second {
		t.Fatalf("close with 1 s of linger and no place free took %v, want about 1 s", took)
	}

	s = mptcp()
	time.AfterFunc(200*time.Millisecond, e.lingerDone) // the place frees
	start = time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Fatalf("close once a place freed after 200 ms took %v", took)
	}
	if len(e.lingerTurns) != 0 {
		t.Fatalf("%d places held after the closes", len(e.lingerTurns))
	}
}

// The linger left after a wait for a place is cut to whole seconds, never
// rounded up past it; under a second, none.
func TestLingerAtMost(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, c := range []struct {
		left time.Duration
		want unix.Linger
	}{{1500 * time.Millisecond, unix.Linger{Onoff: 1, Linger: 1}}, {2 * time.Second, unix.Linger{Onoff: 1, Linger: 2}}, {999 * time.Millisecond, unix.Linger{}}} {
		lingerAtMost(fd, c.left)
		got, err := unix.GetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER)
		if err != nil || got.Onoff != c.want.Onoff || c.want.Onoff != 0 && got.Linger != c.want.Linger { // off keeps the old time
			t.Errorf("linger with %v left: %+v %v, want %+v", c.left, got, err, c.want)
		}
	}
}

// An owner's death and a handover by it are decided under one lock: either
// the handover fails (the owner is gone) and the socket closes, or it
// succeeds and the old owner's death leaves the socket to the new one.
func TestAbandonByRacesAHandover(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	for i := range 500 {
		s := mustOpen(t, e, a, unix.AF_INET, unix.SOCK_DGRAM)
		handed := make(chan error, 1)
		go func() { handed <- s.SetOwner(a, b) }()
		abandoned := s.AbandonBy(a)
		err := <-handed
		switch {
		case err == nil && (abandoned || s.Closed() || s.Owner() != Caller(b)):
			t.Fatalf("round %d: handed over, then abandoned %v, closed %v, owner %v", i, abandoned, s.Closed(), s.Owner())
		case err != nil && (!abandoned || !s.Closed()):
			t.Fatalf("round %d: handover failed (%v), abandoned %v, closed %v", i, err, abandoned, s.Closed())
		}
		s.Close()
	}
}

// A lingering close with bytes left unread resets at once, as Linux's
// does, also on a socket whose write side was shut down before (its FIN
// waits behind stuck bytes).
func TestCloseLingeringWithUnreadBytesResets(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	peer, sv := lingering(t, e, c, 3, 100*time.Millisecond)
	if err := sv.Shutdown(unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	mustSend(t, peer, c, "unread")
	eventually(t, "the bytes in sv's queue", func() bool { return queued(t, sv) > 0 })
	start := time.Now()
	sv.Close()
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("close with unread bytes took %v, want at once", took)
	}
	for {
		r := peer.Recv(bg, c, 0, 0, within(5*time.Second))
		if r.Err != nil {
			wantErr(t, r.Err, unix.ECONNRESET)
			return
		}
	}
}
