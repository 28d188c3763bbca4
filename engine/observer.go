package engine

// Observer learns of every socket's birth and death, whatever the path: Open,
// an accept (blocking, nowait or completion), Close, Abandon (its owner
// died) and Engine.Close. The socket registry is built on it, so that the
// engine need not know what registering means.
//
// Both methods may run concurrently, for different sockets or even for one:
// when a socket is closed while it is being born (Engine.Close racing an
// accept), SocketClosed may come first. An observer that needs the order
// checks Socket.Closed under its own lock: the closed mark is set before
// SocketClosed is called, so "not closed when added" means "SocketClosed
// will follow".
//
// Methods must not block and must not call into the engine beyond the
// socket's lock-free getters (ID, Domain, Type, Protocol, Closed, Released,
// UseRegistry, Debug, IOW): SocketOpened of an accepted socket runs with
// its listener's read side locked.
type Observer interface {
	// SocketOpened is called once per socket, when it is fully set up
	// (use_registry decided, inherited settings copied), before the
	// caller that opened or accepted it sees it.
	SocketOpened(s *Socket)
	// SocketClosed is called once per socket, after it was marked closed
	// and its waiters aborted, with no engine lock held.
	SocketClosed(s *Socket)
	// SocketReleased is called once per socket, after SocketClosed, when
	// its descriptor is closed: at once, or once an SO_LINGER close has
	// waited. A count of the descriptors a socket's owner holds uses it
	// (Released tells the order, as Closed does SocketClosed's).
	SocketReleased(s *Socket)
	// UseRegistryOn is called when a socket's use_registry turns on after
	// SocketOpened (setopt otp use_registry true, a monitor), so that the
	// observer need not learn of it from every caller that sets it.
	UseRegistryOn(s *Socket)
}

func (e *Engine) noteOpened(s *Socket) {
	s.announced.Store(true) // before: a SetUseRegistry racing with it tells one of the two
	if e.cfg.Observer != nil {
		e.cfg.Observer.SocketOpened(s)
	}
}

func (e *Engine) noteReleased(s *Socket) {
	if e.cfg.Observer != nil {
		e.cfg.Observer.SocketReleased(s)
	}
}

func (e *Engine) noteUseRegistryOn(s *Socket) {
	if e.cfg.Observer != nil {
		e.cfg.Observer.UseRegistryOn(s)
	}
}

func (e *Engine) noteClosed(s *Socket) {
	if e.cfg.Observer != nil {
		e.cfg.Observer.SocketClosed(s)
	}
}
