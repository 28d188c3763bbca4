package engine

import (
	"bytes"
	"testing"
	"time"

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
	w, out := acceptOnItsWay(ln, c, child)
	done, err := ln.Cancel(c, *w.selectInfo())
	out.flush(ln)

	wantInvalid(t, err, "completion_info")
	if done == nil || done.Accept == nil || done.Accept.Socket != child {
		t.Fatalf("cancel answered %+v", done)
	}
	c.expectNone(t)
	if child.Closed() {
		t.Fatal("the accepted socket the cancel took was closed")
	}
}

// acceptOnItsWay leaves ln as the loop does between finishing c's
// completion-mode accept of child under the side lock and flushing its
// event: the waiter out of its lane, its final event in out.
func acceptOnItsWay(ln *Socket, c Caller, child *Socket) (*waiter, *outbox) {
	w := ln.newWaiter(c, OpAccept, completion(), nil)
	out := new(outbox)
	ln.rd.mu.Lock()
	out.finalEvent(&ln.rd, w, Event{Kind: EventCompletion, Socket: ln, Handle: w.handle, Op: OpAccept,
		Completion: &Completion{Accept: &AcceptResult{Socket: child}}})
	ln.rd.mu.Unlock()
	return w, out
}

// A completion on its way that a dying caller's DropCaller withdrew first is
// not the cancel's to answer: the cancel answers nothing, and the accepted
// socket, nobody's, is closed rather than left open.
func TestCancelAfterDropDoesNotClaim(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, _ := listen(t, e, c, unix.AF_INET)
	child := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	w, out := acceptOnItsWay(ln, c, child)
	ln.DropCaller(c)
	done, err := ln.Cancel(c, *w.selectInfo())
	out.flush(ln)

	wantInvalid(t, err, "completion_info")
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
		w, out := acceptOnItsWay(ln, c, child)
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
	wantInvalid(t, err, "completion_info")
	if done != nil {
		t.Fatalf("a cancel of the accept lane claimed a recvfrom's result: %+v", done)
	}
	done, err = rx.Cancel(c, SelectInfo{Op: OpRecv, Handle: w.handle, Completion: true})
	wantInvalid(t, err, "completion_info")
	if done == nil || done.Op != OpRecvFrom || string(done.Recv.Data) != "dgram" {
		t.Fatalf("the read lane's cancel answered %+v", done)
	}
	out.flush(rx)
	c.expectNone(t)
}

// Nothing is lost or reordered when completion-mode recvs are cancelled at
// random while data arrives: the bytes their completions, aborts and
// cancels answer, then what the socket still holds, are the bytes the peer
// sent, in order.
func TestCancelledCompletionsLoseNothing(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, sv := pair(t, e, c, unix.AF_INET)
	const total = 512 << 10
	sent := make([]byte, total)
	for i := range sent {
		sent[i] = byte(i*131 + i>>9)
	}
	writer := make(chan error, 1)
	go func() {
		w := newRecorder("w")
		// Small chunks with pauses, so that recvs wait and gather part of
		// their length from several.
		for off := 0; off < total; {
			n := min(1+off%2999, total-off)
			if r := cl.Send(bg, w, sent[off:off+n], 0, infinity); r.Err != nil {
				writer <- r.Err
				return
			}
			off += n
			time.Sleep(100 * time.Microsecond)
		}
		writer <- nil
	}()

	var got []byte
	take := func(comp *Completion) {
		if comp != nil && comp.Recv != nil {
			got = append(got, comp.Recv.Data...)
		}
	}
	drainEvents := func() {
		for {
			select {
			case ev := <-c.events:
				take(ev.Completion)
			default:
				return
			}
		}
	}
	partials := 0
	for i := 0; len(got) < total/2 || i < 200; i++ {
		r := sv.Recv(bg, c, 1000+i*7%9000, 0, completion())
		if r.Select == nil {
			got = append(got, r.Data...) // answered at once
			continue
		}
		if i%3 != 0 {
			// Cut short, or raced by its own completion: either the
			// cancel answers what it did, or its event does.
			time.Sleep(time.Duration(i%5) * 100 * time.Microsecond)
			done, _ := sv.Cancel(c, *r.Select)
			if done != nil {
				partials++
			}
			take(done)
			drainEvents()
			continue
		}
		// Left to complete: its event, before the next recv is posted
		// (an event and a call's answer have no order between them).
		select {
		case ev := <-c.events:
			take(ev.Completion)
		case <-time.After(eventWait):
			t.Fatal("no completion")
		}
	}
	if err := <-writer; err != nil {
		t.Fatal(err)
	}
	cl.Shutdown(unix.SHUT_WR)
	drainEvents()
	for {
		r := sv.Recv(bg, c, 0, 0, within(eventWait))
		got = append(got, r.Data...)
		if r.Err != nil {
			break
		}
	}
	drainEvents()
	if partials == 0 {
		t.Error("no cancel found partial work: the test did not exercise it")
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("got %d bytes, sent %d; first difference at %d", len(got), len(sent), firstDifference(got, sent))
	}
}

// What the peer receives is exactly, in order, the part of each send that
// its answer says went out, when completion-mode sends are cancelled at
// random while the peer reads slowly.
func TestCancelledCompletionSendsSayWhatWentOut(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, sv := pair(t, e, c, unix.AF_INET)
	if err := cl.Control(func(fd int) error { return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 8192) }); err != nil {
		t.Fatal(err)
	}
	received := make(chan []byte, 1)
	go func() {
		var all []byte
		r := newRecorder("r")
		for {
			res := sv.Recv(bg, r, 0, 0, within(eventWait))
			all = append(all, res.Data...)
			if res.Err != nil {
				received <- all
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	var want []byte
	sentOf := func(comp *Completion) (int, bool) {
		if comp == nil || comp.Send == nil {
			return 0, false
		}
		return comp.Send.Sent, true
	}
	partials := 0
	for i := range 300 {
		data := bytes.Repeat([]byte{byte(i)}, 1000+i*37%40000)
		r := cl.Send(bg, c, data, 0, completion())
		if r.Select == nil {
			want = append(want, data[:r.Sent]...)
			continue
		}
		time.Sleep(time.Duration(i%4) * 200 * time.Microsecond)
		if i%2 == 0 {
			done, err := cl.Cancel(c, *r.Select)
			if err == nil && done == nil {
				continue // cancelled before any of it went out
			}
			if n, ok := sentOf(done); ok {
				if n > 0 && n < len(data) {
					partials++
				}
				want = append(want, data[:n]...)
				continue
			}
		}
		// Not cancelled, or the cancel was too late: the event answers.
		for answered := false; !answered; {
			select {
			case ev := <-c.events:
				if ev.Handle != r.Select.Handle {
					continue
				}
				n, _ := sentOf(ev.Completion)
				want = append(want, data[:n]...)
				answered = true
			case <-time.After(eventWait):
				t.Fatalf("send %d: no answer", i)
			}
		}
	}
	cl.Shutdown(unix.SHUT_WR)
	got := <-received
	if partials == 0 {
		t.Error("no cancel cut a send short: the test did not exercise it")
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the peer got %d bytes, the answers say %d went out; first difference at %d", len(got), len(want), firstDifference(got, want))
	}
}

// firstDifference is the index of the first byte where a and b differ (or
// the shorter's length).
func firstDifference(a, b []byte) int {
	n := 0
	for n < min(len(a), len(b)) && a[n] == b[n] {
		n++
	}
	return n
}

// HasRequest looks without touching: a pending request and one whose final
// event is on its way are there, in their own lane only, and asking retires
// nothing.
func TestHasRequest(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, _ := listen(t, e, c, unix.AF_INET)
	child := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer child.Close()
	w, out := acceptOnItsWay(ln, c, child)
	si := *w.selectInfo()
	if pending, onItsWay := ln.HasRequest(c, si); pending || !onItsWay {
		t.Errorf("an accept with its completion on its way: pending %v, on its way %v", pending, onItsWay)
	}
	if pending, onItsWay := ln.HasRequest(c, SelectInfo{Op: OpRecv, Handle: si.Handle}); pending || onItsWay {
		t.Error("the accept's handle is there in the read lane")
	}
	out.flush(ln)
	c.expect(t, EventCompletion, si.Handle) // asking retired nothing
	if pending, onItsWay := ln.HasRequest(c, si); pending || onItsWay {
		t.Error("a delivered accept is still there")
	}
	r := ln.Accept(bg, c, nowait)
	if r.Select == nil {
		t.Fatalf("accept: %+v", r)
	}
	if pending, _ := ln.HasRequest(c, *r.Select); !pending {
		t.Error("a pending accept is not there")
	}
}

// A cancel of a request its caller's next call is replacing, made as the
// replacement runs, leaves no event for it after the cancel returns: the
// replaced request stays where the cancel finds it until it is retired. A
// session may send the two calls at once, as one Erlang process cannot.
func TestCancelRacesReplacement(t *testing.T) {
	e := newEngine(t, Config{})
	owner, c := newRecorder("o"), newRecorder("c")
	cl, sv := pair(t, e, owner, unix.AF_INET)
	h := sv.Recv(bg, c, 0, 0, Timeout{Kind: WaitNowait, Handle: 7}).Select.Handle
	mustSend(t, cl, owner, "x")
	// The loop's edge signals h; its event is not delivered yet.
	var edgeOut, callOut outbox
	sv.rd.mu.Lock()
	sv.rd.ready = true
	sv.advance(&sv.rd, &sv.readers, &edgeOut)
	sv.rd.mu.Unlock()
	// c's next recv replaces h, up to its unlock.
	sv.rd.mu.Lock()
	old := sv.readers.current
	sv.readers.current = nil
	j := newRecvJob(sv, OpRecv, 0, 0, 0)
	done, _ := j.attempt()
	sv.replace(&sv.rd, old, nowait, !done, &callOut)
	sv.finish(&sv.rd, &sv.readers, c, OpRecv, nowait, j, nil, &requestPlace{}, &callOut)
	sv.rd.mu.Unlock()
	// The cancel of h comes in between.
	_, err := sv.Cancel(c, SelectInfo{Op: OpRecv, Handle: h})
	c.markCancelled(h)
	edgeOut.flush(sv)
	callOut.flush(sv)
	if late := c.lateEvents(); len(late) > 0 {
		t.Fatalf("cancel answered %v, then event %+v", err, late[0])
	}
}

// Two DropCallers of one caller at once (a session that dies as a call of
// its own ends) both return only once the caller's requests are retired:
// the second must not return while the first still holds one whose select
// is being delivered, or that select arrives after it returned.
func TestConcurrentDropCallersWaitForRetirement(t *testing.T) {
	e := newEngine(t, Config{})
	owner, c := newRecorder("o"), newRecorder("c")
	_, sv := pair(t, e, owner, unix.AF_INET)
	sv.Recv(bg, c, 0, 0, Timeout{Kind: WaitNowait, Handle: 7})
	sv.rd.mu.Lock()
	w := sv.readers.current
	sv.rd.mu.Unlock()
	w.gate.Lock() // a delivery to w in progress
	first := make(chan struct{})
	go func() { sv.DropCaller(c); close(first) }()
	for taken := false; !taken; time.Sleep(time.Millisecond) {
		sv.rd.mu.Lock()
		taken = sv.readers.current == nil
		sv.rd.mu.Unlock()
	}
	second := make(chan struct{})
	go func() { sv.DropCaller(c); close(second) }()
	select {
	case <-second:
		t.Fatal("a second DropCaller returned while the first had not retired the caller's request")
	case <-time.After(50 * time.Millisecond):
	}
	w.gate.Unlock()
	<-first
	<-second
}
