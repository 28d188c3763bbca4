package pipewire

import (
	"sync"

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

// smallAnswer is the size of the buffers small answers are encoded in:
// above gRPC's buffer pooling threshold (1 KiB, which
// mem.IsBelowBufferPoolingThreshold tests), so that the transport tells the
// buffer's pool when it is done with it, and an answer's charge is given
// back.
const smallAnswer = 1<<10 + 256

var smallAnswers = sync.Pool{New: func() any { b := make([]byte, smallAnswer); return &b }}

// answerBuffer is the pool of one accounted answer's buffer: gRPC puts the
// buffer back once it is done with it, which releases the charge.
type answerBuffer struct {
	account Account
	charged int
}

func (a *answerBuffer) Get(int) *[]byte { panic("pipewire: an answer's pool gives no buffers") }

func (a *answerBuffer) Put(b *[]byte) {
	a.account.Release(a.charged)
	if cap(*b) == smallAnswer {
		smallAnswers.Put(b)
	} else {
		mem.DefaultBufferPool().Put(b)
	}
}

func (m *Accounted) encode() (mem.BufferSlice, error) {
	size := proto.Size(m.Msg)
	var b *[]byte
	if size <= smallAnswer {
		b = smallAnswers.Get().(*[]byte)
	} else {
		b = mem.DefaultBufferPool().Get(size)
	}
	out, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend((*b)[:0], m.Msg)
	if err != nil || cap(out) != cap(*b) {
		(&answerBuffer{account: nopAccount{}}).Put(b)
		if err == nil {
			return mem.BufferSlice{mem.SliceBuffer(out)}, nil // the message changed while encoded: not accounted
		}
		return nil, err
	}
	*b = out
	pool := &answerBuffer{account: m.Account, charged: cap(out) + AnswerOverhead}
	m.Account.Charge(pool.charged)
	return mem.BufferSlice{mem.NewBuffer(b, pool)}, nil
}

type nopAccount struct{}

func (nopAccount) Charge(int)  {}
func (nopAccount) Release(int) {}
