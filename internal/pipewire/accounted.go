package pipewire

import (
	"runtime"
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
type Accounted struct {
	Msg     proto.Message
	Account Account
	// Overhead is charged beside the answer's bytes: what its call holds
	// meanwhile (AnswerOverhead when 0).
	Overhead int
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

// minAnswerBuffer is the least capacity an answer is encoded in: above
// gRPC's buffer pooling threshold (1 KiB, which
// mem.IsBelowBufferPoolingThreshold tests), so that the transport tells
// the buffer's pool when it is done with it, and an answer's charge is
// given back.
const minAnswerBuffer = 1<<10 + 1

// answerCharge is one accounted answer's charge, and the pool of its
// buffer: gRPC puts the buffer back once it has written it or dropped it
// with its stream, which gives the charge back. gRPC drops some without
// putting them back (an answer queued just after its client reset the
// stream: a reviewer's cancelling client left 5 MB charged for good), so
// the charge also goes back when the buffer is collected: once only.
type answerCharge struct {
	account  Account
	n        int
	released atomic.Bool
}

func (c *answerCharge) Get(int) *[]byte { panic("pipewire: an answer's pool gives no buffers") }

func (c *answerCharge) Put(*[]byte) { c.release() }

func (c *answerCharge) release() {
	if c.released.CompareAndSwap(false, true) {
		c.account.Release(c.n)
	}
}

// encode encodes the answer into a buffer of its size (gRPC's pool would
// round a 64 KiB answer up to 1 MiB, charged and held), charged until gRPC
// lets go of it.
func (m *Accounted) encode() (mem.BufferSlice, error) {
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(make([]byte, 0, max(proto.Size(m.Msg), minAnswerBuffer)), m.Msg)
	if err != nil {
		return nil, err
	}
	if cap(out) < minAnswerBuffer {
		return mem.BufferSlice{mem.SliceBuffer(out)}, nil // the message changed while encoded: not accounted
	}
	overhead := m.Overhead
	if overhead == 0 {
		overhead = AnswerOverhead
	}
	charge := &answerCharge{account: m.Account, n: cap(out) + overhead}
	m.Account.Charge(charge.n)
	buf := &out
	runtime.AddCleanup(buf, (*answerCharge).release, charge)
	return mem.BufferSlice{mem.NewBuffer(buf, charge)}, nil
}
