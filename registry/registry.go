package registry

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/sockd/sockd/engine"
)

// numShards spreads registered sockets over this many locks. A power of two
// well above the number of cores keeps two concurrent opens or closes
// landing on the same lock rare.
const numShards = 64

// Registry is the set of registered sockets and their monitors. The zero
// value is not usable; call New. All methods are safe for concurrent use.
type Registry struct {
	useRegistry atomic.Bool // the global default for new sockets
	count       atomic.Int64
	seed        maphash.Seed
	shards      [numShards]shard
	monitors    monitorTable
}

// shard holds registered sockets and, for each, its monitors (nil when it
// has none, the common case).
type shard struct {
	mu    sync.RWMutex
	socks map[*engine.Socket][]*monitor
	_     [64 - 32]byte // own cache line: neighbours' locks do not share it
}

var _ engine.Observer = (*Registry)(nil)

// New returns an empty registry whose global default for new sockets is
// useRegistry.
func New(useRegistry bool) *Registry {
	r := &Registry{seed: maphash.MakeSeed()}
	r.useRegistry.Store(useRegistry)
	for i := range r.shards {
		r.shards[i].socks = make(map[*engine.Socket][]*monitor)
	}
	r.monitors.init()
	return r
}

// UseRegistry is the global default of use_registry for new sockets
// (Erlang's #{use_registry := B} = socket:info()).
func (r *Registry) UseRegistry() bool { return r.useRegistry.Load() }

// SetUseRegistry sets the global default for sockets opened from now on
// (socket:use_registry/1). Sockets already open keep their value.
func (r *Registry) SetUseRegistry(on bool) { r.useRegistry.Store(on) }

// SocketOpened implements engine.Observer: it registers s if its
// use_registry is on.
func (r *Registry) SocketOpened(s *engine.Socket) {
	if s.UseRegistry() {
		r.add(s)
	}
}

// SocketReleased implements engine.Observer: the registry forgets a socket
// when it is closed, lingering or not.
func (r *Registry) SocketReleased(*engine.Socket) {}

// SocketClosed implements engine.Observer: it unregisters s and fires its
// monitors with reason closed.
func (r *Registry) SocketClosed(s *engine.Socket) {
	sh := r.shardOf(s)
	sh.mu.Lock()
	mons, ok := sh.socks[s]
	if ok {
		delete(sh.socks, s)
		r.count.Add(-1)
	}
	sh.mu.Unlock()
	for _, m := range mons {
		if r.monitors.take(m) {
			m.watcher.SocketDown(Down{MonitorID: m.id, SocketID: s.ID(), Reason: ReasonClosed})
		}
	}
}

// UseRegistryOn implements engine.Observer: a socket whose use_registry was
// turned on (setopt otp use_registry true) is registered now, unless it is
// already closed.
func (r *Registry) UseRegistryOn(s *engine.Socket) { r.add(s) }

// add registers s unless it is closed; see the package doc on ordering.
func (r *Registry) add(s *engine.Socket) {
	sh := r.shardOf(s)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s.Closed() {
		return
	}
	if _, ok := sh.socks[s]; !ok {
		sh.socks[s] = nil
		r.count.Add(1)
	}
}

// Registered reports whether s is in the registry.
func (r *Registry) Registered(s *engine.Socket) bool {
	sh := r.shardOf(s)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	_, ok := sh.socks[s]
	return ok
}

func (r *Registry) shardOf(s *engine.Socket) *shard {
	return &r.shards[maphash.Comparable(r.seed, s)%numShards]
}
