package registry

import (
	"math/rand/v2"
	"testing"

	"github.com/sockd/sockd/engine"
)

func wantDowns(t testing.TB, c *caller, want ...Down) {
	t.Helper()
	got := c.takeDowns()
	if len(got) != len(want) {
		t.Fatalf("%s got downs %v, want %v", c.name, got, want)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("%s: missing %v in %v", c.name, w, got)
		}
	}
}

// Reference scenario 42 (monitor_simple_open_and_close): two monitors from
// one watcher both fire on close.
func TestMonitorOpenAndClose(t *testing.T) {
	e, r := newEngine(t, false)
	a := newCaller("a")
	s := open(t, e, a, inet, stream, nil)
	m1, m2 := r.Monitor(s, a), r.Monitor(s, a)
	if m1 == m2 || m1 == "" {
		t.Fatalf("monitor ids %q, %q: want distinct", m1, m2)
	}
	if !s.UseRegistry() || !r.Registered(s) {
		t.Error("Monitor did not turn use_registry on")
	}
	if n := r.NumberOfMonitors(a); n != 2 {
		t.Errorf("NumberOfMonitors(a) = %d, want 2", n)
	}
	wantDowns(t, a)
	s.Close()
	wantDowns(t, a, Down{m1, s.ID(), ReasonClosed}, Down{m2, s.ID(), ReasonClosed})
	if n := r.NumberOfMonitors(nil); n != 0 {
		t.Errorf("monitors left after they fired: %d", n)
	}
}

// Reference scenario 43 (monitor_simple_open_and_exit): the owner dies.
func TestMonitorOwnerDeath(t *testing.T) {
	e, r := newEngine(t, true)
	owner, w := newCaller("owner"), newCaller("w")
	s := open(t, e, owner, inet, dgram, nil)
	m := r.Monitor(s, w)
	s.Abandon()
	wantDowns(t, w, Down{m, s.ID(), ReasonClosed})
}

// Reference scenario 44 (monitor_simple_open_and_demon_and_close).
func TestCancelMonitor(t *testing.T) {
	e, r := newEngine(t, true)
	a, b := newCaller("a"), newCaller("b")
	s := open(t, e, a, inet, stream, nil)
	m := r.Monitor(s, a)
	onlyA := func(w Watcher) bool { return w == Watcher(a) }
	onlyB := func(w Watcher) bool { return w == Watcher(b) }
	if r.CancelMonitor(m, onlyB) {
		t.Error("a monitor of a was cancelled on b's behalf")
	}
	if r.CancelMonitor("no-such-monitor", nil) {
		t.Error("cancelled an unknown monitor")
	}
	if !r.CancelMonitor(m, onlyA) {
		t.Fatal("cancel of a live monitor answered false")
	}
	if r.CancelMonitor(m, onlyA) {
		t.Error("second cancel answered true")
	}
	s.Close()
	wantDowns(t, a)
	if !r.CancelMonitor(r.Monitor(open(t, e, a, inet, dgram, nil), a), nil) {
		t.Error("cancel with no check failed")
	}
}

// DropMonitors removes a watcher's monitors of the sockets picked, and no
// others: no Down comes for them, and the rest still fire.
func TestDropMonitors(t *testing.T) {
	e, r := newEngine(t, true)
	a, b := newCaller("a"), newCaller("b")
	s1, s2 := open(t, e, a, inet, stream, nil), open(t, e, a, inet, dgram, nil)
	r.Monitor(s1, a)
	kept := r.Monitor(s2, a)
	other := r.Monitor(s1, b)
	if n := r.DropMonitors(a, func(s *engine.Socket) bool { return s == s1 }); n != 1 {
		t.Fatalf("dropped %d monitors, want a's of s1", n)
	}
	if n := r.NumberOfMonitors(a); n != 1 {
		t.Fatalf("a has %d monitors left, want 1", n)
	}
	s1.Close()
	s2.Close()
	wantDowns(t, a, Down{kept, s2.ID(), ReasonClosed})
	wantDowns(t, b, Down{other, s1.ID(), ReasonClosed})
}

// RevokeMonitors removes a watcher's monitors of the sockets picked and
// says so with a Down each; its others still fire.
func TestRevokeMonitors(t *testing.T) {
	e, r := newEngine(t, true)
	a := newCaller("a")
	s1, s2 := open(t, e, a, inet, stream, nil), open(t, e, a, inet, dgram, nil)
	revoked := r.Monitor(s1, a)
	kept := r.Monitor(s2, a)
	if n := r.RevokeMonitors(a, func(s *engine.Socket) bool { return s == s1 }, ReasonRevoked); n != 1 {
		t.Fatalf("revoked %d monitors, want a's of s1", n)
	}
	wantDowns(t, a, Down{revoked, s1.ID(), ReasonRevoked})
	if r.CancelMonitor(revoked, nil) {
		t.Error("a revoked monitor was cancelled")
	}
	s1.Close()
	s2.Close()
	wantDowns(t, a, Down{kept, s2.ID(), ReasonClosed})
}

// A fired monitor cannot be cancelled.
func TestCancelAfterDown(t *testing.T) {
	e, r := newEngine(t, true)
	a := newCaller("a")
	s := open(t, e, a, inet, stream, nil)
	m := r.Monitor(s, a)
	s.Close()
	if r.CancelMonitor(m, nil) {
		t.Error("cancel after the monitor fired answered true")
	}
	wantDowns(t, a, Down{m, s.ID(), ReasonClosed})
}

// Reference scenario 45: many sockets, many watchers, closes, deaths and
// cancels mixed.
func TestMonitorManySocketsAndWatchers(t *testing.T) {
	e, r := newEngine(t, true)
	owner := newCaller("owner")
	w1, w2 := newCaller("w1"), newCaller("w2")
	s1 := open(t, e, owner, inet, stream, nil)
	s2 := open(t, e, owner, inet6, dgram, nil)
	s3 := open(t, e, owner, local, stream, nil)
	m11, m12 := r.Monitor(s1, w1), r.Monitor(s1, w2)
	m21, m22 := r.Monitor(s2, w1), r.Monitor(s2, w2)
	m31 := r.Monitor(s3, w1)
	m32 := r.Monitor(s3, w2)
	r.CancelMonitor(m32, nil)

	s1.Close()
	wantDowns(t, w1, Down{m11, s1.ID(), ReasonClosed})
	wantDowns(t, w2, Down{m12, s1.ID(), ReasonClosed})

	// w2 dies: its monitors go with it.
	if n := r.DropWatcher(w2); n != 1 {
		t.Errorf("DropWatcher(w2) removed %d monitors, want 1 (m22)", n)
	}
	s2.Abandon()
	s3.Close()
	wantDowns(t, w1, Down{m21, s2.ID(), ReasonClosed}, Down{m31, s3.ID(), ReasonClosed})
	wantDowns(t, w2)
	_ = m22
	if n := r.NumberOfMonitors(nil); n != 0 {
		t.Errorf("monitors left: %d", n)
	}
	wantCount(t, r, 0)
}

// Reference scenario 46 (monitor_closed_socket): a known socket already
// closed is DOWN closed at once (socket.erl sends it itself); an unknown
// one nosock.
func TestMonitorClosedSocket(t *testing.T) {
	e, r := newEngine(t, true)
	a := newCaller("a")
	s := open(t, e, a, inet, stream, nil)
	s.Close()
	m := r.Monitor(s, a)
	wantDowns(t, a, Down{m, s.ID(), ReasonClosed})
	wantCount(t, r, 0)
	u := r.MonitorUnknown("gone", a)
	wantDowns(t, a, Down{u, "gone", ReasonNoSock})
	if r.NumberOfMonitors(nil) != 0 {
		t.Error("a nosock monitor stayed live")
	}
}

// grouped is a watcher counted with its group.
type grouped struct {
	*caller
	group *int
}

func (g grouped) WatcherGroup() any { return g.group }

// The monitors of a group's watchers are counted together, and leave the
// count however they go: fired, cancelled, or dropped with their watcher.
func TestMonitorsCountedByGroup(t *testing.T) {
	e, r := newEngine(t, true)
	group := new(int)
	a, b := grouped{newCaller("a"), group}, grouped{newCaller("b"), group}
	other := newCaller("other")
	s1 := open(t, e, a, inet, stream, nil)
	s2 := open(t, e, a, inet, dgram, nil)
	r.Monitor(s1, a)
	cancelled := r.Monitor(s1, b)
	r.Monitor(s2, b)
	r.Monitor(s2, other)
	if n := r.NumberOfMonitorsIn(group); n != 3 {
		t.Fatalf("group holds %d monitors, want 3", n)
	}
	r.CancelMonitor(cancelled, nil)
	s1.Close() // fires a's
	if n := r.NumberOfMonitorsIn(group); n != 1 {
		t.Fatalf("after a cancel and a close: %d, want 1", n)
	}
	r.DropWatcher(b)
	if n := r.NumberOfMonitorsIn(group); n != 0 {
		t.Fatalf("after b was dropped: %d, want 0", n)
	}
	if n := r.NumberOfMonitors(other); n != 1 {
		t.Fatalf("the ungrouped watcher's monitor: %d", n)
	}
}

// Monitors cancelled in any order, and some dropped, leave exactly the
// others to fire, each once, however their socket's entry was reordered.
func TestCancelledMonitorsInAnyOrder(t *testing.T) {
	e, r := newEngine(t, true)
	a, b := newCaller("a"), newCaller("b")
	s := open(t, e, a, inet, stream, nil)
	var ids []string
	for i := range 200 {
		w := a
		if i%5 == 0 {
			w = b
		}
		ids = append(ids, r.Monitor(s, w))
	}
	var want []Down
	for _, i := range rand.Perm(len(ids)) {
		switch {
		case i%5 == 0: // b's: dropped below
		case i%3 == 0:
			if !r.CancelMonitor(ids[i], nil) {
				t.Fatalf("cancel of monitor %d failed", i)
			}
		default:
			want = append(want, Down{ids[i], s.ID(), ReasonClosed})
		}
	}
	if n := r.DropMonitors(b, nil); n != 40 {
		t.Fatalf("dropped %d of b's monitors, want 40", n)
	}
	for _, i := range rand.Perm(len(ids)) {
		if i%3 == 0 && i%5 != 0 && r.CancelMonitor(ids[i], nil) {
			t.Fatalf("monitor %d cancelled twice", i)
		}
	}
	sh := r.shardOf(s)
	sh.mu.Lock()
	held := len(sh.socks[s])
	sh.mu.Unlock()
	if held != len(want) {
		t.Fatalf("the socket's entry holds %d monitors, want the %d live ones", held, len(want))
	}
	s.Close()
	wantDowns(t, a, want...)
	wantDowns(t, b)
}
