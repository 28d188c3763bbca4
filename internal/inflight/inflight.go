// Package inflight bounds what clients can make the daemon hold of gRPC
// messages they have begun to send and not finished, or sent and not had
// read.
//
// gRPC reads a request whole before any of the daemon's checks, and keeps
// every HTTP/2 DATA frame of it as a buffer of its own until the last byte
// arrives: a client that declares a 4 MiB message and sends all of it but
// one byte, on each of many streams, makes the daemon hold 4 MiB a stream
// for as long as it likes; sent in 1-byte frames, each byte costs the
// daemon a buffer and its bookkeeping (measured with grpc-go v1.85: 1 MiB
// sent so made the daemon's heap grow by 22 MB). grpc-go offers no bound on
// either.
//
// Whole messages a handler has not read yet gRPC holds the same way: a Pipe
// whose socket takes nothing more reads nothing, and its stream's window
// of messages sent a frame each stays in gRPC's queue (640 KB a stream of
// 256 KiB of 1-byte writes, once gRPC has compacted them).
//
// Conn watches a server connection's HTTP/2 frames as it hands them to
// gRPC (it reads for gRPC, which then reads unbuffered), follows the gRPC
// messages in each stream's DATA frames, and charges what gRPC holds for
// each frame (its buffer and bookkeeping, by gRPC's own sizes) to the
// Budgets of the connection: its client's and the daemon's. A stream's
// later messages stay charged until the daemon has read them, which its
// handler says (Stream.Read, as Pipe's does) or else its WINDOW_UPDATEs for
// the stream (gRPC gives the window back as a handler reads, a quarter of
// the window late at most); a stream's first message until the client
// ends its side (gRPC runs a unary call only then, and holds the request
// whole until then: a client that never ended it held 4 MiB a stream); and
// padded frames until the daemon ends the stream (no gRPC client pads;
// padding is given back to the window at once, and stays in the frame's
// buffer until a handler reads the message). A frame that would take a
// budget past its limit closes the connection: gRPC has not seen it yet,
// so what the connection held is released with it, and the client's other
// connections go on.
//
// Each open stream costs the daemon a handler's goroutine and gRPC's state
// for it before any message, which Conn counts too (StreamCost), on
// budgets of their own, until the stream ends on the wire; the server
// refuses a stream past them (Config.StreamBudgets) in gRPC's tap, which
// runs when Conn has handed over that stream's headers and no later
// stream's (LastOpened).
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
	"math/bits"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/mem"
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

// addUsed is Add, returning what the budget holds then.
func (b *Budget) addUsed(n int64) int64 { return b.used.Add(n) }

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

// What gRPC holds for a DATA frame until its message is read, measured
// with grpc-go v1.85 (the daemon's heap after a collection, with frames of
// 1 to 4,000 bytes gathered into a request or queued unread on a stream):
// the frame's bytes, in a buffer of the heap's size class (Go's, up to 1
// KiB), or above gRPC's pooling threshold of its pool's size (BufferPool's);
// and the buffer's bookkeeping in the stream's queue and in the message
// being gathered, up to 64 bytes a frame for heap buffers and 146 for
// pooled ones (charged with a margin).
const (
	poolingThreshold  = 1 << 10 // grpc mem.BufferPoolingThreshold
	heapBookkeeping   = 80
	pooledBookkeeping = 160
)

// heapSizeClasses are the Go runtime's allocation sizes up to the pooling
// threshold (runtime/sizeclasses.go).
var heapSizeClasses = [...]int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024}

// The sizes of BufferPool's buffers: every power of two from 256 bytes to 1
// MiB. gRPC's default pool has none between 32 KiB and 1 MiB, and gRPC asks
// its pool for buffers of any size up to some 37 KB when it compacts a
// stream's queue (below): a reviewer's runs of 33 KB of small messages took
// 1 MiB each, and a principal's stalled pipes held 11 times what they were
// charged.
const (
	minPoolExponent = 8
	maxPoolExponent = 20
)

// BufferPool is the pool the daemon's gRPC server must take its buffers
// from (experimental.BufferPool) for FrameCost and queueBound to be what
// gRPC holds: a buffer from it is at most twice the size asked for.
func BufferPool() mem.BufferPool { return bufferPool }

var bufferPool = func() mem.BufferPool {
	var exponents []uint8
	for e := uint8(minPoolExponent); e <= maxPoolExponent; e++ {
		exponents = append(exponents, e)
	}
	pool, err := mem.NewBinaryTieredBufferPool(exponents...)
	if err != nil {
		panic(err) // only on a machine whose slices cannot be 1 MiB
	}
	return pool
}()

// FrameCost is what gRPC holds for a DATA frame of length bytes (its
// padding included), or for a buffer of a received message of length bytes.
func FrameCost(length int) int64 {
	if length <= poolingThreshold {
		i, _ := slices.BinarySearch(heapSizeClasses[:], length)
		return int64(heapSizeClasses[i]) + heapBookkeeping
	}
	if length <= 1<<maxPoolExponent {
		return int64(1)<<bits.Len(uint(length-1)) + pooledBookkeeping
	}
	// Past the largest size the pool allocates pages, or lends a larger
	// buffer; a frame is never so large (16 KiB, the daemon's
	// SETTINGS_MAX_FRAME_SIZE), nor is a compacted run.
	return int64(length)*2 + pooledBookkeeping
}

// StreamCost is what an open stream costs the daemon before any message:
// its handler's goroutines (some 8 KB of stack each, once grown) and gRPC's
// state for the stream and its headers. Measured with grpc-go v1.85 (heap
// and stacks): 11.2 KB for a blocking recv, 14.4 KB for a health Watch,
// 15.8 KB for an Events stream, 21.8 KB for an idle Pipe. Uncharged, one
// unprivileged client's 152,000 unfinished calls over 8 connections held
// 1.8 GB.
const StreamCost = 16 << 10

// gRPC compacts a stream's queue of frames it has not handed to the
// stream's reader yet (grpc-go internal/transport recvBuffer, from v1.85):
// runs of frames whose bookkeeping outweighs their bytes are copied into
// one buffer of its pool (BufferPool), at most twice their bytes (a run of
// 1-byte frames, 1,025 bytes, goes into a 2 KiB buffer), and it leaves at most one run uncompacted, which it lets grow to 57 KiB
// by its own estimate (measured up to 1.3 times that; with the queue's
// slice, which keeps its largest size, under 140 KiB). So a stream's queued
// frames hold at most queueBound of their bytes, however small they came:
// measured, a stalled pipe's 256 KiB of 1-byte writes hold 640 KB, which
// FrameCost a frame made 4.5 MB. GRPC_GO_EXPERIMENTAL_ENABLE_RECEIVE_BUFFER_COMPACTION=false
// turns compaction off, and the bound with it.
const (
	uncompactedRun         = 160 << 10
	compactedPerByteTimes4 = 10 // 2.5 bytes a byte: the pool's rounding and each run's bookkeeping
)

var compacts = !strings.EqualFold(os.Getenv("GRPC_GO_EXPERIMENTAL_ENABLE_RECEIVE_BUFFER_COMPACTION"), "false")

// queueBound is the most gRPC holds for a stream's queued frames of bytes
// bytes in all; -1 when it does not compact them.
func queueBound(bytes uint64) int64 {
	if !compacts {
		return -1
	}
	return uncompactedRun + int64(bytes)*compactedPerByteTimes4/4
}
