package engine

import (
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// watcher is an Observer that records what it was told, and checks the
// promises of the Observer contract as it goes.
type watcher struct {
	t          testing.TB
	mu         sync.Mutex
	opened     map[*Socket]int
	closed     map[*Socket]int
	registryOn map[*Socket]int
}

func newWatcher(t testing.TB) *watcher {
	return &watcher{t: t, opened: map[*Socket]int{}, closed: map[*Socket]int{}, registryOn: map[*Socket]int{}}
}

func (w *watcher) UseRegistryOn(s *Socket) {
	if !s.UseRegistry() {
		w.t.Errorf("UseRegistryOn(%s) with use_registry off", s.ID())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.registryOn[s]++
}

func (w *watcher) SocketOpened(s *Socket) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opened[s]++
}

func (w *watcher) SocketClosed(s *Socket) {
	if !s.Closed() {
		w.t.Errorf("SocketClosed(%s) before the socket was marked closed", s.ID())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed[s]++
}

func (w *watcher) SocketReleased(s *Socket) {
	if !s.Closed() || !s.Released() {
		w.t.Errorf("SocketReleased(%s) before the socket was closed and its descriptor released", s.ID())
	}
}

func (w *watcher) counts(s *Socket) (opened, closed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.opened[s], w.closed[s]
}

func (w *watcher) want(t testing.TB, what string, s *Socket, opened, closed int) {
	t.Helper()
	if o, c := w.counts(s); o != opened || c != closed {
		t.Errorf("%s: observer saw opened %d, closed %d times; want %d, %d", what, o, c, opened, closed)
	}
}

// observedSocket is an engine with a watcher for its Observer, and a UDP
// socket opened in it with use_registry off.
func observedSocket(t *testing.T) (*watcher, *Engine, *recorder, *Socket) {
	t.Helper()
	w := newWatcher(t)
	e := newEngine(t, Config{Observer: w})
	c := newRecorder("c")
	off := false
	s, err := e.Open(c, unix.AF_INET, unix.SOCK_DGRAM, 0, OpenOptions{UseRegistry: &off})
	if err != nil {
		t.Fatal(err)
	}
	return w, e, c, s
}

func TestObserverSeesEveryOpenAndClose(t *testing.T) {
	w, e, c, s := observedSocket(t)
	w.want(t, "open", s, 1, 0)
	if s.UseRegistry() {
		t.Error("use_registry=false was not applied before the socket was reported")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != ErrClosed {
		t.Fatalf("second close: %v", err)
	}
	w.want(t, "close twice", s, 1, 1)

	// An accepted socket is reported too, with what it inherited.
	cl, sv := pair(t, e, c, unix.AF_INET)
	w.want(t, "connecting socket", cl, 1, 0)
	w.want(t, "accepted socket", sv, 1, 0)

	// Abandon (owner death) reports the close once, however often it runs.
	sv.Abandon()
	sv.Abandon()
	w.want(t, "abandoned socket", sv, 1, 1)

	// Engine.Close reports the sockets it closes.
	left := mustOpen(t, e, c, unix.AF_INET6, unix.SOCK_STREAM)
	e.Close()
	w.want(t, "socket closed by Engine.Close", cl, 1, 1)
	w.want(t, "socket closed by Engine.Close", left, 1, 1)
}

func TestObserverAcceptedSocketInheritsUseRegistry(t *testing.T) {
	w := newWatcher(t)
	e := newEngine(t, Config{Observer: w, DefaultUseRegistry: true})
	c := newRecorder("c")
	ln, sa := listen(t, e, c, unix.AF_INET)
	defer ln.Close()
	ln.SetUseRegistry(false)
	cl := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer cl.Close()
	if r := cl.Connect(bg, c, &sa, infinity); r.Err != nil {
		t.Fatal(r.Err)
	}
	r := ln.Accept(bg, c, infinity)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	defer r.Socket.Close()
	if r.Socket.UseRegistry() {
		t.Error("accepted socket did not inherit use_registry=false from its listener")
	}
	w.want(t, "accepted socket", r.Socket, 1, 0)
}

// Turning use_registry on after the socket was announced tells the
// observer once; setting it at open, again, or off does not.
func TestObserverSeesUseRegistryTurnOn(t *testing.T) {
	w, _, _, s := observedSocket(t)
	defer s.Close()
	count := func() int { w.mu.Lock(); defer w.mu.Unlock(); return w.registryOn[s] }
	if n := count(); n != 0 {
		t.Fatalf("UseRegistryOn told %d times at open", n)
	}
	s.SetUseRegistry(true)
	s.SetUseRegistry(true)
	s.SetUseRegistry(false)
	if n := count(); n != 1 {
		t.Fatalf("UseRegistryOn told %d times for one turn on, want 1", n)
	}
}
