package engine

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A completion-mode recv that has gathered part of its length and is then
// cut short (cancelled, replaced by its caller's next call, or closed)
// answers with the bytes it gathered: they have left the socket, and
// nothing else would tell the caller.
func TestCompletionRecvCutShortKeepsItsBytes(t *testing.T) {
	e := newEngine(t, Config{})

	t.Run("cancel", func(t *testing.T) {
		c := newRecorder("c")
		cl, sv := pair(t, e, c, unix.AF_INET)
		r := sv.Recv(bg, c, 10, 0, completion())
		mustSend(t, cl, c, "hello")
		eventually(t, "the bytes gathered", func() bool { return sv.Info().Counters.ReadByte == 5 })
		done, err := sv.Cancel(c, *r.Select)
		if err != nil {
			t.Fatal(err)
		}
		if done == nil || done.Recv == nil || string(done.Recv.Data) != "hello" || done.Recv.Err != ErrCancelled {
			t.Fatalf("cancel answered %+v", done)
		}
		c.expectNone(t)
	})

	t.Run("replaced", func(t *testing.T) {
		c := newRecorder("c")
		cl, sv := pair(t, e, c, unix.AF_INET)
		r := sv.Recv(bg, c, 10, 0, completion())
		mustSend(t, cl, c, "hello")
		eventually(t, "the bytes gathered", func() bool { return sv.Info().Counters.ReadByte == 5 })
		again := sv.Recv(bg, c, 10, 0, completion())
		ev := c.expect(t, EventAbort, r.Select.Handle)
		if ev.Reason != ErrCancelled || ev.Completion == nil || string(ev.Completion.Recv.Data) != "hello" {
			t.Fatalf("replaced recv's abort: %v %+v", ev.Reason, ev.Completion)
		}
		mustSend(t, cl, c, "0123456789")
		ev = c.expect(t, EventCompletion, again.Select.Handle)
		if string(ev.Completion.Recv.Data) != "0123456789" {
			t.Fatalf("the next recv got %q", ev.Completion.Recv.Data)
		}
	})

	t.Run("closed", func(t *testing.T) {
		c := newRecorder("c")
		cl, sv := pair(t, e, c, unix.AF_INET)
		r := sv.Recv(bg, c, 10, 0, completion())
		mustSend(t, cl, c, "hello")
		eventually(t, "the bytes gathered", func() bool { return sv.Info().Counters.ReadByte == 5 })
		sv.Close()
		ev := c.expect(t, EventAbort, r.Select.Handle)
		if ev.Reason != ErrClosed || ev.Completion == nil || string(ev.Completion.Recv.Data) != "hello" {
			t.Fatalf("closed recv's abort: %v %+v", ev.Reason, ev.Completion)
		}
	})

	t.Run("nothing gathered", func(t *testing.T) {
		c := newRecorder("c")
		_, sv := pair(t, e, c, unix.AF_INET)
		r := sv.Recv(bg, c, 10, 0, completion())
		if done, err := sv.Cancel(c, *r.Select); err != nil || done != nil {
			t.Fatalf("cancel of a recv that had nothing: %+v %v", done, err)
		}
	})
}

// A completion-mode send cancelled after part of its data went out says how
// much: the stream's position is otherwise unknown.
func TestCompletionSendCancelledSaysWhatWentOut(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, _ := pair(t, e, c, unix.AF_INET)
	if err := cl.Control(func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096) }); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 8<<20)
	r := cl.Send(bg, c, data, 0, completion())
	if r.Select == nil {
		t.Fatalf("an 8 MiB send to a peer that does not read finished: %+v", r)
	}
	done, err := cl.Cancel(c, *r.Select)
	if err != nil {
		t.Fatal(err)
	}
	if done == nil || done.Send == nil || done.Send.Sent == 0 || done.Send.Sent+done.Send.Unsent != len(data) || done.Send.Err != ErrCancelled {
		t.Fatalf("cancel answered %+v", done)
	}
	if got := cl.Info().Counters.WriteByte; got != uint64(done.Send.Sent) {
		t.Fatalf("write_byte %d, cancel says %d sent", got, done.Send.Sent)
	}
	c.expectNone(t)
}

// Cancel racing the completion it cancels: the loop has finished the
// accept and its event is on its way. The cancel is too late (invalid), and
// takes the completion instead of the event: the accepted socket is the
// caller's, open, and no event follows.
func TestCancelTakesACompletionOnItsWay(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, _ := listen(t, e, c, unix.AF_INET)
	child := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer child.Close()
	w := ln.newWaiter(c, OpAccept, completion(), nil)

	var out outbox
	ln.rd.mu.Lock()
	out.finalEvent(&ln.rd, w, Event{Kind: EventCompletion, Socket: ln, Handle: w.handle, Op: OpAccept,
		Completion: &Completion{Accept: &AcceptResult{Socket: child}}})
	ln.rd.mu.Unlock()
	done, err := ln.Cancel(c, *w.selectInfo())
	out.flush(ln)

	wantInvalid(t, err, "select_info")
	if done == nil || done.Accept == nil || done.Accept.Socket != child {
		t.Fatalf("cancel answered %+v", done)
	}
	c.expectNone(t)
	if child.Closed() {
		t.Fatal("the accepted socket the cancel took was closed")
	}
}

// A completion on its way that a dying caller's DropCaller withdrew first is
// not the cancel's to answer: the cancel answers nothing, and the accepted
// socket, nobody's, is closed rather than left open.
func TestCancelAfterDropDoesNotClaim(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, _ := listen(t, e, c, unix.AF_INET)
	child := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	w := ln.newWaiter(c, OpAccept, completion(), nil)

	var out outbox
	ln.rd.mu.Lock()
	out.finalEvent(&ln.rd, w, Event{Kind: EventCompletion, Socket: ln, Handle: w.handle, Op: OpAccept,
		Completion: &Completion{Accept: &AcceptResult{Socket: child}}})
	ln.rd.mu.Unlock()
	ln.DropCaller(c)
	done, err := ln.Cancel(c, *w.selectInfo())
	out.flush(ln)

	wantInvalid(t, err, "select_info")
	if done != nil {
		t.Fatalf("cancel answered %+v for a completion the drop withdrew", done)
	}
	if !child.Closed() {
		t.Fatal("the accepted socket nobody has is still open")
	}
}

// Cancel and the delivery of the completion it races: exactly one of them
// hands the accepted socket on, and it is never also discarded.
func TestCancelRacesDelivery(t *testing.T) {
	e := newEngine(t, Config{})
	for range 200 {
		c := newRecorder("c")
		ln, _ := listen(t, e, c, unix.AF_INET)
		child := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
		w := ln.newWaiter(c, OpAccept, completion(), nil)
		var out outbox
		ln.rd.mu.Lock()
		out.finalEvent(&ln.rd, w, Event{Kind: EventCompletion, Socket: ln, Handle: w.handle, Op: OpAccept,
			Completion: &Completion{Accept: &AcceptResult{Socket: child}}})
		ln.rd.mu.Unlock()
		flushed := make(chan struct{})
		go func() { out.flush(ln); close(flushed) }()
		done, _ := ln.Cancel(c, *w.selectInfo())
		<-flushed
		delivered := len(c.events) == 1
		if claimed := done != nil; claimed == delivered {
			t.Fatalf("claimed by the cancel %v, delivered %v: want exactly one", claimed, delivered)
		}
		if child.Closed() {
			t.Fatal("the accepted socket was discarded though someone has it")
		}
		child.Close()
		ln.Close()
	}
}

// A result on its way is claimed only by a cancel of its own lane, and the
// cancel says which operation it answers (a recvfrom cancelled as a recv).
func TestCancelClaimsOnlyItsLane(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	rx, _, _, _ := udpPair(t, e, c, unix.AF_INET)
	w := rx.newWaiter(c, OpRecvFrom, completion(), newRecvJob(rx, OpRecvFrom, 0, 0, 0))
	var out outbox
	rx.rd.mu.Lock()
	out.finalEvent(&rx.rd, w, Event{Kind: EventCompletion, Socket: rx, Handle: w.handle, Op: OpRecvFrom,
		Completion: &Completion{Recv: &RecvResult{Data: []byte("dgram")}}})
	rx.rd.mu.Unlock()

	done, err := rx.Cancel(c, SelectInfo{Op: OpAccept, Handle: w.handle, Completion: true})
	wantInvalid(t, err, "select_info")
	if done != nil {
		t.Fatalf("a cancel of the accept lane claimed a recvfrom's result: %+v", done)
	}
	done, err = rx.Cancel(c, SelectInfo{Op: OpRecv, Handle: w.handle, Completion: true})
	wantInvalid(t, err, "select_info")
	if done == nil || done.Op != OpRecvFrom || string(done.Recv.Data) != "dgram" {
		t.Fatalf("the read lane's cancel answered %+v", done)
	}
	out.flush(rx)
	c.expectNone(t)
}
