package engine

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestNowaitRecvSelectThenRecv(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, sv := pair(t, e, c, unix.AF_INET)

	r := sv.Recv(bg, c, 0, 0, withHandle(42))
	if r.Select == nil || r.Select.Handle != 42 || r.Select.Op != OpRecv || r.Err != nil {
		t.Fatalf("recv: %+v", r)
	}
	if got := sv.Info().RStates; len(got) != 1 || got[0] != "selected" {
		t.Fatalf("rstates while waiting: %v", got)
	}
	mustSend(t, cl, c, "hello")
	ev := c.expect(t, EventSelect, 42)
	if ev.Socket != sv || ev.Op != OpRecv {
		t.Fatalf("event %+v", ev)
	}
	if r := sv.Recv(bg, c, 0, 0, nowait); r.Err != nil || string(r.Data) != "hello" {
		t.Fatalf("retry: %+v", r)
	}
	if n := sv.Info().NumReaders; n != 0 {
		t.Fatalf("reader lane not released: %d", n)
	}
	// The side has been used in select: the NIF's flag stays until close.
	if got := sv.Info().RStates; len(got) != 1 || got[0] != "selected" {
		t.Fatalf("rstates after the select: %v", got)
	}
	c.expectNone(t)
}

func TestEngineChoosesHandles(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	_, a := pair(t, e, c, unix.AF_INET)
	_, b := pair(t, e, c, unix.AF_INET)
	ra, rb := a.Recv(bg, c, 0, 0, nowait), b.Recv(bg, c, 0, 0, nowait)
	if ra.Select.Handle == 0 || ra.Select.Handle == rb.Select.Handle {
		t.Fatalf("handles %d and %d", ra.Select.Handle, rb.Select.Handle)
	}
}

// Rule 3 and 5: a second caller is queued without a syscall and answered
// select at once; only the current requestor is told when data comes; when
// it is done the queued one becomes current and, the socket not being known
// empty, is told at once.
func TestQueuedReader(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, sv := pair(t, e, a, unix.AF_INET)

	ra := sv.Recv(bg, a, 0, 0, withHandle(1))
	tries := sv.Info().Counters.ReadTries
	rb := sv.Recv(bg, b, 0, 0, withHandle(2))
	if ra.Select == nil || rb.Select == nil || rb.Select.Handle != 2 {
		t.Fatalf("recv: %+v %+v", ra, rb)
	}
	info := sv.Info()
	if info.Counters.ReadTries != tries {
		t.Fatal("a queued reader made a syscall")
	}
	if info.NumReaders != 2 {
		t.Fatalf("num_readers %d", info.NumReaders)
	}
	// Rule 4: calling again while queued, whatever the timeout; nothing
	// joins the queue.
	wantInvalid(t, sv.Recv(bg, b, 0, 0, nowait).Err, "state")
	wantInvalid(t, sv.Recv(bg, b, 0, 0, within(time.Second)).Err, "state")
	wantInvalid(t, sv.Recv(bg, b, 0, 0, within(0)).Err, "state")
	if n := sv.Info().NumReaders; n != 2 {
		t.Fatalf("num_readers %d after rule 4", n)
	}

	mustSend(t, cl, a, "x")
	a.expect(t, EventSelect, 1)
	b.expectNone(t)
	if r := sv.Recv(bg, a, 0, 0, nowait); string(r.Data) != "x" {
		t.Fatalf("a: %+v", r)
	}
	// a's read was short and took everything: b, current now, is armed as
	// Erlang arms its select, and told only when there is data (no select
	// to find nothing).
	b.expectNone(t)
	mustSend(t, cl, a, "y")
	b.expect(t, EventSelect, 2)
	if r := sv.Recv(bg, b, 0, 0, nowait); string(r.Data) != "y" {
		t.Fatalf("b: %+v", r)
	}
	a.expectNone(t)
}

// Rule 2: the current requestor calling again replaces its select.
func TestCurrentReplacesItsSelect(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, sv := pair(t, e, c, unix.AF_INET)
	sv.Recv(bg, c, 0, 0, withHandle(1))
	if r := sv.Recv(bg, c, 0, 0, withHandle(2)); r.Select == nil || r.Select.Handle != 2 {
		t.Fatalf("second recv: %+v", r)
	}
	if n := sv.Info().NumReaders; n != 1 {
		t.Fatalf("num_readers %d", n)
	}
	mustSend(t, cl, c, "x")
	c.expect(t, EventSelect, 2)
	c.expectNone(t)
}

// OTP-18635: a nowait accept replaced by the same caller's accept gets
// abort cancelled, and no stray select follows.
func TestAcceptReplacedGetsCancelled(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, sa := listen(t, e, c, unix.AF_INET)
	defer ln.Close()

	if r := ln.Accept(bg, c, withHandle(1)); r.Select == nil {
		t.Fatalf("accept: %+v", r)
	}
	if r := ln.Accept(bg, c, withHandle(2)); r.Select == nil || r.Select.Handle != 2 {
		t.Fatalf("accept: %+v", r)
	}
	wantErr(t, c.expectAbort(t, 1), ErrCancelled)

	r := ln.Accept(bg, c, within(50*time.Millisecond))
	wantErr(t, r.Err, ErrTimeout)
	wantErr(t, c.expectAbort(t, 2), ErrCancelled)
	if n := ln.Info().NumAcceptors; n != 0 {
		t.Fatalf("num_acceptors after timeout: %d", n)
	}

	cl := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer cl.Close()
	if r := cl.Connect(bg, c, &sa, infinity); r.Err != nil {
		t.Fatal(r.Err)
	}
	c.expectNone(t)
	ar := ln.Accept(bg, c, poll)
	if ar.Err != nil {
		t.Fatal(ar.Err)
	}
	ar.Socket.Close()
}

func TestLaneConflicts(t *testing.T) {
	e := newEngine(t, Config{})
	c, d := newRecorder("c"), newRecorder("d")
	ln, _ := listen(t, e, c, unix.AF_INET)
	defer ln.Close()
	ln.Accept(bg, c, nowait)
	wantInvalid(t, ln.Recv(bg, d, 0, 0, nowait).Err, "state")

	_, sv := pair(t, e, c, unix.AF_INET)
	sv.Recv(bg, c, 0, 0, nowait)
	wantInvalid(t, sv.Accept(bg, d, nowait).Err, "state")
}

func TestCancel(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, sv := pair(t, e, a, unix.AF_INET)

	ra := sv.Recv(bg, a, 0, 0, withHandle(1))
	rb := sv.Recv(bg, b, 0, 0, withHandle(2))

	// Not found: wrong handle, wrong caller, wrong lane.
	wantInvalid(t, errOf(sv.Cancel(a, SelectInfo{Op: OpRecv, Handle: 99})), "select_info")
	wantInvalid(t, errOf(sv.Cancel(b, *ra.Select)), "select_info")
	wantInvalid(t, errOf(sv.Cancel(a, SelectInfo{Op: OpSend, Handle: 1})), "select_info")

	// Queued.
	if err := errOf(sv.Cancel(b, *rb.Select)); err != nil {
		t.Fatal(err)
	}
	if n := sv.Info().NumReaders; n != 1 {
		t.Fatalf("num_readers %d", n)
	}
	// Current: no event after, and the lane is free.
	if err := errOf(sv.Cancel(a, *ra.Select)); err != nil {
		t.Fatal(err)
	}
	if n := sv.Info().NumReaders; n != 0 {
		t.Fatalf("num_readers %d", n)
	}
	mustSend(t, cl, a, "x")
	a.expectNone(t)
	b.expectNone(t)
	wantInvalid(t, errOf(sv.Cancel(a, *ra.Select)), "select_info")

	// Cancelling after the select arrived is still ok.
	r := cl.Recv(bg, a, 0, 0, withHandle(5))
	mustSend(t, sv, a, "y")
	a.expect(t, EventSelect, 5)
	if err := errOf(cl.Cancel(a, *r.Select)); err != nil {
		t.Fatal(err)
	}

	sv.Close()
	wantErr(t, errOf(sv.Cancel(a, *ra.Select)), ErrClosed)
}

func TestCancelActivatesNext(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, sv := pair(t, e, a, unix.AF_INET)
	ra := sv.Recv(bg, a, 0, 0, withHandle(1))
	sv.Recv(bg, b, 0, 0, withHandle(2))
	if err := errOf(sv.Cancel(a, *ra.Select)); err != nil {
		t.Fatal(err)
	}
	mustSend(t, cl, a, "x")
	b.expect(t, EventSelect, 2)
	a.expectNone(t)
}

// After Cancel returns no event for its handle may be delivered, even when
// the edge races with the cancel.
func TestNoEventAfterCancel(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, sv := pair(t, e, c, unix.AF_INET)
	for i := range 200 {
		h := uint64(1000 + i)
		r := sv.Recv(bg, c, 0, 0, withHandle(h))
		if r.Select == nil {
			// Data from an earlier round was still there.
			continue
		}
		go cl.Send(bg, c, []byte("x"), 0, infinity)
		if i%2 == 1 {
			runtime.Gosched()
		}
		if err := errOf(sv.Cancel(c, *r.Select)); err != nil {
			t.Fatal(err)
		}
		c.markCancelled(h)
	}
	time.Sleep(quietWait)
	if late := c.lateEvents(); len(late) > 0 {
		t.Fatalf("%d events delivered after Cancel returned, first %+v", len(late), late[0])
	}
}

func TestCloseAbortsWaiters(t *testing.T) {
	t.Run("blocking readers", func(t *testing.T) {
		e := newEngine(t, Config{})
		c := newRecorder("c")
		_, sv := pair(t, e, c, unix.AF_INET)
		errs := make(chan error, 3)
		for range 3 {
			go func() { errs <- sv.Recv(bg, newRecorder("r"), 0, 0, infinity).Err }()
		}
		eventually(t, "three readers", func() bool { return sv.Info().NumReaders == 3 })
		if err := sv.Close(); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			wantErr(t, <-errs, ErrClosed)
		}
	})
	t.Run("nowait acceptors", func(t *testing.T) {
		e := newEngine(t, Config{})
		owner := newRecorder("owner")
		ln, _ := listen(t, e, owner, unix.AF_INET)
		var callers []*recorder
		var handles []uint64
		for i := range 3 {
			c := newRecorder("acceptor")
			r := ln.Accept(bg, c, withHandle(uint64(i+1)))
			if r.Select == nil {
				t.Fatalf("accept: %+v", r)
			}
			callers, handles = append(callers, c), append(handles, r.Select.Handle)
		}
		if n := ln.Info().NumAcceptors; n != 3 {
			t.Fatalf("num_acceptors %d", n)
		}
		ln.Close()
		for i, c := range callers {
			wantErr(t, c.expectAbort(t, handles[i]), ErrClosed)
			c.expectNone(t)
		}
	})
}

// A close aborts as the NIF's do_stop does, writers, then the connector,
// then readers, then acceptors: a caller queued in two lanes hears of its
// send before its recv.
func TestCloseAbortsWritersBeforeReaders(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, _ := pair(t, e, a, unix.AF_INET)
	setInt(t, cl, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	if r := cl.Send(bg, a, make([]byte, 1<<20), 0, withHandle(1)); r.Select == nil {
		t.Fatalf("a's send did not wait: %+v", r)
	}
	if r := cl.Recv(bg, a, 0, 0, withHandle(2)); r.Select == nil {
		t.Fatalf("a's recv did not wait: %+v", r)
	}
	if r := cl.Recv(bg, b, 0, 0, withHandle(10)); r.Select == nil {
		t.Fatalf("b's recv not queued: %+v", r)
	}
	if r := cl.Send(bg, b, []byte("x"), 0, withHandle(11)); r.Select == nil {
		t.Fatalf("b's send not queued: %+v", r)
	}
	cl.Close()
	b.expect(t, EventAbort, 11)
	b.expect(t, EventAbort, 10)
	b.expectNone(t)
}

// The NIF's do_stop aborts a current requestor only while its select is
// armed (reference §2.4): one already told to retry hears of the close from
// its retry, and only the queued are aborted.
func TestCloseAfterSelect(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, sv := pair(t, e, a, unix.AF_INET)
	if r := sv.Recv(bg, a, 0, 0, withHandle(1)); r.Select == nil {
		t.Fatalf("recv: %+v", r)
	}
	if r := sv.Recv(bg, b, 0, 0, withHandle(2)); r.Select == nil {
		t.Fatalf("queued recv: %+v", r)
	}
	mustSend(t, cl, a, "x")
	a.expect(t, EventSelect, 1)
	sv.Close()
	wantErr(t, b.expectAbort(t, 2), ErrClosed)
	a.expectNone(t)
	wantErr(t, sv.Recv(bg, a, 0, 0, withHandle(3)).Err, ErrClosed)
	b.expectNone(t)
}

// A peer close ends the current reader with closed and aborts the queued
// ones with closed.
func TestPeerClose(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, sv := pair(t, e, a, unix.AF_INET)

	ra := sv.Recv(bg, a, 0, 0, withHandle(1))
	rb := sv.Recv(bg, b, 0, 0, withHandle(2))
	blocked := make(chan RecvResult)
	go func() { blocked <- sv.Recv(bg, newRecorder("blocking"), 4, 0, infinity) }()
	eventually(t, "three readers", func() bool { return sv.Info().NumReaders == 3 })
	if ra.Select == nil || rb.Select == nil {
		t.Fatal("not waiting")
	}

	cl.Close()
	a.expect(t, EventSelect, 1)
	r := sv.Recv(bg, a, 0, 0, nowait)
	wantErr(t, r.Err, ErrClosed)
	wantErr(t, b.expect(t, EventAbort, 2).Reason, ErrClosed)
	wantErr(t, (<-blocked).Err, ErrClosed)
	if sv.Info().Counters.ReadFails != 1 {
		t.Fatal("peer close not counted as a read failure")
	}
}

func TestDropCaller(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, sv := pair(t, e, a, unix.AF_INET)

	// a blocks as the current reader; b and then a (nowait) queue behind.
	blocked := make(chan error)
	go func() { blocked <- sv.Recv(bg, a, 0, 0, infinity).Err }()
	eventually(t, "a blocking", func() bool { return sv.Info().NumReaders == 1 })
	sv.Recv(bg, b, 0, 0, withHandle(2))
	sv.Recv(bg, a, 0, 0, withHandle(1))
	if n := sv.Info().NumReaders; n != 3 {
		t.Fatalf("num_readers %d", n)
	}

	sv.DropCaller(a)
	wantErr(t, <-blocked, ErrCallerGone)
	if n := sv.Info().NumReaders; n != 1 {
		t.Fatalf("num_readers after drop %d", n)
	}
	sv.Recv(bg, a, 0, 0, withHandle(3)) // queued behind b again

	// Dropping the current nowait reader activates the next.
	sv.DropCaller(b)
	mustSend(t, cl, a, "x")
	a.expect(t, EventSelect, 3)
	a.expectNone(t)
	b.expectNone(t)
}

// AbortCaller answers each of the caller's requests on the socket with an
// abort of the reason given (a blocking call returns it), leaves the
// others' in place, and activates the next requestor.
func TestAbortCaller(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, sv := pair(t, e, a, unix.AF_INET)
	sv.Recv(bg, a, 0, 0, withHandle(1)) // current
	sv.Recv(bg, b, 0, 0, withHandle(2))
	sv.AbortCaller(a, unix.EACCES)
	if ev := a.expect(t, EventAbort, 1); ev.Reason != unix.EACCES {
		t.Fatalf("abort reason %v, want eacces", ev.Reason)
	}
	blocked := make(chan error)
	go func() { blocked <- sv.Recv(bg, a, 0, 0, infinity).Err }() // queued behind b
	eventually(t, "a queued behind b", func() bool { return sv.Info().NumReaders == 2 })
	sv.AbortCaller(a, unix.EACCES)
	wantErr(t, <-blocked, unix.EACCES)
	if n := sv.Info().NumReaders; n != 1 {
		t.Fatalf("num_readers after the aborts %d, want b's alone", n)
	}
	mustSend(t, cl, b, "x")
	b.expect(t, EventSelect, 2)
	a.expectNone(t)
}

// mortal is a recorder that can die (engine.Mortal).
type mortal struct {
	*recorder
	gone chan struct{}
}

func (m mortal) Gone() <-chan struct{} { return m.gone }

// A caller that ends takes its blocking calls with it, current or queued,
// though nobody called DropCaller for them: they return cancelled, leave
// the lane, and the next requestor gets its turn and the data.
func TestMortalCallerTakesItsBlockingCalls(t *testing.T) {
	e := newEngine(t, Config{})
	a := mortal{newRecorder("a"), make(chan struct{})}
	b := newRecorder("b")
	cl, sv := pair(t, e, b, unix.AF_INET)

	results := make(chan error, 2)
	for range 2 { // one current, one queued
		go func() { results <- sv.Recv(bg, a, 0, 0, infinity).Err }()
	}
	eventually(t, "a's two blocking recvs", func() bool { return sv.Info().NumReaders == 2 })
	bDone := make(chan RecvResult, 1)
	go func() { bDone <- sv.Recv(bg, b, 0, 0, within(eventWait)) }()
	eventually(t, "b queued", func() bool { return sv.Info().NumReaders == 3 })

	close(a.gone)
	for range 2 {
		wantErr(t, <-results, ErrCallerGone)
	}
	mustSend(t, cl, b, "for b")
	if r := <-bDone; r.Err != nil || string(r.Data) != "for b" {
		t.Fatalf("b: %q %v", r.Data, r.Err)
	}
	// A call of a caller already gone does not wait at all, and takes
	// nothing: the data stays for the next reader.
	mustSend(t, cl, b, "not a's")
	if r := sv.Recv(bg, a, 0, 0, infinity); !errors.Is(r.Err, ErrCallerGone) || len(r.Data) != 0 {
		t.Fatalf("recv after the end: %q %v", r.Data, r.Err)
	}
	if r := sv.Recv(bg, b, 0, 0, within(eventWait)); string(r.Data) != "not a's" {
		t.Fatalf("the next reader: %q %v", r.Data, r.Err)
	}
	if n := sv.Info().NumReaders; n != 0 {
		t.Fatalf("num_readers %d", n)
	}
}

func TestQueueQuota(t *testing.T) {
	e := newEngine(t, Config{MaxQueuePerLane: 2})
	_, sv := pair(t, e, newRecorder("owner"), unix.AF_INET)
	for i := range 3 { // one current, two queued
		if r := sv.Recv(bg, newRecorder("r"), 0, 0, nowait); r.Select == nil {
			t.Fatalf("recv %d: %+v", i, r)
		}
	}
	var q *QuotaError
	if err := sv.Recv(bg, newRecorder("r"), 0, 0, nowait).Err; !errors.As(err, &q) || q.Resource != "queue" || q.Limit != 2 {
		t.Fatalf("fourth recv: %v", err)
	}
	if err := sv.Recv(bg, newRecorder("r"), 0, 0, within(time.Second)).Err; !errors.As(err, &q) {
		t.Fatalf("blocking recv past the bound: %v", err)
	}
}

// Two blocking calls of one caller queue behind each other, like two
// Erlang processes; both complete.
func TestBlockingCallsQueue(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, sv := pair(t, e, c, unix.AF_INET)
	results := make(chan RecvResult, 2)
	for range 2 {
		go func() { results <- sv.Recv(bg, c, 3, 0, infinity) }()
	}
	eventually(t, "two readers", func() bool { return sv.Info().NumReaders == 2 })
	mustSend(t, cl, c, "abcdef")
	got := map[string]bool{}
	for range 2 {
		r := <-results
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		got[string(r.Data)] = true
	}
	if !got["abc"] || !got["def"] {
		t.Fatalf("got %v", got)
	}
}

func TestContextCancelEndsWait(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, sv := pair(t, e, c, unix.AF_INET)
	mustSend(t, cl, c, "ab")
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	r := sv.Recv(ctx, c, 5, 0, infinity)
	wantErr(t, r.Err, context.DeadlineExceeded)
	if string(r.Data) != "ab" {
		t.Fatalf("partial data lost: %q", r.Data)
	}
	if n := sv.Info().NumReaders; n != 0 {
		t.Fatalf("num_readers %d", n)
	}
}

func TestCompletionMode(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, sv := pair(t, e, c, unix.AF_INET)

	r := sv.Recv(bg, c, 6, 0, completion())
	if r.Select == nil || !r.Select.Completion || r.Data != nil {
		t.Fatalf("recv: %+v", r)
	}
	mustSend(t, cl, c, "abc")
	c.expectNone(t) // 3 of 6 bytes: the engine keeps gathering
	mustSend(t, cl, c, "def")
	ev := c.expect(t, EventCompletion, r.Select.Handle)
	if ev.Completion.Recv == nil || string(ev.Completion.Recv.Data) != "abcdef" || ev.Completion.Recv.Err != nil {
		t.Fatalf("completion %+v", ev.Completion.Recv)
	}
	if n := sv.Info().NumReaders; n != 0 {
		t.Fatalf("num_readers %d", n)
	}

	ln, sa := listen(t, e, c, unix.AF_INET)
	defer ln.Close()
	ar := ln.Accept(bg, c, completion())
	if ar.Select == nil {
		t.Fatalf("accept: %+v", ar)
	}
	other := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer other.Close()
	other.Connect(bg, c, &sa, infinity)
	ev = c.expect(t, EventCompletion, ar.Select.Handle)
	if ev.Completion.Accept == nil || ev.Completion.Accept.Socket == nil {
		t.Fatalf("accept completion %+v", ev.Completion)
	}
	ev.Completion.Accept.Socket.Close()

	late := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer late.Close()
	if r := late.Connect(bg, c, &sa, completion()); r.Select != nil {
		ev := c.expect(t, EventCompletion, r.Select.Handle)
		if ev.Completion.Connect == nil || ev.Completion.Connect.Err != nil {
			t.Fatalf("connect completion %+v", ev.Completion)
		}
	} else if r.Err != nil {
		t.Fatal(r.Err)
	}
}

// A pending nowait operation costs no goroutine.
func TestNowaitCostsNoGoroutine(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	var socks []*Socket
	for range 50 {
		_, sv := pair(t, e, c, unix.AF_INET)
		socks = append(socks, sv)
	}
	before := runtime.NumGoroutine()
	for _, s := range socks {
		if r := s.Recv(bg, c, 0, 0, nowait); r.Select == nil {
			t.Fatalf("recv: %+v", r)
		}
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Fatalf("goroutines %d -> %d with %d pending recvs", before, after, len(socks))
	}
}

// Re-issuing accept with the same handle keeps that handle valid: no abort.
func TestAcceptReissuedWithSameHandle(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, sa := listen(t, e, c, unix.AF_INET)
	defer ln.Close()
	ln.Accept(bg, c, withHandle(5))
	if r := ln.Accept(bg, c, withHandle(5)); r.Select == nil || r.Select.Handle != 5 {
		t.Fatalf("accept: %+v", r)
	}
	cl := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer cl.Close()
	cl.Connect(bg, c, &sa, infinity)
	for {
		c.expect(t, EventSelect, 5) // possibly a spurious one first
		if r := ln.Accept(bg, c, withHandle(5)); r.Socket != nil {
			r.Socket.Close()
			break
		}
	}
	c.expectNone(t)
}

// Closing sockets while the engine closes must neither race nor touch a
// closed epoll descriptor.
func TestEngineCloseRacesSocketClose(t *testing.T) {
	for range 20 {
		e, err := New(Config{Loops: 2})
		if err != nil {
			t.Fatal(err)
		}
		c := newRecorder("c")
		var socks []*Socket
		for range 20 {
			socks = append(socks, mustOpen(t, e, c, unix.AF_INET, unix.SOCK_DGRAM))
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, s := range socks {
				s.Close()
			}
		}()
		e.Close()
		<-done
		if e.NumOpen() != 0 {
			t.Fatalf("%d sockets open after close", e.NumOpen())
		}
	}
}

// A completed accept whose event is withheld, because its caller was dropped
// (or the handle cancelled) while the event was on its way, must not leave
// the accepted connection open with nobody knowing its id.
func TestWithheldAcceptCompletionClosesSocket(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, _ := listen(t, e, c, unix.AF_INET)
	child := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	_, out := acceptOnItsWay(ln, c, child)
	ln.DropCaller(c) // retires w, found on ln.rd.retiring
	out.flush(ln)

	c.expectNone(t)
	if !child.Closed() {
		t.Fatal("accepted socket of a withheld completion is still open")
	}
	if _, ok := e.Lookup(child.ID()); ok {
		t.Fatal("accepted socket of a withheld completion kept as a tombstone")
	}
}

// A socket that cannot be registered with epoll (here: its fd is already in
// the loop's set, so EPOLL_CTL_ADD answers EEXIST) can never be woken: a
// call that would wait is answered with the error at once, and the lane is
// left free, instead of waiting for an edge that will not come.
func TestUnwatchableSocketAnswersInsteadOfWaiting(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("owner")
	_, s := pair(t, e, c, unix.AF_INET)
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	if err := unix.EpollCtl(s.loop.epfd, unix.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		t.Fatal(err)
	}
	if r := s.Recv(bg, c, 10, 0, completion()); !errors.Is(r.Err, unix.EEXIST) || r.Select != nil {
		t.Fatalf("nowait recv: %+v, want EEXIST and no select", r)
	}
	start := time.Now()
	if r := s.Recv(bg, c, 10, 0, within(10*time.Second)); !errors.Is(r.Err, unix.EEXIST) {
		t.Fatalf("blocking recv: %+v, want EEXIST", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("blocking recv took %v", d)
	}
	if n := s.Info().NumReaders; n != 0 {
		t.Fatalf("%d readers left in the lane", n)
	}
	c.expectNone(t)
}
