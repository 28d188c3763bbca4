package server

import (
	"hash/maphash"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
)

// bindLocks serialize, per socket, a policy's decision on a bind (explicit,
// or the one a listen, datagram send or connect makes) and the call that
// binds, against a change of IPV6_V6ONLY, which decides whether [::] binds
// IPv4 too: the option set between the two would bind what the policy
// refused. So too a decision on SO_BINDTODEVICE, which anyone may set once
// but only the privileged change, and the setsockopt: two at once would both
// find the socket bound to no device. Striped: sockets share a lock by their
// id's hash.
type bindLocks struct {
	seed  maphash.Seed
	locks [64]sync.Mutex
}

func newBindLocks() *bindLocks { return &bindLocks{seed: maphash.MakeSeed()} }

// of returns sock's lock.
func (b *bindLocks) of(sock *engine.Socket) *sync.Mutex {
	return &b.locks[maphash.String(b.seed, sock.ID())%uint64(len(b.locks))]
}

// sendBinds reports whether a datagram send or connect may bind sock where
// IPV6_V6ONLY decides what it binds: an inet6 datagram socket no Bind
// bound. A connect of one, which never waits, holds the socket's lock; a
// send, which may wait, holds none and is checked after (boundAsDecided).
func sendBinds(sock *engine.Socket) bool {
	return sock.Domain() == unix.AF_INET6 && sock.Type() == unix.SOCK_DGRAM && !sock.Bound()
}

// isV6only reports whether a setsockopt level and name is IPV6_V6ONLY.
func isV6only(level, name int) bool { return level == unix.IPPROTO_IPV6 && name == unix.IPV6_V6ONLY }

// isBindToDevice reports whether a setsockopt level and name is
// SO_BINDTODEVICE.
func isBindToDevice(level, name int) bool {
	return level == unix.SOL_SOCKET && name == unix.SO_BINDTODEVICE
}
