package engine

// Info is socket:info/1 (reference §4.1). It works on closed sockets: their
// state lists say "closing" while close(2) is under way, then "closed".
func (s *Socket) Info() Info {
	info := Info{
		ID:          s.id,
		Domain:      s.domain,
		Type:        s.typ,
		Protocol:    s.protocol,
		Counters:    s.cnt.snapshot(),
		UseRegistry: s.UseRegistry(),
		Fd:          s.Fd(),
		RelayByte:   s.relayed.Load(),

		RelayDroppedByte: s.relayDropped.Load(),
	}
	// A close, by anyone, ends Erlang's monitor of the owner and forgets it
	// (essio_fin_close): info then says owner undefined, as after its death.
	if owner := s.Owner(); owner != nil && !s.closed.Load() {
		info.Owner = owner.CallerID()
	}

	s.rd.mu.Lock()
	info.NumReaders, info.NumAcceptors = s.readers.count(), s.acceptors.count()
	accepting := s.acceptors.current != nil
	rselected := s.rd.selected
	s.rd.mu.Unlock()

	s.wr.mu.Lock()
	info.NumWriters = s.writers.count()
	connecting := s.connecting
	wselected := s.wr.selected
	s.wr.mu.Unlock()

	switch {
	case s.released.Load():
		info.RStates, info.WStates = []string{"closed"}, []string{"closed"}
	case s.closed.Load():
		info.RStates, info.WStates = []string{"closing"}, []string{"closing"}
	default:
		info.RStates = states(
			state{"bound", s.bound.Load()},
			state{"listening", s.listening.Load()},
			state{"accepting", accepting},
			state{"selected", rselected},
		)
		info.WStates = states(
			state{"connecting", connecting},
			state{"connected", s.connected.Load()},
			state{"selected", wselected},
		)
	}
	return info
}

// Requestors counts the requestors (current and queued) in the socket's
// reader, writer and acceptor lanes: Info's num_readers, num_writers and
// num_acceptors without the rest of Info.
func (s *Socket) Requestors() (readers, writers, acceptors int) {
	s.rd.mu.Lock()
	readers, acceptors = s.readers.count(), s.acceptors.count()
	s.rd.mu.Unlock()
	s.wr.mu.Lock()
	writers = s.writers.count()
	s.wr.mu.Unlock()
	return readers, writers, acceptors
}

type state struct {
	name string
	on   bool
}

// states lists the names that are on; never nil, so "no state" is [].
func states(all ...state) []string {
	names := []string{}
	for _, st := range all {
		if st.on {
			names = append(names, st.name)
		}
	}
	return names
}
