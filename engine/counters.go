package engine

import (
	"math/bits"
	"sync/atomic"
)

// counterID names one of the per-socket counters of reference §4.1.
type counterID int

const (
	cReadByte counterID = iota
	cReadFails
	cReadPkg
	cReadPkgMax
	cReadTries
	cReadWaits
	cWriteByte
	cWriteFails
	cWritePkg
	cWritePkgMax
	cWriteTries
	cWriteWaits
	cAccSuccess
	cAccFails
	cAccTries
	cAccWaits
	numCounters
)

// counterNames are the Erlang names, used in EventCounterWrap.
var counterNames = [numCounters]string{
	"read_byte", "read_fails", "read_pkg", "read_pkg_max", "read_tries", "read_waits",
	"write_byte", "write_fails", "write_pkg", "write_pkg_max", "write_tries", "write_waits",
	"acc_success", "acc_fails", "acc_tries", "acc_waits",
}

// counters are fixed-width and wrap at 2^bits, as the NIF's do (§4.3). Each
// counter has a single writer at a time: read and accept counters change
// under the read side's lock, write counters under the write side's. The
// values are atomics so Info can read them without taking either lock.
type counters struct {
	mask uint64
	v    [numCounters]atomic.Uint64
	// wrapped has bit i set when counter i wrapped and the owner has not
	// been told yet; the next outbox flush reports it (see outbox.flush).
	wrapped atomic.Uint32
}

func newCounters(width int) counters {
	return counters{mask: counterMask(width)}
}

func counterMask(width int) uint64 {
	if width >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(width) - 1
}

// add increments counter id by n, wrapping at the counter width.
func (c *counters) add(id counterID, n uint64) {
	old := c.v[id].Load()
	sum, carry := bits.Add64(old, n, 0)
	if carry != 0 || sum > c.mask {
		c.wrapped.Or(1 << uint(id))
	}
	c.v[id].Store(sum & c.mask)
}

func (c *counters) inc(id counterID) { c.add(id, 1) }

// raise sets a *_pkg_max counter to v if v is larger; it saturates at the
// counter width rather than wrapping (a maximum that wrapped would lie).
func (c *counters) raise(id counterID, v uint64) {
	v = min(v, c.mask)
	if v > c.v[id].Load() {
		c.v[id].Store(v)
	}
}

// takeWrapped returns and clears the set of counters that wrapped.
func (c *counters) takeWrapped() uint32 {
	if c.wrapped.Load() == 0 {
		return 0
	}
	return c.wrapped.Swap(0)
}

// BytesRead is the socket's read_byte counter: what its reads have taken
// from it so far (Counters.ReadByte).
func (s *Socket) BytesRead() uint64 { return s.cnt.v[cReadByte].Load() }

func (c *counters) snapshot() Counters {
	g := func(id counterID) uint64 { return c.v[id].Load() }
	return Counters{
		ReadByte: g(cReadByte), ReadFails: g(cReadFails), ReadPkg: g(cReadPkg),
		ReadPkgMax: g(cReadPkgMax), ReadTries: g(cReadTries), ReadWaits: g(cReadWaits),
		WriteByte: g(cWriteByte), WriteFails: g(cWriteFails), WritePkg: g(cWritePkg),
		WritePkgMax: g(cWritePkgMax), WriteTries: g(cWriteTries), WriteWaits: g(cWriteWaits),
		AccSuccess: g(cAccSuccess), AccFails: g(cAccFails), AccTries: g(cAccTries), AccWaits: g(cAccWaits),
	}
}

// Op-level helpers: the counters each kind of operation moves.

// waitCounter is the *_waits counter of the side op waits on (none for connect).
func waitCounter(op Op) (counterID, bool) {
	switch op.lane() {
	case acceptLane:
		return cAccWaits, true
	case readLane:
		return cReadWaits, true
	case writeLane:
		return cWriteWaits, true
	}
	return 0, false
}
