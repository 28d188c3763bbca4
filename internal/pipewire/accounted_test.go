package pipewire

import (
	"bytes"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"weak"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

type countingAccount struct{ charged, released atomic.Int64 }

func (a *countingAccount) Charge(n int)  { a.charged.Add(int64(n)) }
func (a *countingAccount) Release(n int) { a.released.Add(int64(n)) }

// An accounted answer, small or large, is encoded as protobuf would, is
// charged what its buffer holds once encoded, and released, by as much,
// when the transport frees the buffer: small answers too, whose buffers
// are above gRPC's pooling threshold so that it frees them.
func TestAccountedAnswersAreChargedUntilFreed(t *testing.T) {
	if mem.IsBelowBufferPoolingThreshold(pooledAnswers[0]) {
		t.Fatalf("small answers' %d-byte buffers are below gRPC's pooling threshold: their frees would not be seen", pooledAnswers[0])
	}
	for _, size := range []int{0, 10, pooledAnswers[0], 4096, 16 << 10, 64 << 10, 3 << 20} {
		msg := &sockdv1.RecvResponse{Data: bytes.Repeat([]byte{7}, size)}
		account := new(countingAccount)
		data, err := Codec().Marshal(&Accounted{Msg: msg, Account: account})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := proto.Marshal(msg)
		if !bytes.Equal(data.Materialize(), want) {
			t.Fatalf("%d bytes: encoded differently from protobuf", size)
		}
		// Charged what the buffer holds: the answer's own size, or its
		// pooled buffer's, up to twice as much.
		charged := account.charged.Load()
		if charged < int64(len(want)+AnswerOverhead) || charged > int64(max(2*len(want), pooledAnswers[0])+AnswerOverhead) || account.released.Load() != 0 {
			t.Fatalf("%d bytes: charged %d, released %d before the transport let go", size, charged, account.released.Load())
		}
		data.Ref() // the transport's own reference
		data.Free()
		if account.released.Load() != 0 {
			t.Fatalf("%d bytes: released while the transport holds it", size)
		}
		data.Free()
		if account.released.Load() != charged {
			t.Fatalf("%d bytes: released %d of the %d charged once freed", size, account.released.Load(), charged)
		}
	}
}

// An answer gRPC drops without freeing its buffer (it does, for one queued
// just after its stream was reset) is given back when it is collected, and
// only once: a small one, one in a pooled buffer, a large one.
func TestAnAnswerDroppedUnfreedIsGivenBackOnce(t *testing.T) {
	for _, size := range []int{10, 4096, pooledAnswers[len(pooledAnswers)-1] + 1} {
		account := new(countingAccount)
		if _, err := Codec().Marshal(&Accounted{Msg: &sockdv1.RecvResponse{Data: make([]byte, size)}, Account: account}); err != nil {
			t.Fatal(err)
		} // dropped, not freed
		for i := 0; account.released.Load() == 0 && i < 100; i++ {
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
		if account.released.Load() != account.charged.Load() {
			t.Fatalf("%d bytes: released %d of %d once the dropped answer was collected", size, account.released.Load(), account.charged.Load())
		}

		account = new(countingAccount)
		freed, _ := Codec().Marshal(&Accounted{Msg: &sockdv1.RecvResponse{Data: make([]byte, size)}, Account: account})
		freed.Free()
		for range 10 {
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
		if account.released.Load() != account.charged.Load() {
			t.Fatalf("%d bytes: released %d of %d after a free and a collection", size, account.released.Load(), account.charged.Load())
		}
	}
}

// An encoded answer's message is not kept by its charge: a large answer's
// data is collectable once encoded, not only once its buffer's cleanup
// has run.
func TestAnEncodedAnswersMessageIsNotKept(t *testing.T) {
	msg := &sockdv1.RecvResponse{Data: make([]byte, 1<<20)}
	gone := weak.Make(msg)
	data, err := Codec().Marshal(&Accounted{Msg: msg, Account: new(countingAccount)})
	if err != nil {
		t.Fatal(err)
	}
	msg = nil
	runtime.GC()
	if gone.Value() != nil {
		t.Fatal("the message outlived its encoding's first GC")
	}
	data.Free()
}

// A charged buffer (a Pipe's data) is charged from the start, given back
// once the transport frees it and its buffer goes to its own pool; one the
// transport drops unfreed is given back when collected, once.
func TestAChargedBufferIsGivenBackOnce(t *testing.T) {
	account, pool := new(countingAccount), new(countingPool)
	buf := make([]byte, 4096) // above gRPC's pooling threshold, as a Pipe's chunks are
	data := mem.NewBuffer(&buf, Charged(pool, account, 4096+AnswerOverhead))
	if account.charged.Load() != 4096+AnswerOverhead || account.released.Load() != 0 {
		t.Fatalf("charged %d, released %d before the transport let go", account.charged.Load(), account.released.Load())
	}
	data.Ref()
	data.Free()
	if account.released.Load() != 0 {
		t.Fatal("released while the transport holds it")
	}
	data.Free()
	if account.released.Load() != account.charged.Load() || pool.put.Load() != 1 {
		t.Fatalf("released %d of %d, %d puts, once freed", account.released.Load(), account.charged.Load(), pool.put.Load())
	}
	for range 10 {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if account.released.Load() != account.charged.Load() {
		t.Fatalf("released %d of %d after a free and a collection", account.released.Load(), account.charged.Load())
	}

	account = new(countingAccount)
	func() {
		dropped := make([]byte, 4096)
		mem.NewBuffer(&dropped, Charged(pool, account, 4096))
	}()
	for i := 0; account.released.Load() == 0 && i < 100; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if account.released.Load() != 4096 {
		t.Fatalf("a dropped buffer: released %d of 4096 once collected", account.released.Load())
	}
}

// A small read's copy is in a buffer of its size class, above gRPC's
// pooling threshold (so that gRPC gives it back), and holds the data.
func TestCopyToAnswerBuffer(t *testing.T) {
	for _, n := range []int{1, 100, 1024, 5000, 16 << 10} {
		data := bytes.Repeat([]byte{3}, n)
		b, pool := CopyToAnswerBuffer(data)
		if !bytes.Equal(*b, data) || mem.IsBelowBufferPoolingThreshold(cap(*b)) || cap(*b) > max(2*n, pooledAnswers[0]) {
			t.Fatalf("%d bytes: copied %d bytes into a buffer of %d", n, len(*b), cap(*b))
		}
		pool.Put(b)
	}
}
