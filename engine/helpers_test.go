package engine

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	bg       = context.Background()
	infinity = Timeout{Kind: WaitInfinity}
	nowait   = Timeout{Kind: WaitNowait}
	poll     = Timeout{Kind: WaitFor}
)

func within(d time.Duration) Timeout { return Timeout{Kind: WaitFor, D: d} }
func withHandle(h uint64) Timeout    { return Timeout{Kind: WaitNowait, Handle: h} }
func completion() Timeout            { return Timeout{Kind: WaitNowait, Completion: true} }

// eventWait bounds how long a test waits for an event that must come;
// quietWait is how long it listens for one that must not.
const (
	eventWait = 5 * time.Second
	quietWait = 100 * time.Millisecond
)

// recorder is a test Caller: it records delivered events, and flags any
// event for a handle the test has declared cancelled. As a RequestLimiter
// it counts its requests (in outstandingRequests too, which every engine's
// close must bring back to zero) and refuses those past requestQuota, if
// set.
type recorder struct {
	name   string
	events chan Event

	requests     atomic.Int64
	requestQuota int64 // 0: none

	mu        sync.Mutex
	cancelled map[uint64]bool
	late      []Event
}

func newRecorder(name string) *recorder {
	return &recorder{name: name, events: make(chan Event, 1024), cancelled: map[uint64]bool{}}
}

func (r *recorder) CallerID() string { return r.name }

// outstandingRequests counts the requests of every recorder: the engine
// must give back every place it takes, whichever way a request ends.
var outstandingRequests atomic.Int64

func (r *recorder) ReserveRequest() (bool, error) {
	if n := r.requests.Add(1); r.requestQuota > 0 && n > r.requestQuota {
		r.requests.Add(-1)
		return false, &QuotaError{Resource: "requests", Limit: int(r.requestQuota)}
	}
	outstandingRequests.Add(1)
	return true, nil
}

func (r *recorder) ReleaseRequest() {
	if r.requests.Add(-1) < 0 {
		panic("recorder " + r.name + ": more requests released than reserved")
	}
	outstandingRequests.Add(-1)
}

func (r *recorder) Deliver(ev Event) {
	r.mu.Lock()
	if ev.Handle != 0 && r.cancelled[ev.Handle] {
		r.late = append(r.late, ev)
	}
	r.mu.Unlock()
	select {
	case r.events <- ev:
	default:
		panic("recorder " + r.name + ": event buffer full")
	}
}

// markCancelled declares that no event for handle may arrive from now on.
func (r *recorder) markCancelled(handle uint64) {
	r.mu.Lock()
	r.cancelled[handle] = true
	r.mu.Unlock()
}

func (r *recorder) lateEvents() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.late
}

// expect waits for the next event and checks its kind and handle.
func (r *recorder) expect(t testing.TB, kind EventKind, handle uint64) Event {
	t.Helper()
	select {
	case ev := <-r.events:
		if ev.Kind != kind || ev.Handle != handle {
			t.Fatalf("%s: got event kind %d handle %d (reason %v), want kind %d handle %d",
				r.name, ev.Kind, ev.Handle, ev.Reason, kind, handle)
		}
		return ev
	case <-time.After(eventWait):
		t.Fatalf("%s: no event (want kind %d handle %d)", r.name, kind, handle)
	}
	return Event{}
}

// expectAbort waits for the abort of handle and returns its reason. A select
// for the same handle may come first: a wakeup may be spurious (an edge
// harvested just before the side was found empty), which Erlang allows.
func (r *recorder) expectAbort(t testing.TB, handle uint64) error {
	t.Helper()
	for {
		select {
		case ev := <-r.events:
			switch {
			case ev.Kind == EventAbort && ev.Handle == handle:
				return ev.Reason
			case ev.Kind == EventSelect && ev.Handle == handle:
				continue
			}
			t.Fatalf("%s: got event kind %d handle %d, want abort of %d", r.name, ev.Kind, ev.Handle, handle)
		case <-time.After(eventWait):
			t.Fatalf("%s: no abort of %d", r.name, handle)
		}
	}
}

// expectNone checks that no event arrives for a while.
func (r *recorder) expectNone(t testing.TB) {
	t.Helper()
	select {
	case ev := <-r.events:
		t.Fatalf("%s: unexpected event kind %d handle %d reason %v", r.name, ev.Kind, ev.Handle, ev.Reason)
	case <-time.After(quietWait):
	}
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	openEngines.Add(1)
	t.Cleanup(func() {
		e.Close()
		if openEngines.Add(-1) == 0 {
			if n := outstandingRequests.Load(); n != 0 {
				t.Errorf("%d requests hold their caller's place after every engine closed", n)
				outstandingRequests.Store(0)
			}
		}
	})
	return e
}

// openEngines counts the engines newEngine started and did not close.
var openEngines atomic.Int64

func mustOpen(t testing.TB, e *Engine, c Caller, domain, typ int) *Socket {
	t.Helper()
	s, err := e.Open(c, domain, typ, 0, OpenOptions{})
	if err != nil {
		t.Fatalf("open(%d, %d): %v", domain, typ, err)
	}
	return s
}

func loopback(domain int) SockAddr {
	if domain == unix.AF_INET6 {
		return SockAddr{Family: FamilyInet6, Addr: netip.IPv6Loopback()}
	}
	return SockAddr{Family: FamilyInet, Addr: netip.AddrFrom4([4]byte{127, 0, 0, 1})}
}

// localAddr is a fresh filesystem path for a local socket, short enough
// for sun_path.
func localAddr(t testing.TB) SockAddr {
	dir, err := os.MkdirTemp("", "sk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return SockAddr{Family: FamilyLocal, Path: []byte(filepath.Join(dir, "s"))}
}

func addrFor(t testing.TB, domain int) SockAddr {
	if domain == unix.AF_UNIX {
		return localAddr(t)
	}
	return loopback(domain)
}

// listen opens a listening stream socket and returns it with its address.
func listen(t testing.TB, e *Engine, c Caller, domain int) (*Socket, SockAddr) {
	t.Helper()
	ln := mustOpen(t, e, c, domain, unix.SOCK_STREAM)
	if err := ln.Bind(addrFor(t, domain)); err != nil {
		t.Fatal("bind:", err)
	}
	if err := ln.Listen(16); err != nil {
		t.Fatal("listen:", err)
	}
	sa, err := ln.SockName()
	if err != nil {
		t.Fatal("sockname:", err)
	}
	return ln, sa
}

// pair returns a connected stream pair (client, server) owned by c.
func pair(t testing.TB, e *Engine, c Caller, domain int) (*Socket, *Socket) {
	t.Helper()
	ln, sa := listen(t, e, c, domain)
	defer ln.Close()
	cl := mustOpen(t, e, c, domain, unix.SOCK_STREAM)
	if r := cl.Connect(bg, c, &sa, infinity); r.Err != nil {
		t.Fatal("connect:", r.Err)
	}
	r := ln.Accept(bg, c, infinity)
	if r.Err != nil {
		t.Fatal("accept:", r.Err)
	}
	t.Cleanup(func() { cl.Close(); r.Socket.Close() })
	return cl, r.Socket
}

// udpPair returns two bound UDP sockets on loopback and their addresses.
func udpPair(t testing.TB, e *Engine, c Caller, domain int) (a, b *Socket, aAddr, bAddr SockAddr) {
	t.Helper()
	a = mustOpen(t, e, c, domain, unix.SOCK_DGRAM)
	b = mustOpen(t, e, c, domain, unix.SOCK_DGRAM)
	t.Cleanup(func() { a.Close(); b.Close() })
	for _, s := range []*Socket{a, b} {
		if err := s.Bind(loopback(domain)); err != nil {
			t.Fatal("bind:", err)
		}
	}
	aAddr, _ = a.SockName()
	bAddr, _ = b.SockName()
	return a, b, aAddr, bAddr
}

// boundLocalDgram opens a local datagram socket bound to a fresh path, and
// returns it with its address.
func boundLocalDgram(t testing.TB, e *Engine, c Caller) (*Socket, SockAddr) {
	t.Helper()
	s := mustOpen(t, e, c, unix.AF_UNIX, unix.SOCK_DGRAM)
	t.Cleanup(func() { s.Close() })
	addr := localAddr(t)
	if err := s.Bind(addr); err != nil {
		t.Fatal("bind:", err)
	}
	return s, addr
}

// fillUntilTimeout sends until a send of timeout 0 times out: a receiver's
// queue, or a socket's buffer, is full.
func fillUntilTimeout(t testing.TB, send func() SendResult) {
	t.Helper()
	for i := 0; ; i++ {
		r := send()
		if r.Err == ErrTimeout {
			return
		}
		if r.Err != nil || i > 10000 {
			t.Fatalf("filling: %+v after %d", r, i)
		}
	}
}

func mustSend(t testing.TB, s *Socket, c Caller, data string) {
	t.Helper()
	if r := s.Send(bg, c, []byte(data), 0, infinity); r.Err != nil || r.Unsent != 0 {
		t.Fatalf("send: %+v", r)
	}
}

func wantErr(t testing.TB, got, want error) {
	t.Helper()
	if !errors.Is(got, want) {
		t.Fatalf("error %v, want %v", got, want)
	}
}

func wantInvalid(t testing.TB, err error, what string) {
	t.Helper()
	var inv *InvalidError
	if !errors.As(err, &inv) || inv.What != what {
		t.Fatalf("error %v, want invalid %s", err, what)
	}
}

func setInt(t testing.TB, s *Socket, level, opt, v int) {
	t.Helper()
	if err := s.Control(func(fd int) error { return unix.SetsockoptInt(fd, level, opt, v) }); err != nil {
		t.Fatalf("setsockopt(%d, %d): %v", level, opt, err)
	}
}

// eventually polls cond until it holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// errOf is the error of a call that also answers a value the test ignores.
func errOf[T any](_ T, err error) error { return err }

// keepSending sends chunks of size on s, each within each (a timeout is
// no reason to stop), until the returned stop is called or a send fails.
func keepSending(s *Socket, c Caller, size int, each time.Duration) (stop func()) {
	stopC, sending := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sending)
		chunk := make([]byte, size)
		for {
			select {
			case <-stopC:
				return
			default:
			}
			if r := s.Send(bg, c, chunk, 0, within(each)); r.Err != nil && r.Err != ErrTimeout {
				return
			}
		}
	}()
	return func() { close(stopC); <-sending }
}

// queued is what s's receive queue holds (SIOCINQ).
func queued(t testing.TB, s *Socket) int { return ioctlInt(t, s, unix.SIOCINQ) }

// outQueued is what s's send queue holds, sent or not (SIOCOUTQ).
func outQueued(t testing.TB, s *Socket) int { return ioctlInt(t, s, unix.SIOCOUTQ) }

func ioctlInt(t testing.TB, s *Socket, req uint) int {
	t.Helper()
	var n int
	s.Control(func(fd int) error {
		var err error
		n, err = unix.IoctlGetInt(fd, req)
		return err
	})
	return n
}
