package registry

import "github.com/sockd/sockd/engine"

// A Filter selects sockets for NumberOf and WhichSockets (Erlang's
// which_sockets/1 filter). Several filters combine with AND.
type Filter func(*engine.Socket) bool

// Domain selects sockets of the address family d (AF_*).
func Domain(d int) Filter { return func(s *engine.Socket) bool { return s.Domain() == d } }

// Type selects sockets of the type t (SOCK_*).
func Type(t int) Filter { return func(s *engine.Socket) bool { return s.Type() == t } }

// Protocol selects sockets of the protocol p (IPPROTO_*), as the kernel
// resolved it at open: a default-protocol inet stream socket is tcp.
func Protocol(p int) Filter { return func(s *engine.Socket) bool { return s.Protocol() == p } }

// OwnedBy selects sockets whose controlling caller has the CallerID id.
// Sockets whose owner died match no owner.
func OwnedBy(id string) Filter {
	return func(s *engine.Socket) bool {
		owner := s.Owner()
		return owner != nil && owner.CallerID() == id
	}
}

// NumberOf counts the registered sockets that pass every filter
// (socket:number_of/0 when there are none, which costs no walk).
func (r *Registry) NumberOf(filters ...Filter) int {
	if len(filters) == 0 {
		return int(r.count.Load())
	}
	n := 0
	r.each(filters, func(*engine.Socket) { n++ })
	return n
}

// WhichSockets lists the registered sockets that pass every filter, in no
// particular order.
func (r *Registry) WhichSockets(filters ...Filter) []*engine.Socket {
	var out []*engine.Socket
	r.each(filters, func(s *engine.Socket) { out = append(out, s) })
	return out
}

// each calls fn for every registered socket passing filters, holding one
// shard's read lock at a time: a walk never stops opens and closes on the
// other shards.
func (r *Registry) each(filters []Filter, fn func(*engine.Socket)) {
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		for s := range sh.socks {
			if Passes(s, filters...) {
				fn(s)
			}
		}
		sh.mu.RUnlock()
	}
}

// Passes reports whether s passes every filter, for a walk over sockets the
// registry does not hold (every open one, registered or not).
func Passes(s *engine.Socket, filters ...Filter) bool {
	for _, f := range filters {
		if !f(s) {
			return false
		}
	}
	return true
}
