package engine

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestCountersMove(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, sa := listen(t, e, c, unix.AF_INET)
	defer ln.Close()
	ln.Accept(bg, c, nowait) // one wait
	cl := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer cl.Close()
	cl.Connect(bg, c, &sa, infinity)
	c.expect(t, EventSelect, ln.acceptorsHandle(t))
	ar := ln.Accept(bg, c, nowait)
	sv := ar.Socket
	defer sv.Close()

	lc := ln.Info().Counters
	if lc.AccSuccess != 1 || lc.AccTries != 2 || lc.AccWaits != 1 || lc.AccFails != 0 {
		t.Fatalf("accept counters %+v", lc)
	}

	sv.Recv(bg, c, 0, 0, nowait)
	mustSend(t, cl, c, "hello")
	mustSend(t, cl, c, "!")
	r := sv.Recv(bg, c, 6, 0, infinity)
	if string(r.Data) != "hello!" {
		t.Fatalf("recv %+v", r)
	}
	got := sv.Info().Counters
	if got.ReadByte != 6 || got.ReadPkg != 1 || got.ReadPkgMax != 6 || got.ReadWaits < 1 || got.ReadTries < 2 || got.ReadFails != 0 {
		t.Fatalf("read counters %+v", got)
	}
	w := cl.Info().Counters
	if w.WriteByte != 6 || w.WritePkg != 2 || w.WritePkgMax != 5 || w.WriteTries != 2 {
		t.Fatalf("write counters %+v", w)
	}
}

// A queued reader whose turn comes is armed without a try, and counts no
// wait (Erlang's esock_activate_next_reader counts nothing): a's try finds
// nothing and waits, b queues, a's second try reads, b's turn comes. One
// wait, two tries; likewise for acceptors.
func TestTurnCountsNoWait(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	x, y := pair(t, e, a, unix.AF_INET)
	first := x.Recv(bg, a, 0, 0, nowait)
	x.Recv(bg, b, 0, 0, nowait) // queued: answered select, no try
	mustSend(t, y, a, "hello")
	a.expect(t, EventSelect, first.Select.Handle)
	if r := x.Recv(bg, a, 0, 0, nowait); string(r.Data) != "hello" {
		t.Fatalf("a's second recv %+v", r)
	}
	if got := x.Info().Counters; got.ReadWaits != 1 || got.ReadTries != 2 {
		t.Fatalf("read_waits %d, read_tries %d; want 1 and 2", got.ReadWaits, got.ReadTries)
	}

	ln, sa := listen(t, e, a, unix.AF_INET)
	defer ln.Close()
	ln.Accept(bg, a, nowait)
	ln.Accept(bg, b, nowait)
	cl := mustOpen(t, e, a, unix.AF_INET, unix.SOCK_STREAM)
	defer cl.Close()
	cl.Connect(bg, a, &sa, infinity)
	a.expect(t, EventSelect, ln.acceptorsHandle(t))
	sv := ln.Accept(bg, a, nowait).Socket
	if sv == nil {
		t.Fatal("a's second accept took nothing")
	}
	defer sv.Close()
	if got := ln.Info().Counters; got.AccWaits != 1 || got.AccTries != 2 {
		t.Fatalf("acc_waits %d, acc_tries %d; want 1 and 2", got.AccWaits, got.AccTries)
	}
}

// acceptorsHandle is the current acceptor's handle (test helper).
func (s *Socket) acceptorsHandle(t *testing.T) uint64 {
	s.rd.mu.Lock()
	defer s.rd.mu.Unlock()
	if s.acceptors.current == nil {
		t.Fatal("no current acceptor")
	}
	return s.acceptors.current.handle
}

// With 16-bit counters, 70000 bytes wrap read_byte and write_byte, and the
// owners hear of it when iow is on.
func TestCounterWrap(t *testing.T) {
	e := newEngine(t, Config{CounterBits: 16})
	if e.CounterBits() != 16 {
		t.Fatal(e.CounterBits())
	}
	owner := newRecorder("owner")
	cl, sv := pair(t, e, owner, unix.AF_INET)
	cl.SetIOW(true)
	sv.SetIOW(true)
	const n = 70000
	got := drain(sv, owner, n)
	if r := cl.Send(bg, owner, make([]byte, n), 0, infinity); r.Err != nil {
		t.Fatal(r.Err)
	}
	if all := <-got; len(all) != n {
		t.Fatalf("received %d", len(all))
	}
	wraps := map[string]*Socket{}
	for range 2 {
		ev := owner.expect(t, EventCounterWrap, 0)
		wraps[ev.Counter] = ev.Socket
	}
	if wraps["write_byte"] != cl || wraps["read_byte"] != sv {
		t.Fatalf("wrap events %v", wraps)
	}
	if b := cl.Info().Counters.WriteByte; b != n-1<<16 {
		t.Fatalf("write_byte %d after wrap", b)
	}
	if m := sv.Info().Counters.ReadPkgMax; m > 1<<16-1 {
		t.Fatalf("read_pkg_max %d exceeds the width", m)
	}
}

func TestCounterWidthValidated(t *testing.T) {
	for _, bits := range []int{8, 65} {
		if _, err := New(Config{CounterBits: bits}); err == nil {
			t.Fatalf("CounterBits %d accepted", bits)
		}
	}
}

// A timeout of 0 polls a read without a select, but anything else arms one
// and cancels it at once in Erlang (reference §1.1): accept and send count
// a wait, recv does not.
func TestPollCountsWaitsExceptReads(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, _ := listen(t, e, c, unix.AF_INET)
	defer ln.Close()
	wantErr(t, ln.Accept(bg, c, within(0)).Err, ErrTimeout)
	if got := ln.Info().Counters; got.AccTries != 1 || got.AccWaits != 1 {
		t.Fatalf("accept poll counters %+v", got)
	}

	cl, sv := pair(t, e, c, unix.AF_INET)
	wantErr(t, sv.Recv(bg, c, 0, 0, within(0)).Err, ErrTimeout)
	if got := sv.Info().Counters; got.ReadWaits != 0 {
		t.Fatalf("recv poll counted a wait: %+v", got)
	}
	setInt(t, cl, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	big := make([]byte, 8<<20) // more than the peer's receive and this send buffer hold
	r := cl.Send(bg, c, big, 0, within(0))
	wantErr(t, r.Err, ErrTimeout)
	if r.Sent == 0 || r.Sent == len(big) {
		t.Fatalf("send poll sent %d of %d", r.Sent, len(big))
	}
	if got := cl.Info().Counters; got.WriteWaits != 1 {
		t.Fatalf("send poll counters %+v", got)
	}
}
