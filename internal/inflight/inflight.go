// Package inflight bounds what clients can make the daemon hold of gRPC
// messages they have begun to send and not finished, or sent and not had
// read.
//
// gRPC reads a request whole before any of the daemon's checks, and keeps
// every HTTP/2 DATA frame of it as a buffer of its own until the last byte
// arrives: a client that declares a 4 MiB message and sends all of it but
// one byte, on each of many streams, makes the daemon hold 4 MiB a stream
// for as long as it likes; sent in 1-byte frames, each byte costs the
// daemon a buffer and its bookkeeping, over a hundred bytes (measured: 1
// MiB sent so made the daemon's memory grow by 117 MB). grpc-go offers no
// bound on either.
//
// Whole messages a handler has not read yet gRPC holds the same way: a Pipe
// whose socket takes nothing more reads nothing, and its stream's window
// of messages sent a frame each cost gRPC over twenty times their bytes
// (about 4.5 MB a stream of 256 KiB).
//
// Conn watches a server connection's HTTP/2 frames as gRPC reads them,
// follows the gRPC messages in each stream's DATA frames, and charges what
// gRPC holds for each frame (its buffer and bookkeeping, by gRPC's own
// sizes) to the Budgets of the connection: its client's and the daemon's.
// A stream's later messages stay charged until the daemon has read them,
// which its WINDOW_UPDATEs for the stream say (gRPC gives the window back
// as a handler reads, a quarter of the window late at most); a stream's
// first message until the client ends its side (gRPC runs a unary call
// only then, and holds the request whole until then: a client that never
// ended it held 4 MiB a stream); and padded frames until the daemon ends
// the stream (no gRPC client pads; padding is given back to the window at
// once, and stays in the frame's buffer until a handler reads the
// message). A frame that would take a budget past its limit closes the
// connection: gRPC has not seen it yet, so what the connection held is
// released with it, and the client's other connections go on.
//
// Conn also counts the client's streams open on the wire, until the daemon
// has written their end or the client reset them, and closes the
// connection of a client that opens one past the daemon's
// MAX_CONCURRENT_STREAMS: gRPC stops counting a stream when its handler
// returns, while its answer may still wait for the client's window, so
// that a client reading no answers could open streams without end (what
// the answers hold is bounded apart, by the server's account of them).
//
// Conn changes no byte: it reads the frames beside gRPC, which still
// validates them. What it cannot follow (a malformed preface or frame) it
// leaves to gRPC, which closes the connection.
package inflight

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Budget is a bound on the bytes that connections sharing it may hold in
// unfinished messages. It is safe for concurrent use.
type Budget struct {
	name  string
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes (at most); name says whose it
// is in the error that refuses a charge.
func NewBudget(name string, limit int64) *Budget {
	return &Budget{name: name, limit: limit}
}

// Used is what the budget's connections hold now.
func (b *Budget) Used() int64 { return b.used.Load() }

func (b *Budget) take(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *Budget) give(n int64) { b.used.Add(-n) }

// Add changes what the budget holds by n without a look at its limit: for
// what is held already (Full says when to take no more), or given back.
func (b *Budget) Add(n int64) { b.used.Add(n) }

// Full reports whether the budget holds its limit or more.
func (b *Budget) Full() bool { return b.used.Load() >= b.limit }

// Limit is the budget's limit.
func (b *Budget) Limit() int64 { return b.limit }

// ExceededError is why a Conn closed its connection: a frame that would
// take one of its budgets past its limit.
type ExceededError struct {
	Budget string // the budget's name
	Limit  int64
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("unfinished requests would hold more than %d bytes (%s)", e.Limit, e.Budget)
}

// StreamsError is why a Conn closed its connection: the client opened more
// streams than the daemon's MAX_CONCURRENT_STREAMS, counting those whose
// answer the daemon has not finished writing, which gRPC no longer counts.
type StreamsError struct {
	Limit uint32
}

func (e *StreamsError) Error() string {
	return fmt.Sprintf("the client opened more than the %d concurrent streams it may", e.Limit)
}

// minStreams is the least number of streams a client may open: before it
// has heard the daemon's limit, a client may open as many as HTTP/2 advises
// (RFC 9113 §6.5.2), and gRPC's clients do.
const minStreams = 100

// ErrNotHTTP2 is a connection whose first bytes are not HTTP/2's client
// preface: Conn stops following it and gRPC refuses it.
var ErrNotHTTP2 = errors.New("not an HTTP/2 client preface")

// What gRPC holds for a DATA frame until its message is read: a buffer of
// the frame's length (the padding included), taken from its buffer pool
// above gRPC's pooling threshold, where the pool's sizes round it up; and
// the buffer's bookkeeping in the stream's queue and in the message being
// gathered (a measured 117 bytes for 1-byte frames, with the buffer).
const (
	poolingThreshold = 1 << 10 // grpc mem.BufferPoolingThreshold
	frameBookkeeping = 128
)

// poolSizes are grpc-go's default buffer pool's sizes (mem
// defaultBufferPoolSizeExponents) from the pooling threshold up.
var poolSizes = [...]int{4 << 10, 16 << 10, 32 << 10, 1 << 20}

// FrameCost is what gRPC holds for a DATA frame of length bytes (its
// padding included), or for a buffer of a received message of length bytes.
func FrameCost(length int) int64 {
	if length <= poolingThreshold {
		return int64(length) + frameBookkeeping
	}
	for _, size := range poolSizes {
		if length <= size {
			return int64(size) + frameBookkeeping
		}
	}
	return int64(length) + frameBookkeeping
}
