package registry

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"

	"github.com/sockd/sockd/engine"
)

// Reason says why a monitor fired.
type Reason string

const (
	// ReasonClosed: the monitored socket closed (Close, or its owner died:
	// like Erlang's registry, this one has no finer reason).
	ReasonClosed Reason = "closed"
	// ReasonNoSock: the socket was unknown to the watcher when the monitor
	// was set (a known socket already closed is ReasonClosed, at once).
	ReasonNoSock Reason = "nosock"
	// ReasonRevoked: the watcher lost the right to watch the socket (in
	// sockd, its principal's admin right over another principal's socket,
	// taken away by a policy reload), as its waiting operations there are
	// aborted with eacces: the monitor is gone.
	ReasonRevoked Reason = "eacces"
)

// Down is Erlang's {'DOWN', MRef, socket, Socket, Info}.
type Down struct {
	MonitorID string
	SocketID  string
	Reason    Reason
}

// A Watcher is the monitoring process: in sockd, a session. Watchers are
// compared by identity (==), so use pointers.
type Watcher interface {
	// SocketDown delivers a monitor's Down notice. It must not block and
	// must not call back into the registry; it may be called concurrently,
	// from the goroutine closing the socket or, for nosock, from Monitor.
	SocketDown(Down)
}

// A GroupedWatcher belongs to a group whose monitors are counted together
// (NumberOfMonitorsIn): a session's group is its principal, so that a
// bound on monitors holds for all of a principal's sessions at once.
type GroupedWatcher interface {
	Watcher
	WatcherGroup() any
}

// monitor is one socket monitor. Its fields never change.
type monitor struct {
	id      string
	sock    *engine.Socket
	watcher Watcher
	group   any // the watcher's group, or nil
	// at is its place in its socket's entry, while there (the shard's
	// lock): a cancel takes it out at once, where a search of an entry of
	// 64,000 monitors took 250 µs a cancel, under a lock 1/64 of every
	// open and close takes too (a reviewer).
	at int
}

// Monitor monitors s for w and returns the monitor's id (socket:monitor/1).
// It turns use_registry on for s and registers it. If s is already closed,
// w gets a Down with reason closed before Monitor returns.
func (r *Registry) Monitor(s *engine.Socket, w Watcher) string {
	id := newMonitorID()
	s.SetUseRegistry(true)
	sh := r.shardOf(s)
	sh.mu.Lock()
	if s.Closed() {
		// A socket known to the caller and already closed: socket.erl's
		// monitor/1 sends itself the DOWN with closed (nosock is for
		// one it cannot know).
		sh.mu.Unlock()
		w.SocketDown(Down{MonitorID: id, SocketID: s.ID(), Reason: ReasonClosed})
		return id
	}
	mons, ok := sh.socks[s]
	if !ok {
		r.count.Add(1)
	}
	m := &monitor{id: id, sock: s, watcher: w, at: len(mons)}
	if g, ok := w.(GroupedWatcher); ok {
		m.group = g.WatcherGroup()
	}
	sh.socks[s] = append(mons, m)
	// Lock order: a shard, then the monitor table.
	r.monitors.put(m)
	sh.mu.Unlock()
	return id
}

// MonitorUnknown is Monitor for a socket id that names no socket the
// caller may see: the monitor fires at once with reason nosock.
func (r *Registry) MonitorUnknown(socketID string, w Watcher) string {
	id := newMonitorID()
	w.SocketDown(Down{MonitorID: id, SocketID: socketID, Reason: ReasonNoSock})
	return id
}

// CancelMonitor removes the monitor id if it exists, has not fired, and
// mayCancel accepts its watcher (socket:cancel_monitor/1: only the
// monitoring process may cancel). After it returns true, no Down for that
// monitor is delivered.
func (r *Registry) CancelMonitor(id string, mayCancel func(Watcher) bool) bool {
	m := r.monitors.takeIf(id, mayCancel)
	if m == nil {
		return false
	}
	r.unlink(m)
	return true
}

// DropWatcher removes every monitor of w, which died: no Down for them is
// delivered. It returns how many there were.
func (r *Registry) DropWatcher(w Watcher) int { return r.DropMonitors(w, nil) }

// DropMonitors removes the monitors of w of the sockets which picks (all,
// when nil), as a demonitor would: no Down for them is delivered. It
// returns how many there were.
func (r *Registry) DropMonitors(w Watcher, which func(*engine.Socket) bool) int {
	return len(r.dropMonitors(w, which))
}

// RevokeMonitors removes the monitors of w of the sockets which picks, as
// DropMonitors does, and tells w with a Down of reason for each: w did not
// ask for their end, and would otherwise wait for a Down that never comes.
// It returns how many there were.
func (r *Registry) RevokeMonitors(w Watcher, which func(*engine.Socket) bool, reason Reason) int {
	mons := r.dropMonitors(w, which)
	for _, m := range mons {
		w.SocketDown(Down{MonitorID: m.id, SocketID: m.sock.ID(), Reason: reason})
	}
	return len(mons)
}

// dropMonitors removes and returns the monitors of w of the sockets which
// picks (all, when nil).
func (r *Registry) dropMonitors(w Watcher, which func(*engine.Socket) bool) []*monitor {
	mons := r.monitors.takeAll(w, which)
	// One pass per socket: a watcher may hold tens of thousands of monitors
	// on one socket, and unlinking them one by one is quadratic. A socket's
	// entry holds only its own monitors, so one set serves every socket.
	gone := make(map[*monitor]bool, len(mons))
	for _, m := range mons {
		gone[m] = true
	}
	done := make(map[*engine.Socket]bool)
	for _, m := range mons {
		if !done[m.sock] {
			done[m.sock] = true
			r.unlinkAll(m.sock, func(m *monitor) bool { return gone[m] })
		}
	}
	return mons
}

// NumberOfMonitors counts the live monitors: of w, or of every watcher when
// w is nil (socket:number_of_monitors/0,1).
func (r *Registry) NumberOfMonitors(w Watcher) int {
	r.monitors.mu.Lock()
	defer r.monitors.mu.Unlock()
	if w == nil {
		return len(r.monitors.byID)
	}
	return len(r.monitors.byWatcher[w])
}

// NumberOfMonitorsIn counts the live monitors of the watchers of group.
func (r *Registry) NumberOfMonitorsIn(group any) int {
	r.monitors.mu.Lock()
	defer r.monitors.mu.Unlock()
	return r.monitors.byGroup[group]
}

// unlink removes a monitor already taken from the monitor table from its
// socket's entry, if the socket is still registered: the entry's last
// monitor takes its place (the order of a socket's downs is no order of
// their monitors').
func (r *Registry) unlink(m *monitor) {
	sh := r.shardOf(m.sock)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	mons, ok := sh.socks[m.sock]
	if !ok || m.at >= len(mons) || mons[m.at] != m {
		return
	}
	last := len(mons) - 1
	mons[m.at] = mons[last]
	mons[m.at].at = m.at
	mons[last] = nil
	if last == 0 {
		sh.socks[m.sock] = nil
		return
	}
	sh.socks[m.sock] = mons[:last]
}

// unlinkAll removes the monitors of sock that gone selects from its entry,
// if the socket is still registered. The slice is edited in place: once
// SocketClosed has taken an entry out of the shard to fire its monitors, no
// one else reaches that slice.
func (r *Registry) unlinkAll(sock *engine.Socket, gone func(*monitor) bool) {
	sh := r.shardOf(sock)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	mons, ok := sh.socks[sock]
	if !ok {
		return
	}
	mons = slices.DeleteFunc(mons, gone)
	for i, m := range mons {
		m.at = i
	}
	if len(mons) == 0 {
		mons = nil
	}
	sh.socks[sock] = mons
}

// monitorTable indexes live monitors by id and by watcher. A monitor is
// live while it is in byID; taking it out is what firing, cancelling and
// dropping compete for.
type monitorTable struct {
	mu        sync.Mutex
	byID      map[string]*monitor
	byWatcher map[Watcher]map[*monitor]struct{}
	byGroup   map[any]int
}

func (t *monitorTable) init() {
	t.byID = make(map[string]*monitor)
	t.byWatcher = make(map[Watcher]map[*monitor]struct{})
	t.byGroup = make(map[any]int)
}

// countLocked adds delta to m's group count.
func (t *monitorTable) countLocked(m *monitor, delta int) {
	if m.group == nil {
		return
	}
	if t.byGroup[m.group] += delta; t.byGroup[m.group] <= 0 {
		delete(t.byGroup, m.group)
	}
}

func (t *monitorTable) put(m *monitor) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byID[m.id] = m
	set := t.byWatcher[m.watcher]
	if set == nil {
		set = make(map[*monitor]struct{})
		t.byWatcher[m.watcher] = set
	}
	set[m] = struct{}{}
	t.countLocked(m, 1)
}

// take removes m and reports whether it was still live.
func (t *monitorTable) take(m *monitor) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID[m.id] != m {
		return false
	}
	t.removeLocked(m)
	return true
}

// takeIf removes and returns the live monitor id if ok accepts its watcher.
func (t *monitorTable) takeIf(id string, ok func(Watcher) bool) *monitor {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.byID[id]
	if m == nil || (ok != nil && !ok(m.watcher)) {
		return nil
	}
	t.removeLocked(m)
	return m
}

// takeAll removes and returns every live monitor of w of the sockets which
// picks (all, when nil). which is asked without t.mu held: it may take a
// socket's locks.
func (t *monitorTable) takeAll(w Watcher, which func(*engine.Socket) bool) []*monitor {
	if which == nil {
		return t.takeEvery(w)
	}
	t.mu.Lock()
	var picked []*monitor
	for m := range t.byWatcher[w] {
		picked = append(picked, m)
	}
	t.mu.Unlock()
	picked = slices.DeleteFunc(picked, func(m *monitor) bool { return !which(m.sock) })
	t.mu.Lock()
	defer t.mu.Unlock()
	mons := picked[:0]
	for _, m := range picked {
		if t.byID[m.id] == m { // still live
			t.removeLocked(m)
			mons = append(mons, m)
		}
	}
	return mons
}

// takeEvery removes and returns every live monitor of w.
func (t *monitorTable) takeEvery(w Watcher) []*monitor {
	t.mu.Lock()
	defer t.mu.Unlock()
	set := t.byWatcher[w]
	mons := make([]*monitor, 0, len(set))
	for m := range set {
		delete(t.byID, m.id)
		t.countLocked(m, -1)
		mons = append(mons, m)
	}
	delete(t.byWatcher, w)
	return mons
}

func (t *monitorTable) removeLocked(m *monitor) {
	delete(t.byID, m.id)
	t.countLocked(m, -1)
	if set := t.byWatcher[m.watcher]; set != nil {
		delete(set, m)
		if len(set) == 0 {
			delete(t.byWatcher, m.watcher)
		}
	}
}

// newMonitorID returns an opaque, unguessable id: knowing a monitor's id is
// not enough to cancel it (the watcher is checked too), but ids of other
// sessions' monitors cannot be probed either.
func newMonitorID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b[:])
}
