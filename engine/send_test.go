package engine

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// shrinkBuffers makes a stream pair fill up after a few kilobytes.
func shrinkBuffers(t *testing.T, cl, sv *Socket) {
	setInt(t, cl, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
	setInt(t, sv, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
}

// drain reads n bytes from s in the background.
func drain(s *Socket, c Caller, n int) <-chan []byte {
	got := make(chan []byte, 1)
	go func() {
		var all []byte
		for len(all) < n {
			r := s.Recv(bg, c, 0, 0, within(eventWait))
			if r.Err != nil {
				break
			}
			all = append(all, r.Data...)
		}
		got <- all
	}()
	return got
}

func TestNowaitPartialSend(t *testing.T) {
	e := newEngine(t, Config{})
	c, other := newRecorder("c"), newRecorder("other")
	cl, sv := pair(t, e, c, unix.AF_INET)
	// A small send buffer fills fast; the receiver's stays large so that
	// draining is not slowed down by tiny TCP windows.
	setInt(t, cl, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)

	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	r := cl.Send(bg, c, data, 0, withHandle(1))
	if r.Select == nil || r.Sent == 0 || r.Unsent == 0 || r.Sent+r.Unsent != len(data) || r.Err != nil {
		t.Fatalf("partial send: sent %d unsent %d select %v err %v", r.Sent, r.Unsent, r.Select, r.Err)
	}
	if n := cl.Info().NumWriters; n != 1 {
		t.Fatalf("writer not current: num_writers %d", n)
	}
	if q := cl.Send(bg, other, []byte("x"), 0, nowait); q.Select == nil || q.Sent != 0 {
		t.Fatalf("other writer not queued: %+v", q)
	}
	cl.Cancel(other, SelectInfo{Op: OpSend, Handle: cl.lastQueuedHandle(t)})

	got := drain(sv, c, len(data))
	rest, handle := data[r.Sent:], uint64(1)
	for len(rest) > 0 {
		c.expect(t, EventSelect, handle)
		handle++
		r := cl.Send(bg, c, rest, 0, withHandle(handle))
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		rest = rest[r.Sent:]
		if r.Select == nil && len(rest) != 0 {
			t.Fatalf("no select with %d bytes left", len(rest))
		}
	}
	if all := <-got; !bytes.Equal(all, data) {
		t.Fatalf("received %d bytes, want %d", len(all), len(data))
	}
}

// lastQueuedHandle is the handle of the last queued writer (test helper).
func (s *Socket) lastQueuedHandle(t *testing.T) uint64 {
	s.wr.mu.Lock()
	defer s.wr.mu.Unlock()
	if len(s.writers.queue) == 0 {
		t.Fatal("no queued writer")
	}
	return s.writers.queue[len(s.writers.queue)-1].handle
}

func TestSendTimeoutKeepsCounts(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, sv := pair(t, e, c, unix.AF_INET)
	shrinkBuffers(t, cl, sv)
	data := make([]byte, 1<<20)
	r := cl.Send(bg, c, data, 0, within(50*time.Millisecond))
	wantErr(t, r.Err, ErrTimeout)
	if r.Sent == 0 || r.Sent+r.Unsent != len(data) {
		t.Fatalf("sent %d unsent %d", r.Sent, r.Unsent)
	}
	if n := cl.Info().NumWriters; n != 0 {
		t.Fatalf("num_writers %d after timeout", n)
	}
	r = cl.Send(bg, c, data, 0, poll)
	wantErr(t, r.Err, ErrTimeout)
}

// A fatal send error fails the current writer and aborts the queued ones
// with the same reason.
func TestFatalSendErrorAbortsQueue(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, sv := pair(t, e, a, unix.AF_INET)
	shrinkBuffers(t, cl, sv)
	data := make([]byte, 1<<20)
	if r := cl.Send(bg, a, data, 0, withHandle(1)); r.Select == nil {
		t.Fatalf("send: %+v", r)
	}
	if r := cl.Send(bg, b, data, 0, withHandle(2)); r.Select == nil {
		t.Fatalf("queued send: %+v", r)
	}
	// Closing with unread data makes the peer reset the connection.
	sv.Close()
	a.expect(t, EventSelect, 1)
	var r SendResult
	eventually(t, "send error", func() bool {
		r = cl.Send(bg, a, data, 0, withHandle(3))
		return r.Err != nil
	})
	var errno unix.Errno
	if !errors.As(r.Err, &errno) {
		t.Fatalf("send error %v", r.Err)
	}
	ev := b.expect(t, EventAbort, 2)
	wantErr(t, ev.Reason, errno)
	if cl.Info().Counters.WriteFails == 0 {
		t.Fatal("write_fails not counted")
	}
}

func TestSendMsgIOV(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")

	// A stream sends an iov longer than IOVMax in chunks.
	cl, sv := pair(t, e, c, unix.AF_INET)
	var iov [][]byte
	var want []byte
	for i := range IOVMax*2 + 3 {
		b := []byte{byte(i), byte(i >> 8)}
		iov = append(iov, b)
		want = append(want, b...)
	}
	got := drain(sv, c, len(want))
	if r := cl.SendMsg(bg, c, iov, nil, nil, 0, infinity); r.Err != nil || r.Sent != len(want) {
		t.Fatalf("stream sendmsg: %+v", r)
	}
	if all := <-got; !bytes.Equal(all, want) {
		t.Fatal("stream sendmsg data differ")
	}

	// A datagram cannot be split.
	a, _, _, bAddr := udpPair(t, e, c, unix.AF_INET)
	wantInvalid(t, a.SendMsg(bg, c, iov, &bAddr, nil, 0, infinity).Err, "iov")

	// Control data must fit sndctrlbuf and be encodable.
	a.SetSndCtrlBuf(8)
	ctrl := []ControlMessage{{Level: unix.IPPROTO_IP, Type: unix.IP_TTL, Value: 1}}
	wantInvalid(t, a.SendMsg(bg, c, [][]byte{{1}}, &bAddr, ctrl, 0, infinity).Err, "msg")
	a.SetSndCtrlBuf(0)
	bad := []ControlMessage{{Level: unix.IPPROTO_IP, Type: unix.IP_TTL, Value: "x"}}
	wantInvalid(t, a.SendMsg(bg, c, [][]byte{{1}}, &bAddr, bad, 0, infinity).Err, "msg")
	// An inet socket cannot send to an inet6 address: the kernel says so.
	wantErr(t, a.SendTo(bg, c, []byte("x"), 0, loopback(unix.AF_INET6), infinity).Err, unix.EAFNOSUPPORT)
}

func TestSendWhileConnectingIsInvalid(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, sa := inProgressConnect(t, e, c)
	if r := cl.Connect(bg, c, &sa, nowait); r.Select == nil {
		t.Fatalf("connect: %+v", r)
	}
	wantInvalid(t, cl.Send(bg, c, []byte("x"), 0, nowait).Err, "state")
}

// Destination families are the kernel's to judge, as in Erlang: an inet6
// UDP socket sends to an inet address, and one that IPV6_ADDRFORM turned
// into an inet socket sends to inet addresses only.
func TestSendToFamilyIsTheKernels(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	rcv := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_DGRAM)
	defer rcv.Close()
	if err := rcv.Bind(loopback(unix.AF_INET)); err != nil {
		t.Fatal(err)
	}
	to, err := rcv.SockName()
	if err != nil {
		t.Fatal(err)
	}
	s6 := mustOpen(t, e, c, unix.AF_INET6, unix.SOCK_DGRAM)
	defer s6.Close()
	if r := s6.SendTo(bg, c, []byte("v6 to v4"), 0, to, infinity); r.Err != nil {
		t.Fatalf("inet6 socket, inet destination: %v", r.Err)
	}
	mapped := SockAddr{Family: FamilyInet6, Addr: netip.AddrFrom16(to.Addr.As16()), Port: to.Port}
	if err := s6.Connect(bg, c, &mapped, infinity).Err; err != nil {
		t.Fatal(err)
	}
	setInt(t, s6, unix.IPPROTO_IPV6, unix.IPV6_ADDRFORM, unix.AF_INET)
	if r := s6.SendTo(bg, c, []byte("addrform"), 0, to, infinity); r.Err != nil {
		t.Fatalf("after addrform inet, inet destination: %v", r.Err)
	}
	for _, want := range []string{"v6 to v4", "addrform"} {
		if r := rcv.Recv(bg, c, 0, 0, within(eventWait)); string(r.Data) != want {
			t.Fatalf("received %q %v, want %q", r.Data, r.Err, want)
		}
	}
}

// The parts of one stream send (SendContinued) keep their caller the
// current writer between them: another writer's bytes, queued meanwhile,
// come after the last part. A close then aborts the queued writer but not
// the caller, whose next part answers closed; a cancel lets the lane go on.
func TestSendContinuedKeepsTheLane(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, sv := pair(t, e, a, unix.AF_INET)
	first := SendResult{}
	if first = cl.SendContinued(bg, a, []byte("11111"), 0, 0, infinity); first.Err != nil || first.Sent != 5 || first.Select == nil {
		t.Fatalf("a first part: %+v, want it sent and the lane kept", first)
	}
	queued := cl.Send(bg, b, []byte("BB"), 0, nowait)
	if queued.Select == nil || queued.Sent != 0 {
		t.Fatalf("another writer between the parts: %+v, want it queued", queued)
	}
	b.expectNone(t)
	if r := cl.Send(bg, a, []byte("22222"), 0, infinity); r.Err != nil || r.Sent != 5 || r.Select != nil {
		t.Fatalf("a last part: %+v", r)
	}
	b.expect(t, EventSelect, queued.Select.Handle)
	if r := cl.Send(bg, b, []byte("BB"), 0, withHandle(queued.Select.Handle)); r.Err != nil || r.Sent != 2 {
		t.Fatalf("b's retry: %+v", r)
	}
	if got := string(<-drain(sv, a, 12)); got != "1111122222BB" {
		t.Fatalf("the peer read %q, want a's parts before b's bytes", got)
	}

	// A cancel of the kept request, by the handle the caller chose, lets
	// the queue go on.
	r := cl.SendContinued(bg, a, []byte("3"), 0, 77, infinity)
	queued = cl.Send(bg, b, []byte("C"), 0, nowait)
	if r.Select == nil || r.Select.Handle != 77 {
		t.Fatalf("a part kept under handle 77: %+v", r)
	}
	if _, err := cl.Cancel(a, SelectInfo{Op: OpSend, Handle: 77}); err != nil {
		t.Fatal(err)
	}
	b.expect(t, EventSelect, queued.Select.Handle)
	cl.Cancel(b, *queued.Select)

	// A close aborts the queued writer, not the kept caller.
	cl.SendContinued(bg, a, []byte("4"), 0, 0, infinity)
	queued = cl.Send(bg, b, []byte("D"), 0, nowait)
	cl.Close()
	if err := b.expectAbort(t, queued.Select.Handle); !errors.Is(err, ErrClosed) {
		t.Fatalf("the queued writer's abort: %v", err)
	}
	a.expectNone(t)
	wantErr(t, cl.Send(bg, a, []byte("5"), 0, infinity).Err, ErrClosed)
}

// A part whose caller has given up the call (its ctx ended: the RPC's
// client went away) is written but keeps nothing: no one would learn the
// handle of the kept request, and another writer must not wait for it.
func TestSendContinuedOfAGoneCallerKeepsNothing(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, sv := pair(t, e, a, unix.AF_INET)
	if r := cl.SendContinued(&endsAfterFirstLook{Context: bg}, a, []byte("11"), 0, 0, infinity); r.Err != nil || r.Sent != 2 || r.Select != nil {
		t.Fatalf("a part of a gone caller: %+v, want it sent and nothing kept", r)
	}
	wantRequests(t, a, 0, "a gone caller's part")
	if r := cl.Send(bg, b, []byte("BB"), 0, nowait); r.Err != nil || r.Sent != 2 || r.Select != nil {
		t.Fatalf("another writer after it: %+v, want it sent at once", r)
	}
	if got := string(<-drain(sv, a, 4)); got != "11BB" {
		t.Fatalf("the peer read %q", got)
	}
}

// endsAfterFirstLook is a ctx that ends during the call: live when the call
// first looks (so the part is written), ended at every later look.
type endsAfterFirstLook struct {
	context.Context
	looked atomic.Bool
}

func (c *endsAfterFirstLook) Err() error {
	if c.looked.Swap(true) {
		return context.Canceled
	}
	return nil
}

// At its caller's limit a send's parts keep one place between them: each
// part takes over the place of the request the last one kept.
func TestSendContinuedAtTheLimit(t *testing.T) {
	e := newEngine(t, Config{})
	a := newRecorder("a")
	cl, sv := pair(t, e, a, unix.AF_INET)
	a.requestQuota = 1
	for i, part := range []string{"1", "2", "3"} {
		r := cl.SendContinued(bg, a, []byte(part), 0, 0, infinity)
		if r.Err != nil || r.Select == nil {
			t.Fatalf("part %d at the limit: %+v, want it sent and the lane kept", i+1, r)
		}
		if n := a.requests.Load(); n != 1 {
			t.Fatalf("part %d: %d places held, want 1", i+1, n)
		}
	}
	if r := cl.Send(bg, a, []byte("4"), 0, infinity); r.Err != nil || r.Select != nil {
		t.Fatalf("the last part: %+v", r)
	}
	wantRequests(t, a, 0, "a send's last part")
	if got := string(<-drain(sv, a, 4)); got != "1234" {
		t.Fatalf("the peer read %q", got)
	}
}

// A local datagram sent to a receiver whose queue is full waits without
// spinning: every failed sendto reports room to write again (its datagram is
// freed within the call), so the wait is paced by a timer, and the send
// still goes once the receiver reads.
func TestLocalDgramSendToFullReceiverWaitsPaced(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	a := mustOpen(t, e, c, unix.AF_UNIX, unix.SOCK_DGRAM)
	defer a.Close()
	b, addr := boundLocalDgram(t, e, c)
	fillUntilTimeout(t, func() SendResult { return a.SendTo(bg, c, []byte("fill"), 0, addr, poll) })
	before := a.Info().Counters.WriteTries
	if r := a.SendTo(bg, c, []byte("late"), 0, addr, within(300*time.Millisecond)); r.Err != ErrTimeout {
		t.Fatalf("a send to a full receiver: %+v, want timeout", r)
	}
	// 300 ms of backoff from 1 ms to 64 ms is about ten tries; before, a
	// retry at every edge made thousands.
	if tries := a.Info().Counters.WriteTries - before; tries > 30 {
		t.Fatalf("%d sendto tries while the receiver stayed full for 300 ms", tries)
	}
	sent := make(chan SendResult, 1)
	go func() { sent <- a.SendTo(bg, c, []byte("last"), 0, addr, infinity) }()
	for {
		r := b.RecvFrom(bg, c, 0, 0, within(5*time.Second))
		if r.Err != nil {
			t.Fatalf("draining the receiver: %+v", r)
		}
		if string(r.Data) == "last" {
			break
		}
	}
	if r := <-sent; r.Err != nil || r.Sent != 4 {
		t.Fatalf("the waiting send once the receiver read: %+v", r)
	}
}

// A writer that does not send to an address takes its edges while a paced
// sendto's timer is pending: a send to the connected peer, queued behind a
// sendto to another, full receiver that timed out, goes when the peer reads,
// not when the timer fires.
func TestPacedSendToLeavesOtherWritersTheirEdges(t *testing.T) {
	defer func(lo, hi time.Duration) { minPace, maxPace = lo, hi }(minPace, maxPace)
	minPace, maxPace = time.Minute, time.Minute // the timer never fires in this test
	e := newEngine(t, Config{})
	c := newRecorder("c")
	a := mustOpen(t, e, c, unix.AF_UNIX, unix.SOCK_DGRAM)
	defer a.Close()
	peer, peerAddr := boundLocalDgram(t, e, c)
	_, otherAddr := boundLocalDgram(t, e, c)
	if r := a.Connect(bg, c, &peerAddr, infinity); r.Err != nil {
		t.Fatal(r.Err)
	}
	fillUntilTimeout(t, func() SendResult { return a.SendTo(bg, c, []byte("x"), 0, otherAddr, poll) })
	fillUntilTimeout(t, func() SendResult { return a.Send(bg, c, []byte("x"), 0, poll) })
	for _, send := range []struct {
		name string
		call func() SendResult
	}{
		{"send", func() SendResult { return a.Send(bg, c, []byte("late"), 0, within(5*time.Second)) }},
		{"sendmsg without an address", func() SendResult {
			return a.SendMsg(bg, c, [][]byte{[]byte("late")}, nil, nil, 0, within(5*time.Second))
		}},
	} {
		if r := a.SendTo(bg, c, []byte("x"), 0, otherAddr, within(5*time.Millisecond)); r.Err != ErrTimeout {
			t.Fatalf("a sendto to the full other receiver: %+v, want timeout", r)
		}
		sent := make(chan SendResult, 1)
		go func() { sent <- send.call() }()
		eventually(t, "the "+send.name+" waiting", func() bool { return a.Info().NumWriters == 1 })
		if r := peer.RecvFrom(bg, c, 0, 0, poll); r.Err != nil {
			t.Fatalf("the peer's read: %+v", r)
		}
		if r := <-sent; r.Err != nil {
			t.Fatalf("the %s to the connected peer once it read: %+v", send.name, r)
		}
	}
}
