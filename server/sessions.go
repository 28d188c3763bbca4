package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
	"github.com/sockd/sockd/registry"
)

var (
	errSessionEnded   = errors.New("session ended")
	errStreamReplaced = errors.New("another Events stream attached to this session")
)

// SessionLimits bound what sessions may hold.
type SessionLimits struct {
	DefaultGrace    time.Duration // grace when CreateSession gives none
	MaxGrace        time.Duration // longest grace a client may ask for
	EventBacklog    int           // events held per session (replay ring)
	MaxPerPrincipal int           // live sessions per principal
}

func (l SessionLimits) withDefaults() SessionLimits {
	if l.DefaultGrace <= 0 {
		l.DefaultGrace = 30 * time.Second
	}
	if l.MaxGrace <= 0 {
		l.MaxGrace = 24 * time.Hour
	}
	if l.EventBacklog <= 0 {
		l.EventBacklog = 4096
	}
	if l.MaxPerPrincipal <= 0 {
		l.MaxPerPrincipal = 1024
	}
	return l
}

type sessionName struct {
	principal Principal
	name      string
}

// sessionManager is the table of live sessions.
type sessionManager struct {
	engine   *engine.Engine
	registry *registry.Registry // drops a dead session's monitors
	limits   SessionLimits
	// maxCompletionBytes is Limits.MaxCompletionBytes, the bound of each
	// session's completionBytes.
	maxCompletionBytes int
	// maxPrincipalBytes is Limits.MaxPrincipalBytes: what all of one
	// principal's sessions may hold together (principalLoad.bytes).
	maxPrincipalBytes int
	// daemonLoad is what all principals' sessions hold together, bounded
	// by Limits.MaxDaemonBytes.
	daemonLoad *daemonLoad
	// policy is the policy in force, for its quotas.
	policy func() *Policy
	// sockets, if set, counts principals' sockets for their socket quotas.
	sockets *SocketCounter
	// isAdmin says who may act as any session.
	isAdmin func(Principal) bool
	// log hears of sessions made and ended (debug level).
	log *slog.Logger

	events eventCounts // delivered to sessions (metrics.go)

	mu          sync.RWMutex // read-locked on every call's session lookup
	byID        map[string]*Session
	byName      map[sessionName]*Session
	byPrincipal map[Principal]*principalLoad
	// drained are the principals in byPrincipal without a live session,
	// whose load still holds something (a dead session's log its stream
	// flushes, a dead session's call that has not returned): kept, so that
	// a new session of theirs counts on the same load, until sweepLocked
	// finds them idle.
	drained map[Principal]struct{}
	// ended remembers the last endedMemory sessions that ended, as Erlang
	// tells a dead pid from a term that is none: a socket handed to one
	// dies with it.
	ended      map[string]Principal
	endedOrder []string // a ring, oldest at endedNext once full
	endedNext  int
}

// endedMemory bounds the ended sessions remembered.
const endedMemory = 4096

func newSessionManager(e *engine.Engine, limits SessionLimits) *sessionManager {
	m := &sessionManager{
		engine:             e,
		limits:             limits.withDefaults(),
		maxCompletionBytes: Limits{}.withDefaults().MaxCompletionBytes,
		maxPrincipalBytes:  Limits{}.withDefaults().MaxPrincipalBytes,
		daemonLoad:         &daemonLoad{limit: int64(Limits{}.withDefaults().MaxDaemonBytes)},
		policy:             func() *Policy { return &Policy{} }, // no rules, no quotas
		isAdmin:            Principal.Admin,
		log:                slog.Default(),
		byID:               make(map[string]*Session),
		byName:             make(map[sessionName]*Session),
		byPrincipal:        make(map[Principal]*principalLoad),
		drained:            make(map[Principal]struct{}),
		ended:              make(map[string]Principal),
	}
	m.daemonLoad.shed = m.shedReplay
	return m
}

// reserved reports whether p may take the last of the daemon's held bytes,
// as the last client connections: root and the daemon's own user, and the
// policy's admins.
func (m *sessionManager) reserved(p Principal) bool {
	return m.isAdmin(p) || p.Kind == "uid" && p.UID == uint32(os.Geteuid())
}

// shedReplay has every live session's log drop the sent events it keeps
// for replay while its principal, or the daemon, holds more than its bound
// (eventLog.trimSent).
func (m *sessionManager) shedReplay() {
	for _, s := range m.all() {
		s.mu.Lock()
		s.events.trimSent()
		s.mu.Unlock()
	}
}

// defaultGrace asks create for the daemon's default grace.
const defaultGrace time.Duration = -1

// named returns p's live session called name, or nil: it creates none.
func (m *sessionManager) named(p Principal, name string) *Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.namedLocked(p, name)
}

func (m *sessionManager) namedLocked(p Principal, name string) *Session {
	if name == "" {
		return nil
	}
	s := m.byName[sessionName{p, name}]
	if s != nil {
		// Being asked for is a use: a detached session's grace starts over.
		s.mu.Lock()
		if s.attached == nil && !s.dead {
			s.startGraceLocked()
		}
		s.mu.Unlock()
	}
	return s
}

// create makes a session, or returns the principal's live session of that
// name. Its grace is clamped to MinGrace..MaxGrace; defaultGrace is the
// daemon's default.
func (m *sessionManager) create(p Principal, name string, grace time.Duration) (s *Session, existing bool, err error) {
	if grace == defaultGrace {
		grace = m.limits.DefaultGrace
	}
	grace = min(max(grace, MinGrace), m.limits.MaxGrace)
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.namedLocked(p, name); s != nil {
		return s, true, nil
	}
	q := m.policy().quotasFor(p)
	limit := within(m.limits.MaxPerPrincipal, q.sessions)
	m.sweepLocked()
	load := m.byPrincipal[p]
	if load == nil {
		load = &principalLoad{daemon: m.daemonLoad, reserved: func() bool { return m.reserved(p) }}
	}
	if load.sessions >= limit {
		return nil, false, &engine.QuotaError{Resource: "sessions per principal", Limit: limit}
	}
	s = &Session{
		id:              newID(),
		name:            name,
		principal:       p,
		grace:           grace,
		manager:         m,
		events:          newEventLog(within(m.limits.EventBacklog, q.eventBacklog)),
		completionBytes: within(m.maxCompletionBytes, q.completionBytes),
		owned:           make(map[*engine.Socket]struct{}),
		waiting:         make(map[*engine.Socket]struct{}),
		gone:            make(chan struct{}),
		load:            load,
	}
	s.events.load, s.events.loadMax = load, int64(m.maxPrincipalBytes)
	m.byID[s.id] = s
	if name != "" {
		m.byName[sessionName{p, name}] = s
	}
	load.sessions++
	m.byPrincipal[p] = load
	// A session nobody attaches to must not live forever.
	s.mu.Lock()
	s.startGraceLocked()
	s.mu.Unlock()
	m.log.Debug("session created", "session", s.id, "name", name, "principal", p.String(), "grace", grace)
	return s, false, nil
}

// within is limit, lowered to quota if one is set.
func within(limit, quota int) int {
	if quota > 0 {
		return min(limit, quota)
	}
	return limit
}

// lookup finds a live session the principal may act as.
func (m *sessionManager) lookup(p Principal, id string) (*Session, bool) {
	m.mu.RLock()
	s := m.byID[id]
	m.mu.RUnlock()
	if s == nil || s.principal != p && !m.isAdmin(p) {
		return nil, false
	}
	return s, true
}

// endedFor reports whether id is a session of the principal that ended (as
// far as the table remembers).
func (m *sessionManager) endedFor(p Principal, id string) bool {
	m.mu.RLock()
	owner, ok := m.ended[id]
	m.mu.RUnlock()
	return ok && (owner == p || m.isAdmin(p))
}

// end removes a session and lets it die: CloseSession.
func (m *sessionManager) end(s *Session) { m.endFor(s, "closed") }

func (m *sessionManager) endFor(s *Session, reason string) {
	m.mu.Lock()
	ended := m.byID[s.id] == s
	if ended {
		m.removeLocked(s)
	}
	m.mu.Unlock()
	s.die()
	if ended {
		m.logEnd(s, reason)
	}
}

func (m *sessionManager) logEnd(s *Session, reason string) {
	m.log.Debug("session ended", "session", s.id, "name", s.name, "principal", s.principal.String(), "reason", reason)
}

// removeLocked takes s out of the table; m.mu must be held.
func (m *sessionManager) removeLocked(s *Session) {
	delete(m.byID, s.id)
	if s.name != "" {
		delete(m.byName, sessionName{s.principal, s.name})
	}
	if s.load.sessions--; s.load.sessions <= 0 {
		m.drained[s.principal] = struct{}{}
	}
	m.sweepLocked()
	if len(m.endedOrder) < endedMemory {
		m.endedOrder = append(m.endedOrder, s.id)
	} else {
		delete(m.ended, m.endedOrder[m.endedNext])
		m.endedOrder[m.endedNext] = s.id
		m.endedNext = (m.endedNext + 1) % endedMemory
	}
	m.ended[s.id] = s.principal
}

// sweepLocked forgets the loads of drained principals that hold nothing
// any more, and stops watching those with a live session again; m.mu must
// be held. The drained are few: what keeps one is bounded in time (a
// flush by endFlushLimit, a call by its wait).
func (m *sessionManager) sweepLocked() {
	for p := range m.drained {
		switch load := m.byPrincipal[p]; {
		case load == nil || load.sessions > 0:
			delete(m.drained, p)
		case load.idle():
			delete(m.drained, p)
			delete(m.byPrincipal, p)
		}
	}
}

// expire ends s when its grace period number grace ends, if it is still the
// period in force, no stream is attached and no call of s holds it
// (stillInUse). It decides and takes s out of
// the table under the table's lock, which a create that finds s by name
// (and restarts its grace) also holds: a session handed out as existing
// cannot then die of the grace it had before.
func (m *sessionManager) expire(s *Session, grace uint64) {
	m.mu.Lock()
	s.mu.Lock()
	expired := s.graces == grace && s.timer != nil && s.attached == nil && !s.dead
	if expired && s.inCalls.Load() > 0 {
		// In use: leaveCall starts the grace again after the last call.
		s.timer = nil
		s.graceDeferred.Store(true)
		expired = false
		if s.inCalls.Load() == 0 {
			// The last call left between the two loads and may have
			// looked before the flag was set: start the grace here.
			s.startGraceLocked()
		}
	} else if expired {
		if rest := s.stillInUse(); rest > 0 {
			s.armGraceLocked(max(rest, MinGrace))
			expired = false
		}
	}
	s.mu.Unlock()
	if !expired || m.byID[s.id] != s {
		m.mu.Unlock()
		return
	}
	m.removeLocked(s)
	m.mu.Unlock()
	s.die()
	m.logEnd(s, "grace expired")
}

// endAll ends every session (daemon shutdown).
func (m *sessionManager) endAll() {
	for _, s := range m.all() {
		m.endFor(s, "daemon stopping")
	}
}

// all returns the live sessions.
func (m *sessionManager) all() []*Session {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Session, 0, len(m.byID))
	for _, s := range m.byID {
		out = append(out, s)
	}
	return out
}

// newID returns an opaque, unguessable identifier.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// discard closes a socket whose id no session has learnt (its session died
// before it could adopt it) and forgets it: no tombstone is kept for an id
// nobody will ask about. A socket whose id is known dies with Abandon and
// keeps its tombstone.
func (m *sessionManager) discard(sock *engine.Socket) {
	sock.Abandon()
	m.engine.Forget(sock)
}

// CreateSession implements sockdv1.SocketServiceServer.
func (s *Service) CreateSession(ctx context.Context, r *sockdv1.CreateSessionRequest) (*sockdv1.CreateSessionResponse, error) {
	p, err := s.principal(ctx)
	if err != nil {
		return nil, err
	}
	if len(r.GetName()) > 256 {
		return nil, invalidArgument("name", "at most 256 bytes")
	}
	grace := defaultGrace // absent
	if r.Grace != nil {
		if err := r.Grace.CheckValid(); err != nil {
			return nil, invalidArgument("grace", "%v", err) // out of protobuf's range, or seconds and nanos of two signs
		}
		if r.Grace.AsDuration() < 0 {
			return nil, invalidArgument("grace", "must not be negative")
		}
		grace = r.Grace.AsDuration() // 0 too: at least MinGrace
	}
	var sess *Session
	existing := true
	switch {
	case r.GetExistingOnly() && r.GetName() == "":
		return nil, invalidArgument("name", "required with existing_only")
	case r.GetExistingOnly():
		if sess = s.sessions.named(p, r.GetName()); sess == nil {
			return nil, sessionNameNotFound(r.GetName())
		}
	default:
		if sess, existing, err = s.sessions.create(p, r.GetName(), grace); err != nil {
			return nil, rpcError(err)
		}
	}
	sess.mu.Lock()
	last := sess.events.last()
	sess.mu.Unlock()
	return &sockdv1.CreateSessionResponse{
		SessionId:    sess.id,
		Existing:     existing,
		Grace:        durationpb.New(sess.grace),
		LastSequence: last,
	}, nil
}

// CloseSession implements sockdv1.SocketServiceServer.
func (s *Service) CloseSession(ctx context.Context, r *sockdv1.CloseSessionRequest) (*sockdv1.CloseSessionResponse, error) {
	sess, err := s.sessionByID(ctx, r.GetSessionId())
	if err != nil {
		return nil, err
	}
	s.sessions.end(sess)
	return &sockdv1.CloseSessionResponse{}, nil
}
