package engine

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultMaxSockets and DefaultMaxTombstones are Config's MaxSockets and
// MaxTombstones when it gives none.
const (
	DefaultMaxSockets    = 100000
	DefaultMaxTombstones = 65536
)

// Config bounds and tunes an Engine. Zero values take the defaults.
type Config struct {
	Loops              int          // epoll loops; 0 = runtime.NumCPU()
	MaxQueuePerLane    int          // queued requestors per lane; 0 = 1024. Past it: *QuotaError
	MaxSockets         int          // open sockets and relay pipes' descriptors; 0 = DefaultMaxSockets. Past it: *QuotaError
	MaxTombstones      int          // closed sockets kept for lookup; 0 = DefaultMaxTombstones, < 0 = none; past it the oldest of the Tenant with the most goes
	CounterBits        int          // width of per-socket counters, 16..64; 0 = 64. Counters wrap at 2^bits (reference §4.3)
	DefaultUseRegistry bool         // value of Info.UseRegistry when OpenOptions.UseRegistry is nil (server decides)
	Logger             *slog.Logger // nil = slog.Default(); per-socket debug logging when socket debug is on
	Observer           Observer     // nil = none; told of every socket opened, accepted and closed
	// MaxLingeringCloses bounds the close(2) calls that may wait at once for
	// SO_LINGER where the engine cannot wait for it itself (SCTP; a TCP
	// socket's linger is waited for without a thread, see linger.go), each
	// holding a thread, as Erlang runs them on its few dirty I/O
	// schedulers; more wait their turn. 0 = 64.
	MaxLingeringCloses int
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.NumCPU()
	}
	if cfg.MaxQueuePerLane <= 0 {
		cfg.MaxQueuePerLane = 1024
	}
	if cfg.MaxSockets <= 0 {
		cfg.MaxSockets = DefaultMaxSockets
	}
	switch {
	case cfg.MaxTombstones == 0:
		cfg.MaxTombstones = DefaultMaxTombstones
	case cfg.MaxTombstones < 0:
		cfg.MaxTombstones = 0
	}
	if cfg.CounterBits == 0 {
		cfg.CounterBits = 64
	}
	if cfg.CounterBits < 16 || cfg.CounterBits > 64 {
		return cfg, fmt.Errorf("engine: CounterBits %d not in 16..64", cfg.CounterBits)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxLingeringCloses <= 0 {
		cfg.MaxLingeringCloses = 64
	}
	return cfg, nil
}

// An Engine owns sockets, their epoll loops and the table that finds them by
// id. All methods are safe for concurrent use.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	loops []*loop
	slots *slots
	table table

	open     atomic.Int64  // places of MaxSockets taken: sockets holding an fd, relays' pipes (NumOpen)
	handles  atomic.Uint64 // engine-chosen nowait handles
	nextLoop atomic.Uint32

	// debug traces every socket (socket:debug/1); socketDebug is the debug
	// flag new sockets get (socket:socket_debug/1).
	debug, socketDebug atomic.Bool

	// mu orders, against Close, the registration of new sockets (none may
	// slip in after Close collected the open ones), epoll removals (none may
	// touch a closed epfd) and background closes (Close waits for them).
	mu       sync.RWMutex
	closed   bool // no new sockets
	stopping bool // the loops are going: no epoll removals, no new closers
	// closers tracks close(2) calls left to the background (SO_LINGER),
	// until they are done or a close(2) that lingers in the kernel begins,
	// which nothing can hurry (the process's exit ends it).
	closers sync.WaitGroup
	// lingerTurns holds a place per close(2) waiting for SO_LINGER
	// (MaxLingeringCloses); hurry is closed when the engine stops or is
	// told to stop lingering (StopLingering), after which closes do not
	// linger any more.
	lingerTurns chan struct{}
	hurry       chan struct{}
	hurryOnce   sync.Once
}

// New starts an engine and its epoll loops.
func New(cfg Config) (*Engine, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, slots: newSlots(cfg.MaxSockets),
		lingerTurns: make(chan struct{}, cfg.MaxLingeringCloses), hurry: make(chan struct{})}
	e.table.init(cfg.MaxTombstones)
	for range cfg.Loops {
		l, err := newLoop(e.slots, e.log)
		if err != nil {
			for _, l := range e.loops {
				l.stop()
			}
			return nil, fmt.Errorf("engine: starting epoll loop: %w", err)
		}
		e.loops = append(e.loops, l)
	}
	return e, nil
}

// Close closes every socket (their waiters get ErrClosed or an abort with
// ErrClosed), waits for lingering closes, stops the loops and closes their
// descriptors. It is idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()

	for _, s := range e.table.open() {
		s.closeInBackground()
	}
	// A socket Close running concurrently may still be about to take its fd
	// out of epoll or to start a background close; after this none will
	// (close(2) alone then deregisters the fd).
	e.mu.Lock()
	e.stopping = true
	e.mu.Unlock()
	e.StopLingering()
	e.closers.Wait()
	for _, l := range e.loops {
		l.stop()
	}
	return nil
}

// CounterBits is the width of the per-socket counters.
func (e *Engine) CounterBits() int { return e.cfg.CounterBits }

// Debug reports the global debug flag (socket:debug/1): every socket's
// operations are logged, whatever its own flag.
func (e *Engine) Debug() bool { return e.debug.Load() }

// SetDebug sets the global debug flag.
func (e *Engine) SetDebug(on bool) { e.debug.Store(on) }

// SocketDebug reports the debug flag new sockets get (socket:socket_debug/1).
func (e *Engine) SocketDebug() bool { return e.socketDebug.Load() }

// SetSocketDebug sets the debug flag new sockets get; sockets already open
// keep theirs.
func (e *Engine) SetSocketDebug(on bool) { e.socketDebug.Store(on) }

// NumOpen is how many places of MaxSockets are taken: the sockets holding
// a descriptor (closing ones included until close(2) returns) and
// RelayDescriptors for each running relay.
func (e *Engine) NumOpen() int { return int(e.open.Load()) }

// MaxSockets is the bound NumOpen is kept within (Config.MaxSockets).
func (e *Engine) MaxSockets() int { return e.cfg.MaxSockets }

// Sockets is a snapshot of the sockets not closed.
func (e *Engine) Sockets() []*Socket { return e.table.open() }

// Lookup finds a socket by id, closed ones (tombstones) included.
func (e *Engine) Lookup(id string) (*Socket, bool) { return e.table.lookup(id) }

// Forget drops a closed socket's tombstone (its owner's session ended). It
// does nothing to a socket still open.
func (e *Engine) Forget(s *Socket) {
	if s.Closed() {
		e.table.forget(s)
	}
}

// Open is socket:open/4: socket(2) with SOCK_NONBLOCK|SOCK_CLOEXEC, in the
// network namespace opts.Netns if set. Errors are unix.Errno
// (eafnosupport, eprotonosupport, ...), *QuotaError (MaxSockets, or an
// owner that is a Limiter), or ErrClosed once the engine is closed.
func (e *Engine) Open(owner Caller, domain, typ, protocol int, opts OpenOptions) (*Socket, error) {
	typ &^= unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC // ours to set
	release, err := e.reserveFor(owner)
	if err != nil {
		return nil, err
	}
	defer release()
	fd, err := openSocket(domain, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, protocol, opts.Netns, opts.Creds)
	if err != nil {
		e.unreserve()
		return nil, err
	}
	// Linux makes some requests a socket of another family: AF_INET with
	// the obsolete SOCK_PACKET is an AF_PACKET socket, which sees every
	// interface's frames. A socket is of the domain it was asked as, which
	// Info reports and a policy decided on.
	if d, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || d != domain {
		unix.Close(fd)
		e.unreserve()
		return nil, &InvalidError{What: "type", Value: typ}
	}
	if protocol == 0 {
		// Let Info say what the kernel chose (tcp, udp, ...), as Erlang does.
		if p, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); err == nil {
			protocol = p
		}
	}
	s, err := e.adopt(fd, domain, typ, protocol, owner, opts.Creds)
	if err != nil {
		return nil, err
	}
	s.debug.Store(opts.Debug || e.socketDebug.Load())
	useRegistry := e.cfg.DefaultUseRegistry
	if opts.UseRegistry != nil {
		useRegistry = *opts.UseRegistry
	}
	s.useRegistry.Store(useRegistry)
	e.noteOpened(s)
	s.logDebug("opened", "domain", domain, "type", typ, "protocol", protocol, "netns", opts.Netns)
	return s, nil
}

// adopt wraps a new fd, for which a reservation is held, in a registered
// Socket acting for creds, if set. On failure it closes fd and releases the
// reservation.
func (e *Engine) adopt(fd, domain, typ, protocol int, owner Caller, creds *Creds) (*Socket, error) {
	s := newSocket(e, fd, domain, typ, protocol, owner)
	if creds != nil {
		s.actFor(*creds) // before anything can see s
	}
	if err := e.register(s); err != nil {
		unix.Close(fd)
		e.unreserve()
		return nil, err
	}
	return s, nil
}

// register puts s in epoll and in the table.
func (e *Engine) register(s *Socket) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return ErrClosed
	}
	s.loop = e.loops[e.nextLoop.Add(1)%uint32(len(e.loops))]
	if !e.slots.alloc(s) { // publishes s to the loops: fully built by now
		return &QuotaError{Resource: "sockets", Limit: e.cfg.MaxSockets}
	}
	e.table.insert(s)
	return nil
}

// unregister takes a closing socket out of epoll before its fd is closed,
// and keeps it as a tombstone.
func (e *Engine) unregister(s *Socket, fd int) {
	e.mu.RLock()
	if !e.stopping && s.watching.Load() {
		s.loop.remove(fd)
	}
	e.mu.RUnlock()
	e.slots.release(s.token)
	e.table.entomb(s, s.tenant())
}

// reserve takes one socket from the MaxSockets quota.
func (e *Engine) reserve() error { return e.reserveN(1) }

func (e *Engine) unreserve() { e.unreserveN(1) }

// unreserveN gives back n places reserveN took.
func (e *Engine) unreserveN(n int) { e.open.Add(-int64(n)) }

// reserveN takes n places from the MaxSockets quota: a relay's pipes are
// descriptors too.
// The places are looked at before they are taken: a refused relay must not
// take, even for a moment, a place an open would fit in.
func (e *Engine) reserveN(n int) error {
	for {
		taken := e.open.Load()
		if taken+int64(n) > int64(e.cfg.MaxSockets) {
			return &QuotaError{Resource: "sockets", Limit: e.cfg.MaxSockets}
		}
		if e.open.CompareAndSwap(taken, taken+int64(n)) {
			return nil
		}
	}
}

// reserveFor takes the places a socket for owner needs: one of MaxSockets
// (reserve; the socket, once registered, keeps it, and the caller gives it
// back with unreserve if none is made) and, if owner is a Limiter, one of
// its own, which release gives back.
func (e *Engine) reserveFor(owner Caller) (release func(), err error) {
	if err := e.reserve(); err != nil {
		return nil, err
	}
	l, ok := owner.(Limiter)
	if !ok {
		return func() {}, nil
	}
	if err := l.ReserveSocket(); err != nil {
		e.unreserve()
		return nil, err
	}
	return l.ReleaseSocket, nil
}

// lingerTurn waits for a place among the closes that may wait for
// SO_LINGER, for at most linger, and answers the linger time left; false
// when none came in time (whoever holds the places, another's close then
// lingers no longer than it asked) or the engine stops: the caller closes
// without lingering, as the kernel does for a process that exits.
func (e *Engine) lingerTurn(linger time.Duration) (time.Duration, bool) {
	select {
	case <-e.hurry:
		return 0, false
	default:
	}
	select {
	case e.lingerTurns <- struct{}{}:
		return linger, true
	default:
	}
	start := time.Now()
	timer := time.NewTimer(linger)
	defer timer.Stop()
	select {
	case e.lingerTurns <- struct{}{}:
		return linger - time.Since(start), true
	case <-e.hurry:
	case <-timer.C:
	}
	return 0, false
}

func (e *Engine) lingerDone() { <-e.lingerTurns }

// StopLingering makes every close from now on, and every TCP close waiting
// for its linger, close at once as the kernel does for a process that
// exits: a daemon that stops does not wait for its sockets' lingers (a
// close(2) already lingering in the kernel, SCTP's or MPTCP's, goes on
// until the process exits). Close calls it; a daemon calls it first, as its
// drain begins, so that Close calls in flight are answered at once.
func (e *Engine) StopLingering() { e.hurryOnce.Do(func() { close(e.hurry) }) }

// trackCloser counts a background close(2) that Close must wait for; false
// when the engine is stopping and the caller must close in its own time.
func (e *Engine) trackCloser() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.stopping {
		return false
	}
	e.closers.Add(1)
	return true
}

func (e *Engine) newHandle() uint64 { return e.handles.Add(1) }
