package engine

import (
	"container/list"
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of the otp-level settings (reference §6.4).
const (
	DefaultRcvBufSize  = 8192
	DefaultRcvCtrlBuf  = 1024
	DefaultSndCtrlBuf  = 1024
	maxRecvPreallocate = 64 << 10 // stream recv(N) grows its buffer as data arrives past this
)

// A Socket is one OS socket owned by the engine. All methods are safe for
// concurrent use.
type Socket struct {
	e                     *Engine
	id                    string
	domain, typ, protocol int
	token                 uint64 // epoll token: slot index and generation
	loop                  *loop

	// watching: the fd is in its loop's epoll set (see watch).
	watching atomic.Bool
	watchMu  sync.Mutex

	// fdMu orders the fd's users outside the lanes (Bind, Listen, Control,
	// ...) against Close: they hold it shared, Close exclusively while it
	// marks the socket closed. Lane syscalls need not take it: they run
	// under a side lock, which Close also takes.
	fdMu sync.RWMutex
	fd   int // -1 once closed; written with fdMu and both side locks held

	rd, wr                                 side
	acceptors, readers, writers, connector lane

	// connecting: a connect is in progress in the kernel. Guarded by wr.mu.
	connecting bool
	// connectErr is the connect's outcome that a read of SO_ERROR took
	// while it was in progress (SocketError), for finalise. Guarded by wr.mu.
	connectErr unix.Errno

	// closed is set with both side locks held, so either lock orders it;
	// it is atomic for the lock-free readers (Closed, Info).
	closed atomic.Bool
	// closedC is closed when closed is set: for what waits on the socket
	// without being in a lane (a relay waiting for room in its pipes).
	closedC chan struct{}
	// released: close(2) has returned.
	released atomic.Bool

	// Facts for Info's state lists.
	bound, listening, connected atomic.Bool
	// endWritten: a shutdown of the write side was asked for, so a TCP
	// connection may close without a reset (a relay tells the two apart).
	endWritten atomic.Bool
	// portAsked: a Bind named the socket's port (not 0).
	portAsked atomic.Bool
	// boundFile: the socket file to remove once the fd is closed
	// (BindOptions.UnlinkOnClose).
	boundFile atomic.Pointer[boundFile]

	cnt counters

	mu               sync.Mutex // guards owner, orphanOf, meta and the buffer settings below
	owner            Caller
	orphanOf         any    // the dead owner's Tenant value (Abandon)
	meta             []byte // otp meta; nil is undefined
	rcvN, rcvSize    int
	rcvCtrl, sndCtrl int

	iow, debug, useRegistry atomic.Bool
	selectRead              atomic.Bool // otp select_read
	announced               atomic.Bool // the Observer was told of it (SocketOpened)

	acceptFilter atomic.Pointer[AcceptFilter]
	// The local user s acts for (OpenOptions.Creds), and on a local socket
	// the SCM_CREDENTIALS message its sends carry; both set by actFor
	// before s is published, never changed.
	creds    *Creds
	credsMsg []byte

	// pendingReadErr is a read error a nowait or polling recv(N) met after
	// the bytes it answered, for the next call (recvJob.partialFirst,
	// takeKeptErr).
	pendingReadErr atomic.Pointer[error]

	// relayed is the bytes Relay moved out of the socket (Info.RelayByte);
	// relayDropped those it read and could not write (RelayDroppedByte).
	relayed, relayDropped atomic.Uint64
	// streamHeld is closed when the Pipe or Relay that carries the socket's
	// bytes ends; nil while none does (ClaimStream).
	streamMu   sync.Mutex
	streamHeld chan struct{}

	// Tombstone bookkeeping, guarded by the table's tombMu.
	tomb      *list.Element
	tombOf    any // the tenant whose tombstones tomb is among
	forgotten bool
}

func newSocket(e *Engine, fd, domain, typ, protocol int, owner Caller) *Socket {
	s := &Socket{
		e: e, id: newSocketID(), fd: fd,
		domain: domain, typ: typ, protocol: protocol,
		owner:   owner,
		closedC: make(chan struct{}),
		rcvSize: DefaultRcvBufSize, rcvCtrl: DefaultRcvCtrlBuf, sndCtrl: DefaultSndCtrlBuf,
		cnt: newCounters(e.cfg.CounterBits),
	}
	// A new socket is not known to be empty on either side.
	s.rd.ready, s.wr.ready = true, true
	s.rd.lanes = []*lane{&s.readers, &s.acceptors}
	s.wr.lanes = []*lane{&s.writers, &s.connector}
	s.connector.exclusive = true
	return s
}

// ID is the socket's opaque, unguessable id.
func (s *Socket) ID() string { return s.id }

// Domain, Type and Protocol are those the socket was opened with (Protocol
// resolved by the kernel when 0 was asked).
func (s *Socket) Domain() int   { return s.domain }
func (s *Socket) Type() int     { return s.typ }
func (s *Socket) Protocol() int { return s.protocol }

// ClaimStream takes the socket for one bulk consumer (a Pipe or a Relay,
// which carry "what the socket receives"): false if another has it for
// longer than within (one whose client has gone may still be finishing: a
// relay writes out what it has read), or ctx ends first. Plain calls are
// not refused; two bulk consumers would split the byte stream between them
// without either knowing.
func (s *Socket) ClaimStream(ctx context.Context, within time.Duration) bool {
	var expired <-chan time.Time
	for {
		s.streamMu.Lock()
		held := s.streamHeld
		if held == nil {
			s.streamHeld = make(chan struct{})
		}
		s.streamMu.Unlock()
		if held == nil {
			return true
		}
		if expired == nil {
			timer := time.NewTimer(within)
			defer timer.Stop()
			expired = timer.C
		}
		select {
		case <-held:
		case <-expired:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// ReleaseStream gives back what ClaimStream took.
func (s *Socket) ReleaseStream() {
	s.streamMu.Lock()
	close(s.streamHeld)
	s.streamHeld = nil
	s.streamMu.Unlock()
}

// Closed reports whether Close or Abandon has run.
func (s *Socket) Closed() bool { return s.closed.Load() }

// Released reports whether the socket's descriptor is closed, which a
// close with SO_LINGER does only once its linger is done.
func (s *Socket) Released() bool { return s.released.Load() }

// Done is closed when the socket is closed, for what waits on the socket
// without a call in its lanes.
func (s *Socket) Done() <-chan struct{} { return s.closedC }

// Fd is the OS descriptor, -1 once closed. It is for display: use Control to
// operate on it.
func (s *Socket) Fd() int {
	s.fdMu.RLock()
	defer s.fdMu.RUnlock()
	return s.fd
}

// tenant is whom the socket's owner acts for (Tenant), or the dead owner's
// (Orphaned); nil for an owner that is no Tenant.
func (s *Socket) tenant() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.owner.(Tenant); ok {
		return t.Tenant()
	}
	return s.orphanOf
}

// Owner is the controlling caller; nil after the owner died.
func (s *Socket) Owner() Caller {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner
}

// SetOwner is setopt controlling_process: only the current owner may hand
// the socket over.
func (s *Socket) SetOwner(by, to Caller) error {
	return s.asOwner(by, func() { s.owner = to })
}

// CheckOwner answers as SetOwner would for by, changing nothing: the otp
// options only the owner may set say not_owner before they look at the value,
// as Erlang's NIF does.
func (s *Socket) CheckOwner(by Caller) error { return s.asOwner(by, func() {}) }

// asOwner runs set under s.mu if by is the owner of the open socket: the
// otp options only the owner may set.
func (s *Socket) asOwner(by Caller, set func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Under mu: what close clears (meta) after it marks the socket closed
	// is either cleared after set, or set sees the socket closed.
	if s.Closed() {
		return ErrClosed
	}
	if s.owner == nil || s.owner != by {
		return &InvalidError{What: "not_owner"}
	}
	set()
	return nil
}

// Meta is otp meta, nil while undefined; the caller must not modify it.
func (s *Socket) Meta() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Under mu, as asOwner: close clears meta after it marks the socket
	// closed, so a reader sees the meta or closed, never the cleared value.
	if s.Closed() {
		return nil, ErrClosed
	}
	return s.meta, nil
}

// SetMeta is setopt meta: only the current owner may set it; nil makes it
// undefined again (an empty term is not nil). The socket keeps meta itself,
// not a copy.
func (s *Socket) SetMeta(by Caller, meta []byte) error {
	return s.asOwner(by, func() { s.meta = meta })
}

// Control runs fn with the fd pinned: Close waits for fn to return. It is
// for setsockopt/getsockopt; fn must not call back into the socket.
func (s *Socket) Control(fn func(fd int) error) error {
	s.fdMu.RLock()
	defer s.fdMu.RUnlock()
	if s.fd < 0 {
		return ErrClosed
	}
	return fn(s.fd)
}

// Bind binds the socket to sa; the kernel judges its family, as for every
// address (SockAddr.raw).
func (s *Socket) Bind(sa SockAddr) error { return s.BindWith(sa, BindOptions{}) }

// BindOptions are what a bind may ask beyond Erlang's.
type BindOptions struct {
	// UnlinkOnClose: the socket file a bind to a local path makes is
	// removed when the socket's descriptor is closed, if the path still
	// names it, as Go's net.UnixListener and socat's UNIX-LISTEN do; Erlang
	// leaves it, and a bind of the same path then fails with eaddrinuse
	// until someone removes it (which a client of the daemon may not be able
	// to: the file is in the daemon's filesystem). The path is looked up
	// again at close, as Go does: whoever may rename a directory on it may
	// point the removal elsewhere, so it is for a socket that acts as its
	// user (OpenOptions.Creds), whose removal has that user's rights, or
	// for a caller trusted with the daemon's.
	UnlinkOnClose bool
}

// BindWith is Bind with o.
func (s *Socket) BindWith(sa SockAddr, o BindOptions) error {
	raw, err := sa.raw()
	if err != nil {
		return err
	}
	return s.Control(func(fd int) error {
		user := s.pathUser(raw)
		if _, err := asUser(user, func() (int, error) { return 0, sysBind(fd, raw) }); err != nil {
			s.logDebug("bind", "address", sa, "err", err)
			return err
		}
		if o.UnlinkOnClose && raw.isPath() {
			s.noteBoundFile(strings.TrimRight(string(sa.Path), "\x00"), user)
		}
		s.bound.Store(true)
		if (sa.Family == FamilyInet || sa.Family == FamilyInet6) && sa.Port != 0 {
			s.portAsked.Store(true)
		}
		s.logDebug("bind", "address", sa)
		return nil
	})
}

// Listen marks the socket as accepting connections.
func (s *Socket) Listen(backlog int) error {
	return s.Control(func(fd int) error {
		// What connecting peers read with SO_PEERCRED is recorded now.
		if _, err := asUser(s.peerUser(), func() (int, error) { return 0, unix.Listen(fd, backlog) }); err != nil {
			s.logDebug("listen", "backlog", backlog, "err", err)
			return err
		}
		s.listening.Store(true)
		s.logDebug("listen", "backlog", backlog)
		return nil
	})
}

// Shutdown shuts down the read side, the write side, or both.
func (s *Socket) Shutdown(how int) error {
	switch how {
	case unix.SHUT_RD, unix.SHUT_WR, unix.SHUT_RDWR:
	default:
		return &InvalidError{What: "how", Value: how}
	}
	if how != unix.SHUT_RD {
		s.endWritten.Store(true) // before the FIN can go, so that endWritten is never late
	}
	return s.Control(func(fd int) error {
		if err := unix.Shutdown(fd, how); err != nil {
			s.logDebug("shutdown", "how", how, "err", err)
			return err
		}
		s.logDebug("shutdown", "how", how)
		return nil
	})
}

// PassOnEnd shuts the write side down to pass on the end of a byte stream
// (a Pipe's close_write, a Relay's source at its end). A connection already
// gone both ways has nothing left to shut: that is no error here, as it is
// for Shutdown.
func (s *Socket) PassOnEnd() error {
	if err := s.Shutdown(unix.SHUT_WR); err != unix.ENOTCONN {
		return err
	}
	return nil
}

// SockName is the socket's local address.
func (s *Socket) SockName() (SockAddr, error) { return s.name(sysGetsockname) }

// PeerName is the connected peer's address.
func (s *Socket) PeerName() (SockAddr, error) { return s.name(sysGetpeername) }

func (s *Socket) name(get func(int) (*rawSockaddr, error)) (SockAddr, error) {
	var sa *SockAddr
	err := s.Control(func(fd int) error {
		raw, err := get(fd)
		if err != nil {
			return err
		}
		sa = raw.decode()
		return nil
	})
	if err != nil || sa == nil {
		return SockAddr{}, err
	}
	return *sa, nil
}

// RcvBuf is otp rcvbuf: n buffers of size bytes for a length-0 stream recv
// (n 0 or 1: one buffer).
func (s *Socket) RcvBuf() (n, size int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rcvN, s.rcvSize
}

// SetRcvBuf sets otp rcvbuf; size <= 0 restores the default.
func (s *Socket) SetRcvBuf(n, size int) {
	if size <= 0 {
		size = DefaultRcvBufSize
	}
	s.mu.Lock()
	s.rcvN, s.rcvSize = max(n, 0), size
	s.mu.Unlock()
}

// CtrlBufs are otp rcvctrlbuf and sndctrlbuf.
func (s *Socket) CtrlBufs() (rcv, snd int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rcvCtrl, s.sndCtrl
}

// SetRcvCtrlBuf sets otp rcvctrlbuf; n <= 0 restores the default.
func (s *Socket) SetRcvCtrlBuf(n int) {
	if n <= 0 {
		n = DefaultRcvCtrlBuf
	}
	s.mu.Lock()
	s.rcvCtrl = n
	s.mu.Unlock()
}

// SetSndCtrlBuf sets otp sndctrlbuf; n <= 0 restores the default.
func (s *Socket) SetSndCtrlBuf(n int) {
	if n <= 0 {
		n = DefaultSndCtrlBuf
	}
	s.mu.Lock()
	s.sndCtrl = n
	s.mu.Unlock()
}

// IOW is otp iow: tell the owner when a counter wraps.
func (s *Socket) IOW() bool     { return s.iow.Load() }
func (s *Socket) SetIOW(v bool) { s.iow.Store(v) }

// SelectRead is otp select_read (OTP 28): a nowait select-mode read that
// reads data leaves its caller a new read select, armed.
func (s *Socket) SelectRead() bool     { return s.selectRead.Load() }
func (s *Socket) SetSelectRead(v bool) { s.selectRead.Store(v) }

// Debug is otp debug: per-socket debug logging.
func (s *Socket) Debug() bool     { return s.debug.Load() }
func (s *Socket) SetDebug(v bool) { s.debug.Store(v) }

// Bound reports whether a Bind of the socket succeeded (Info's bound state):
// not a bind the kernel made by itself on a listen, send or connect.
func (s *Socket) Bound() bool { return s.bound.Load() }

// PortPicked reports whether the socket's port, if it has one, is one the
// kernel picked: no Bind named a port.
func (s *Socket) PortPicked() bool { return !s.portAsked.Load() }

// UseRegistry is otp use_registry; the registry package reads it.
func (s *Socket) UseRegistry() bool { return s.useRegistry.Load() }

// SetUseRegistry sets otp use_registry. Turning it on for a socket the
// Observer already knows of (SocketOpened) tells the Observer.
func (s *Socket) SetUseRegistry(v bool) {
	if was := s.useRegistry.Swap(v); v && !was && s.announced.Load() {
		s.e.noteUseRegistryOn(s)
	}
}

// inherit copies to an accepted socket what it takes from its listener
// (reference §2.9).
func (s *Socket) inherit(from *Socket) {
	n, size := from.RcvBuf()
	rcv, snd := from.CtrlBufs()
	s.mu.Lock()
	s.rcvN, s.rcvSize, s.rcvCtrl, s.sndCtrl = n, size, rcv, snd
	s.mu.Unlock()
	s.iow.Store(from.IOW())
	s.debug.Store(from.Debug())
	s.useRegistry.Store(from.UseRegistry())
}

// actFor records that s acts for the local user c (OpenOptions.Creds, or
// the listener's for a connection it accepted), before s is published. A
// local socket then sends c's credentials with everything it sends: a
// receiver with SO_PASSCRED is told the sender's, and without a control
// message of ours the kernel would tell the daemon's.
func (s *Socket) actFor(c Creds) {
	s.creds = &c
	if s.domain == unix.AF_UNIX {
		s.credsMsg = unix.UnixCredentials(&unix.Ucred{Pid: int32(os.Getpid()), Uid: c.UID, Gid: c.GID})
	}
}

// ActsFor reports the local user s acts for (OpenOptions.Creds), the
// kernel's owner of s: false when s has the daemon's own uid.
func (s *Socket) ActsFor() (Creds, bool) {
	if s.creds == nil {
		return Creds{}, false
	}
	return *s.creds, true
}

// reportWraps tells the owner about wrapped counters, if iow is on.
func (s *Socket) reportWraps() {
	wrapped := s.cnt.takeWrapped()
	if wrapped == 0 || !s.IOW() {
		return
	}
	owner := s.Owner()
	if owner == nil {
		return
	}
	for id := range numCounters {
		if wrapped&(1<<uint(id)) != 0 {
			owner.Deliver(Event{Kind: EventCounterWrap, Socket: s, Counter: counterNames[id]})
		}
	}
}

// traced reports whether the socket's operations are logged: its debug
// flag (otp debug) is on, or the engine's global debug (socket:debug/1).
func (s *Socket) traced() bool { return s.debug.Load() || s.e.debug.Load() }

// logDebug logs when the socket is traced. Hot paths test traced first, so
// that building args costs nothing when it is off.
func (s *Socket) logDebug(msg string, args ...any) {
	if s.traced() {
		s.e.log.Debug("socket: "+msg, append([]any{"socket", s.id}, args...)...)
	}
}

// takeKeptErr takes the error a recv kept for the next call, nil if none.
// Every read and send asks: a load, which leaves the cache line shared,
// before the swap that only a kept error needs.
func (s *Socket) takeKeptErr() error {
	if s.pendingReadErr.Load() == nil {
		return nil
	}
	if kept := s.pendingReadErr.Swap(nil); kept != nil {
		return *kept
	}
	return nil
}
