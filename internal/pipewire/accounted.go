package pipewire

import (
	"bytes"
	"runtime"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Accounted is an answer whose encoded bytes stay on an Account for as long
// as gRPC holds them: from its encoding until the transport has written
// them to the client, or dropped them with their stream. gRPC holds a
// unary call's answer past the call's end, once its handler has returned,
// until the client's flow-control window lets it out: a client that gives
// no window makes the daemon hold every answer it asks for.
//
// An Accounted is the pool of its encoding's buffer: gRPC puts the buffer
// back once it is done with it, which gives the charge back. gRPC drops
// some without putting them back: an answer queued just after its client
// reset the stream (grpc-go's loopyWriter.preprocessData forgets a frame
// of a stream it has cleaned up). So the charge also goes back when the
// Accounted is collected, once only, by a cleanup that the Put stops
// (300 ns an answer, BenchmarkAnswer). A reviewer's cancelling client left
// 5 MB charged until its connection closed, and with a charge kept for
// each drop, about 1 in 60 cancelled calls, a client that cancels calls
// found its principal refused once enough had piled up.
type Accounted struct {
	Msg     proto.Message
	Account Account
	// Overhead is charged beside the answer's bytes: what its call holds
	// meanwhile (AnswerOverhead when 0).
	Overhead int

	charge  *charge // once encoded
	cleanup runtime.Cleanup
}

// charge is what an encoded answer holds on its Account, given back once:
// by the transport's Put, or by the cleanup of an Accounted the transport
// dropped without putting its buffer back. Apart from the Accounted, which
// the cleanup must not keep reachable.
type charge struct {
	account  Account
	n        int
	released atomic.Bool
}

func (c *charge) release() {
	if c.released.CompareAndSwap(false, true) {
		c.account.Release(c.n)
	}
}

// An Account counts what gRPC holds of accounted answers. Charge comes when
// an answer is encoded, Release with the same n when gRPC lets go of it.
// Either may come on any goroutine.
type Account interface {
	Charge(n int)
	Release(n int)
}

// AnswerOverhead is what an answer costs gRPC beside its bytes while it
// waits: its stream and the frames queued for it.
const AnswerOverhead = 2 << 10

// pooledAnswers are the capacities of the pooled buffers answers of up to
// 16 KiB are encoded in: powers of two with room for the answer's fields
// beside its data (a 4096-byte Recv's answer is 4099 bytes), the smallest
// above gRPC's buffer pooling threshold (1 KiB, which
// mem.IsBelowBufferPoolingThreshold tests), so that the transport tells
// the buffer's pool when it is done with it. A buffer of its own, with the
// cleanup it then had, cost a 4 KiB answer 2.4 µs more than gRPC's pooled
// ones (BenchmarkAnswer), most of it the buffer's allocation and clearing.
// Larger answers get buffers of their size (gRPC's pool would round a
// 64 KiB answer up to 1 MiB, charged and held), whose copy costs more.
var pooledAnswers = [...]int{1<<10 + 256, 2<<10 + 256, 4<<10 + 256, 8<<10 + 256, 16<<10 + 256}

var answerPools [len(pooledAnswers)]sync.Pool

func init() {
	for i, size := range pooledAnswers {
		answerPools[i].New = func() any { b := make([]byte, 0, size); return &b }
	}
}

// answerPool returns the pool of buffers of capacity size, or the one an
// answer of size bytes is encoded in; nil if none is.
func answerPool(size int, exact bool) *sync.Pool {
	for i, c := range pooledAnswers {
		if c == size || !exact && size <= c {
			return &answerPools[i]
		}
	}
	return nil
}

// Get implements mem.BufferPool; gRPC only puts.
func (m *Accounted) Get(int) *[]byte { panic("pipewire: an answer's pool gives no buffers") }

// Put implements mem.BufferPool: gRPC is done with the answer's buffer.
func (m *Accounted) Put(b *[]byte) {
	m.charge.release()
	m.cleanup.Stop()
	if pool := answerPool(cap(*b), true); pool != nil {
		*b = (*b)[:0]
		pool.Put(b)
	}
}

func (m *Accounted) encode() (mem.BufferSlice, error) {
	size := proto.Size(m.Msg)
	pool := answerPool(size, false)
	var b *[]byte
	if pool != nil {
		b = pool.Get().(*[]byte)
	} else {
		buf := make([]byte, 0, size)
		b = &buf
	}
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend((*b)[:0], m.Msg)
	if err != nil || cap(out) != cap(*b) {
		if pool != nil {
			pool.Put(b)
		}
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(out)}, nil // the message changed while encoded: not accounted
	}
	*b = out
	overhead := m.Overhead
	if overhead == 0 {
		overhead = AnswerOverhead
	}
	m.charge = &charge{account: m.Account, n: cap(out) + overhead}
	m.Account.Charge(m.charge.n)
	// Encoded: the message may go (a 16 MiB answer's data was kept three
	// GCs by its cleanup: a reviewer).
	m.Msg = nil
	m.cleanup = runtime.AddCleanup(m, (*charge).release, m.charge)
	return mem.BufferSlice{mem.NewBuffer(b, m)}, nil
}

// Charged returns pool, as the pool of a buffer of an answer that is
// already encoded (a Pipe's data), with n bytes on account from now until
// gRPC puts the buffer back, or drops it (the cleanup, as for Accounted).
func Charged(pool mem.BufferPool, account Account, n int) mem.BufferPool {
	c := &chargedPool{pool: pool, charge: &charge{account: account, n: n}}
	account.Charge(n)
	c.cleanup = runtime.AddCleanup(c, (*charge).release, c.charge)
	return c
}

// chargedPool is the pool of one charged buffer.
type chargedPool struct {
	pool    mem.BufferPool
	charge  *charge
	cleanup runtime.Cleanup
}

// Get implements mem.BufferPool.
func (c *chargedPool) Get(n int) *[]byte { return c.pool.Get(n) }

// Put implements mem.BufferPool: gRPC is done with the buffer.
func (c *chargedPool) Put(b *[]byte) {
	c.charge.release()
	c.cleanup.Stop()
	c.pool.Put(b)
}

// CopyToAnswerBuffer copies data (at most 16 KiB) into a pooled buffer of
// its size class, the ones Accounted encodes answers in, and returns it
// with the pool that takes it back: for a read much smaller than the
// buffer it was read into, which gRPC would otherwise hold whole.
func CopyToAnswerBuffer(data []byte) (*[]byte, mem.BufferPool) {
	pool := answerPool(len(data), false)
	if pool == nil {
		b := bytes.Clone(data)
		return &b, answerBuffers{}
	}
	b := pool.Get().(*[]byte)
	*b = append((*b)[:0], data...)
	return b, answerBuffers{}
}

// answerBuffers is the mem.BufferPool of the answer buffers: Put gives a
// buffer back to its size class's pool (one of no class is left to the
// collector).
type answerBuffers struct{}

// Get implements mem.BufferPool; gRPC only puts.
func (answerBuffers) Get(int) *[]byte { panic("pipewire: the answer buffers' pool gives no buffers") }

// Put implements mem.BufferPool.
func (answerBuffers) Put(b *[]byte) {
	if pool := answerPool(cap(*b), true); pool != nil {
		*b = (*b)[:0]
		pool.Put(b)
	}
}
