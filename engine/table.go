package engine

import (
	"container/list"
	"crypto/rand"
	"encoding/hex"
	"hash/maphash"
	"sync"
)

// newSocketID returns 16 random bytes, hex-encoded: opaque and unguessable,
// so a socket id is a capability only its holder can name.
func newSocketID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b[:])
}

const numShards = 64

// table maps socket ids to sockets. It is sharded so that lookups, which
// every call of the server makes, never contend on one lock. Closed sockets
// stay as tombstones, so their ids still resolve (Info works, operations say
// closed), until Forget or until maxTombs are kept: then the oldest of the
// tenant that keeps the most goes, so that one tenant closing sockets fast
// pushes out its own, not another's.
type table struct {
	seed   maphash.Seed
	shards [numShards]shard

	tombMu   sync.Mutex         // guards tombs, nTombs and every Socket's tomb, tombOf, forgotten
	tombs    map[any]*list.List // by tenant (Tenant; nil for none): *Socket, oldest first
	nTombs   int
	maxTombs int
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*Socket
}

func (t *table) init(maxTombs int) {
	t.seed = maphash.MakeSeed()
	for i := range t.shards {
		t.shards[i].m = make(map[string]*Socket)
	}
	t.maxTombs = maxTombs
	t.tombs = make(map[any]*list.List)
}

func (t *table) shardOf(id string) *shard {
	return &t.shards[maphash.String(t.seed, id)%numShards]
}

func (t *table) insert(s *Socket) {
	sh := t.shardOf(s.id)
	sh.mu.Lock()
	sh.m[s.id] = s
	sh.mu.Unlock()
}

func (t *table) lookup(id string) (*Socket, bool) {
	sh := t.shardOf(id)
	sh.mu.RLock()
	s, ok := sh.m[id]
	sh.mu.RUnlock()
	return s, ok
}

func (t *table) remove(s *Socket) {
	sh := t.shardOf(s.id)
	sh.mu.Lock()
	if sh.m[s.id] == s {
		delete(sh.m, s.id)
	}
	sh.mu.Unlock()
}

// entomb keeps a just-closed socket of tenant as a tombstone, evicting past
// the bound the oldest of the tenant with the most.
func (t *table) entomb(s *Socket, tenant any) {
	t.tombMu.Lock()
	defer t.tombMu.Unlock()
	if s.forgotten {
		t.remove(s)
		return
	}
	l := t.tombs[tenant]
	if l == nil {
		l = list.New()
		t.tombs[tenant] = l
	}
	s.tomb, s.tombOf = l.PushBack(s), tenant
	t.nTombs++
	for t.nTombs > t.maxTombs {
		var most *list.List
		for _, l := range t.tombs {
			if most == nil || l.Len() > most.Len() {
				most = l
			}
		}
		oldest := most.Front().Value.(*Socket)
		t.unlink(oldest)
		oldest.forgotten = true
		t.remove(oldest)
	}
}

// unlink takes s's tombstone out of its tenant's list.
func (t *table) unlink(s *Socket) {
	l := t.tombs[s.tombOf]
	l.Remove(s.tomb)
	if l.Len() == 0 {
		delete(t.tombs, s.tombOf)
	}
	s.tomb, s.tombOf = nil, nil
	t.nTombs--
}

// forget drops a closed socket's tombstone.
func (t *table) forget(s *Socket) {
	t.tombMu.Lock()
	defer t.tombMu.Unlock()
	s.forgotten = true
	if s.tomb != nil {
		t.unlink(s)
	}
	t.remove(s)
}

// open returns the sockets not yet closed.
func (t *table) open() []*Socket {
	var all []*Socket
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for _, s := range sh.m {
			if !s.Closed() {
				all = append(all, s)
			}
		}
		sh.mu.RUnlock()
	}
	return all
}
