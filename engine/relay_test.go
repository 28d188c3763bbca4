package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// readAll reads s until end of data.
func readAll(t testing.TB, s *Socket, c Caller) []byte {
	t.Helper()
	var got []byte
	for {
		r := s.Recv(bg, c, 0, 0, within(10*time.Second))
		got = append(got, r.Data...)
		if r.Err == ErrClosed {
			return got
		}
		if r.Err != nil {
			t.Errorf("recv: %v", r.Err)
			return got
		}
	}
}

// A relay between the server ends of two connections moves bytes both ways
// in order, passes each end of data on, and ends when both have ended.
func TestRelayMovesBothWays(t *testing.T) {
	for _, domain := range []int{unix.AF_INET, unix.AF_UNIX} {
		e := newEngine(t, Config{})
		c := newRecorder("owner")
		left, a := pair(t, e, c, domain)
		right, b := pair(t, e, c, domain)
		done := make(chan RelayResult, 1)
		go func() { done <- Relay(bg, a, b, nil) }()

		up := bytes.Repeat([]byte("left to right "), 300_000)
		down := bytes.Repeat([]byte("right to left "), 100_000)
		leftGot := make(chan []byte, 1)
		go func() {
			mustSend(t, left, c, string(up))
			left.Shutdown(unix.SHUT_WR)
			leftGot <- readAll(t, left, c)
		}()
		go func() {
			mustSend(t, right, c, string(down))
			right.Shutdown(unix.SHUT_WR)
		}()
		if got := readAll(t, right, c); !bytes.Equal(got, up) {
			t.Fatalf("domain %d: right got %d bytes, want %d in order", domain, len(got), len(up))
		}
		if got := <-leftGot; !bytes.Equal(got, down) {
			t.Fatalf("domain %d: left got %d bytes, want %d in order", domain, len(got), len(down))
		}
		select {
		case r := <-done:
			if r.Err != nil || r.AToB != uint64(len(up)) || r.BToA != uint64(len(down)) {
				t.Fatalf("domain %d: relay result %+v", domain, r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("relay did not end")
		}
		if cnt := a.Info().Counters; cnt.ReadByte != uint64(len(up)) || cnt.WriteByte != uint64(len(down)) {
			t.Fatalf("counters of a: read %d, write %d", cnt.ReadByte, cnt.WriteByte)
		}
		if a.Closed() || b.Closed() {
			t.Fatal("relay closed a socket")
		}
	}
}

// Closing one socket ends the relay with closed; ctx ends it too.
func TestRelayEnds(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("owner")
	_, a := pair(t, e, c, unix.AF_INET)
	_, b := pair(t, e, c, unix.AF_INET)
	done := make(chan RelayResult, 1)
	go func() { done <- Relay(bg, a, b, nil) }()
	eventually(t, "relay waits on both", func() bool { return a.Info().NumReaders == 1 && b.Info().NumReaders == 1 })
	a.Close()
	select {
	case r := <-done:
		wantErr(t, r.Err, ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not end on close")
	}
	if n := b.Info().NumReaders; n != 0 {
		t.Fatalf("relay left %d readers on b", n)
	}

	_, x := pair(t, e, c, unix.AF_INET)
	_, y := pair(t, e, c, unix.AF_INET)
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	wantErr(t, Relay(ctx, x, y, nil).Err, context.DeadlineExceeded)
}

// A destination that fails while the source still sends ends the relay
// with the write's error; both directions stop and leave no reader or
// writer behind (goleak checks their goroutines).
func TestRelayEndsOnDestinationFailure(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("owner")
	left, a := pair(t, e, c, unix.AF_INET)
	right, b := pair(t, e, c, unix.AF_INET)
	done := make(chan RelayResult, 1)
	go func() { done <- Relay(bg, a, b, nil) }()
	// The right peer goes away with a reset, so writes to b fail.
	if err := right.Control(func(fd int) error {
		return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	}); err != nil {
		t.Fatal(err)
	}
	right.Close()
	defer keepSending(left, c, 64<<10, time.Second)()
	select {
	case r := <-done:
		if r.Err == nil || errors.Is(r.Err, context.Canceled) {
			t.Fatalf("relay ended with %v, want the destination's error", r.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not end on the destination's failure")
	}
	if ia, ib := a.Info(), b.Info(); ia.NumReaders+ia.NumWriters+ib.NumReaders+ib.NumWriters != 0 {
		t.Fatalf("relay left requestors: a %d/%d, b %d/%d", ia.NumReaders, ia.NumWriters, ib.NumReaders, ib.NumWriters)
	}
}

// A source closed while its bytes wait for a destination whose peer reads
// nothing ends the relay with closed within the flush's bound, as a cancel
// would, and frees the destination's writer lane; what it had read and
// could not write counts as dropped.
func TestRelayEndsWhenItsSourceClosesUnderBackpressure(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("owner")
	left, a := pair(t, e, c, unix.AF_INET)
	right, b := pair(t, e, c, unix.AF_INET) // b's peer reads nothing
	// Fixed buffers (no autotuning) on the way to the peer that reads
	// nothing: once they are full they stay full, and what the relay's
	// pipes hold then can go nowhere.
	setInt(t, b, unix.SOL_SOCKET, unix.SO_SNDBUF, 64<<10)
	setInt(t, right, unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<10)
	done := make(chan RelayResult, 1)
	go func() { done <- Relay(bg, a, b, nil) }()
	defer keepSending(left, c, 64<<10, 100*time.Millisecond)()
	// Stalled: b's writer waits, no byte has gone to b for a while, and the
	// relay holds bytes read from a. How much it holds depends on how the
	// kernel fills the pipes' slots, so no fixed amount is asked for.
	var lastWritten uint64
	eventually(t, "the relay's writes to b to stall with bytes in its pipes", func() bool {
		read, ib := a.Info().Counters.ReadByte, b.Info()
		stalled := ib.NumWriters == 1 && ib.Counters.WriteByte == lastWritten && read > ib.Counters.WriteByte
		lastWritten = ib.Counters.WriteByte
		time.Sleep(50 * time.Millisecond)
		return stalled
	})
	a.Close()
	select {
	case r := <-done:
		wantErr(t, r.Err, ErrClosed)
		if r.DroppedAToB == 0 {
			t.Errorf("relay result %+v: nothing dropped, though b's peer read nothing", r)
		}
	case <-time.After(RelayFlushTimeout + 5*time.Second):
		t.Fatal("relay did not end when its source was closed")
	}
	if n := b.Info().NumWriters; n != 0 {
		t.Fatalf("relay left %d writers on b", n)
	}
}

// A relay's pipes take their descriptors' places among MaxSockets: past it
// the relay is refused, and the places come back when it ends.
func TestRelayPipesCountAmongMaxSockets(t *testing.T) {
	e := newEngine(t, Config{MaxSockets: 64})
	c := newRecorder("owner")
	left, a := pair(t, e, c, unix.AF_UNIX)
	right, b := pair(t, e, c, unix.AF_UNIX)
	open := e.open.Load()
	short := int64(e.cfg.MaxSockets) - open - RelayDescriptors + 1 // taken elsewhere: one place short
	e.open.Add(short)
	r := Relay(bg, a, b, func() { t.Error("a relay refused its places was told it was admitted") })
	var quota *QuotaError
	if !errors.As(r.Err, &quota) {
		t.Fatalf("a relay one place short of MaxSockets: %+v, want a QuotaError", r)
	}
	e.open.Add(-short)
	done := make(chan RelayResult, 1)
	admitted := make(chan struct{})
	go func() { done <- Relay(bg, a, b, func() { close(admitted) }) }()
	select {
	case <-admitted:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay was not admitted")
	}
	if got := e.open.Load(); got != open+RelayDescriptors {
		t.Fatalf("admitted with %d places taken, want its %d", got-open, RelayDescriptors)
	}
	left.Shutdown(unix.SHUT_WR)
	right.Shutdown(unix.SHUT_WR)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not end")
	}
	if got := e.open.Load(); got != open {
		t.Fatalf("%d places held after the relay, want %d", got, open)
	}
}

// A relay refused for want of places never takes them, even for a moment:
// an open that fits the one place left is not refused meanwhile.
func TestRefusedRelayTakesNoPlace(t *testing.T) {
	e := newEngine(t, Config{MaxSockets: 64})
	c := newRecorder("owner")
	_, a := pair(t, e, c, unix.AF_UNIX)
	_, b := pair(t, e, c, unix.AF_UNIX)
	short := int64(e.cfg.MaxSockets) - e.open.Load() - 1 // one place left
	e.open.Add(short)
	defer e.open.Add(-short)
	stop := make(chan struct{})
	relays := make(chan struct{})
	go func() {
		defer close(relays)
		for {
			select {
			case <-stop:
				return
			default:
				Relay(bg, a, b, nil)
			}
		}
	}()
	refused := 0
	for range 2000 {
		s, err := e.Open(c, unix.AF_INET, unix.SOCK_DGRAM, 0, OpenOptions{})
		if err != nil {
			refused++
			continue
		}
		s.Close()
	}
	close(stop)
	<-relays
	if refused > 0 {
		t.Fatalf("%d of 2000 opens refused with one place left while relays were refused", refused)
	}
}

// A relay told to end reads no more but writes out what it has read: the
// bytes the destination's peer gets, then those still in the source, are
// the stream without a hole, and none is reported dropped.
func TestRelayEndLeavesNoHole(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	pa, a := pair(t, e, c, unix.AF_INET)
	b, pb := pair(t, e, c, unix.AF_INET)
	// Peer b reads all along, slowly enough that the relay has full pipes
	// when it is told to end.
	res, stream, got := endRelayMidStream(c, pa, a, b, pb, relayRun{total: 24 << 20, read: 64 << 10, pause: time.Millisecond, endAfter: 2 << 20})
	rest := drainNow(a, c)
	if res.DroppedAToB != 0 {
		t.Errorf("dropped %d bytes with a reading peer", res.DroppedAToB)
	}
	if uint64(len(got)) != res.AToB {
		t.Errorf("peer b got %d bytes, relay says it wrote %d", len(got), res.AToB)
	}
	all := append(got, rest...)
	if !bytes.Equal(all, stream[:len(all)]) {
		t.Fatalf("the stream has a hole: b got %d bytes, a still held %d, they differ from the original at %d", len(got), len(rest), firstDifference(all, stream))
	}
}

// relayRun is how endRelayMidStream runs: total bytes written into a, read
// from b's peer read bytes at a time with a pause between reads, the relay
// told to end once endAfter bytes have come out.
type relayRun struct {
	total, read, endAfter int
	pause                 time.Duration
}

// endRelayMidStream relays a to b while pa writes a patterned stream into a
// and pb reads b slowly, ends the relay mid-stream, and returns its result,
// the stream written, and all that pb got until nothing more came.
func endRelayMidStream(c Caller, pa, a, b, pb *Socket, run relayRun) (RelayResult, []byte, []byte) {
	stream := make([]byte, run.total)
	for i := range stream {
		stream[i] = byte(i * 7 % 251)
	}
	ctx, cancel := context.WithCancel(bg)
	relayed := make(chan RelayResult, 1)
	go func() { relayed <- Relay(ctx, a, b, nil) }()
	writeCtx, stopWriting := context.WithCancel(bg)
	defer stopWriting()
	go pa.Send(writeCtx, c, stream, 0, infinity)
	var received atomic.Int64
	gotAll := make(chan []byte, 1)
	go func() {
		var got []byte
		for {
			r := pb.Recv(bg, c, run.read, 0, within(time.Second))
			got = append(got, r.Data...)
			received.Store(int64(len(got)))
			if r.Err != nil {
				gotAll <- got
				return
			}
			time.Sleep(run.pause)
		}
	}()
	for received.Load() < int64(run.endAfter) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	res := <-relayed
	stopWriting()
	return res, stream, <-gotAll
}

// drainNow reads what s holds now.
func drainNow(s *Socket, c Caller) []byte {
	var out []byte
	for {
		r := s.Recv(bg, c, 0, 0, within(100*time.Millisecond))
		out = append(out, r.Data...)
		if r.Err != nil || len(r.Data) == 0 {
			return out
		}
	}
}

// An end of data the relay read before it was told to end is passed on,
// after the bytes before it.
func TestRelayEndPassesOnEndOfData(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	pa, a := pair(t, e, c, unix.AF_INET)
	b, pb := pair(t, e, c, unix.AF_INET)
	setInt(t, b, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096) // b cannot take it all at once
	const n = 1 << 20
	if r := pa.Send(bg, c, make([]byte, n), 0, infinity); r.Err != nil {
		t.Fatal(r.Err)
	}
	if err := pa.Shutdown(unix.SHUT_WR); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	relayed := make(chan RelayResult, 1)
	go func() { relayed <- Relay(ctx, a, b, nil) }()
	eventually(t, "the relay to read a to its end", func() bool { return a.Info().Counters.ReadByte == n })
	time.Sleep(50 * time.Millisecond) // and the end itself
	cancel()
	got := 0
	for {
		r := pb.Recv(bg, c, 0, 0, within(eventWait))
		got += len(r.Data)
		if errors.Is(r.Err, ErrClosed) {
			break // end of data
		}
		if r.Err != nil {
			t.Fatalf("peer b after %d bytes: %v, want the end of data", got, r.Err)
		}
	}
	res := <-relayed
	if got != n || res.AToB != n || res.DroppedAToB != 0 {
		t.Fatalf("peer b got %d, relay wrote %d and dropped %d; want %d, all", got, res.AToB, res.DroppedAToB, n)
	}
}

// Into a local socket that sends its user's credentials (written through
// user space, not spliced), a relay told to end leaves no hole either.
func TestRelayEndLeavesNoHoleWithCredentials(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	if os.Geteuid() != 0 {
		t.Skip("acting for another user needs root")
	}
	pa, a := pair(t, e, c, unix.AF_INET)
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // uid 4242 reaches the socket
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "s")
	sa := SockAddr{Family: FamilyLocal, Path: []byte(path)}
	ln := mustOpen(t, e, c, unix.AF_UNIX, unix.SOCK_STREAM)
	defer ln.Close()
	if err := ln.Bind(sa); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := ln.Listen(4); err != nil {
		t.Fatal(err)
	}
	b, err := e.Open(c, unix.AF_UNIX, unix.SOCK_STREAM, 0, OpenOptions{Creds: &Creds{UID: 4242, GID: 4242}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if r := b.Connect(bg, c, &sa, infinity); r.Err != nil {
		t.Fatal(r.Err)
	}
	acc := ln.Accept(bg, c, infinity)
	if acc.Err != nil {
		t.Fatal(acc.Err)
	}
	pb := acc.Socket
	defer pb.Close()
	// Slow enough that a Send to b is cut short by the end.
	res, stream, got := endRelayMidStream(c, pa, a, b, pb, relayRun{total: 16 << 20, read: 16 << 10, pause: 2 * time.Millisecond, endAfter: 1 << 20})
	if !bytes.Equal(got, stream[:len(got)]) {
		t.Fatalf("peer b's bytes have a hole at %d of %d (relay wrote %d, dropped %d)", firstDifference(got, stream), len(got), res.AToB, res.DroppedAToB)
	}
	if uint64(len(got)) != res.AToB {
		t.Fatalf("peer b got %d bytes, relay says it wrote %d", len(got), res.AToB)
	}
	if res.DroppedAToB != 0 {
		t.Fatalf("dropped %d bytes with a reading peer", res.DroppedAToB)
	}
}

// A source reset after bytes it had sent ends the relay with the reset,
// after those bytes: Linux reports the error once, and the next read would
// see an end of data, which the relay must not pass on as one.
func TestRelayPassesOnAResetAfterData(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("owner")
	left, a := pair(t, e, c, unix.AF_INET)
	right, b := pair(t, e, c, unix.AF_INET)
	data := bytes.Repeat([]byte("x"), 100_000)
	mustSend(t, left, c, string(data))
	if err := left.Control(func(fd int) error {
		return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bytes in a's receive queue", func() bool { return queued(t, a) == len(data) })
	left.Close() // RST behind the bytes
	done := make(chan RelayResult, 1)
	go func() { done <- Relay(bg, a, b, nil) }()
	var r RelayResult
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not end")
	}
	wantErr(t, r.Err, unix.ECONNRESET)
	if r.AToB+r.DroppedAToB != uint64(len(data)) {
		t.Fatalf("relay result %+v: %d bytes read, want %d", r, r.AToB+r.DroppedAToB, len(data))
	}
	got := right.Recv(bg, c, len(data), 0, within(5*time.Second))
	if len(got.Data) != int(r.AToB) {
		t.Fatalf("right got %d bytes, want %d", len(got.Data), r.AToB)
	}
	if more := right.Recv(bg, c, 0, 0, within(100*time.Millisecond)); more.Err != ErrTimeout {
		t.Fatalf("after the bytes right read %+v: the reset was passed on as an end of data", more)
	}
}

// A reset of the destination's peer that the relay's write takes is no end
// of data for the other direction, whose read of the same socket then sees
// one (Linux reports the error once): nothing is passed on to the source's
// peer, and the relay ends with the reset.
func TestRelayPassesOnNoEndAfterAReset(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("owner")
	for i := range 10 {
		left, a := pair(t, e, c, unix.AF_INET)
		right, b := pair(t, e, c, unix.AF_INET)
		done := make(chan RelayResult, 1)
		go func() { done <- Relay(bg, a, b, nil) }()
		stopSending := keepSending(left, c, 64<<10, 20*time.Millisecond)
		leftEnd := make(chan error, 1)
		go func() {
			for {
				if r := left.Recv(bg, c, 0, 0, within(200*time.Millisecond)); r.Err != nil {
					leftEnd <- r.Err
					return
				}
			}
		}()
		time.Sleep(30 * time.Millisecond)
		right.Control(func(fd int) error {
			return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
		})
		right.Close() // a reset
		time.Sleep(30 * time.Millisecond)
		stopSending()
		var r RelayResult
		select {
		case r = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: relay did not end", i)
		}
		if r.Err == nil {
			t.Fatalf("round %d: relay ended without an error after a reset: %+v", i, r)
		}
		if err := <-leftEnd; err == ErrClosed {
			t.Fatalf("round %d: the left's peer read an end of data after the right's reset (relay %+v)", i, r)
		}
		left.Close()
		a.Close()
		b.Close()
	}
}

// A clean end is passed on, whoever shut the write side down: a socket
// shut before the relay began (its connection then closes once both FINs
// are acknowledged), or both peers ending at once, is no reset.
func TestRelayPassesOnCleanEnds(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("owner")
	ended := func(t *testing.T, s *Socket, want string) {
		t.Helper()
		var got []byte
		for {
			r := s.Recv(bg, c, 0, 0, within(5*time.Second))
			got = append(got, r.Data...)
			if r.Err != nil {
				if r.Err != ErrClosed || string(got) != want {
					t.Fatalf("read %q then %v, want %q then the end", got, r.Err, want)
				}
				return
			}
		}
	}
	left, a := pair(t, e, c, unix.AF_INET)
	right, b := pair(t, e, c, unix.AF_INET)
	if err := b.Shutdown(unix.SHUT_WR); err != nil { // its request sent, before the relay
		t.Fatal(err)
	}
	done := make(chan RelayResult, 1)
	go func() { done <- Relay(bg, a, b, nil) }()
	mustSend(t, right, c, "fourteen bytes")
	right.Shutdown(unix.SHUT_WR)
	left.Shutdown(unix.SHUT_WR)
	ended(t, left, "fourteen bytes")
	if r := <-done; r.Err != nil || r.BToA != 14 {
		t.Fatalf("relay of a socket shut before it: %+v", r)
	}

	for i := range 1000 {
		left, a := pair(t, e, c, unix.AF_INET)
		right, b := pair(t, e, c, unix.AF_INET)
		done := make(chan RelayResult, 1)
		go func() { done <- Relay(bg, a, b, nil) }()
		both := make(chan struct{})
		for _, p := range []*Socket{left, right} {
			go func() {
				<-both
				mustSend(t, p, c, "x")
				p.Shutdown(unix.SHUT_WR)
			}()
		}
		close(both)
		ended(t, left, "x")
		ended(t, right, "x")
		if r := <-done; r.Err != nil {
			t.Fatalf("round %d: both ends at once: %+v", i, r)
		}
		for _, s := range []*Socket{left, right, a, b} {
			s.Close()
		}
	}
}

// A blocking recv queued on a behind the relay's failure watch (a's peer
// has shut down; its end is already in a's receive queue) answers closed
// once the relay ends: the watch found the side empty of errors, not of
// data (a reviewer's hung until its timeout).
func TestRelayWatchLeavesTheEndReadable(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("owner")
	user := newRecorder("user")
	left, a := pair(t, e, c, unix.AF_INET)
	right, b := pair(t, e, c, unix.AF_INET)
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	done := make(chan RelayResult, 1)
	go func() { done <- Relay(ctx, a, b, nil) }()
	left.Shutdown(unix.SHUT_WR)
	if r := right.Recv(bg, c, 0, 0, within(5*time.Second)); r.Err != ErrClosed {
		t.Fatalf("right: %v", r.Err)
	}
	eventually(t, "the watch on a", func() bool { return a.Info().NumReaders == 1 })
	got := make(chan RecvResult, 1)
	go func() { got <- a.Recv(bg, user, 0, 0, within(3*time.Second)) }()
	eventually(t, "the user's recv queued", func() bool { return a.Info().NumReaders == 2 })
	t0 := time.Now()
	cancel()
	r := <-done
	t.Logf("relay: %+v", r)
	rr := <-got
	t.Logf("recv after %v: %v, readers now %d", time.Since(t0), rr.Err, a.Info().NumReaders)
	if rr.Err != ErrClosed {
		t.Fatalf("queued recv answered %v, want closed (end of data is readable)", rr.Err)
	}
}

// The same, with the relay ending by itself (b's peer shuts down too).
func TestRelayWatchLeavesTheEndReadableAfterItsEnd(t *testing.T) {
	hung := 0
	for round := range 10 {
		e := newEngine(t, Config{})
		c := newRecorder("owner")
		user := newRecorder("user")
		left, a := pair(t, e, c, unix.AF_INET)
		right, b := pair(t, e, c, unix.AF_INET)
		done := make(chan RelayResult, 1)
		go func() { done <- Relay(bg, a, b, nil) }()
		left.Shutdown(unix.SHUT_WR)
		if r := right.Recv(bg, c, 0, 0, within(5*time.Second)); r.Err != ErrClosed {
			t.Fatalf("right: %v", r.Err)
		}
		eventually(t, "the watch on a", func() bool { return a.Info().NumReaders == 1 })
		got := make(chan RecvResult, 1)
		go func() { got <- a.Recv(bg, user, 0, 0, within(2*time.Second)) }()
		eventually(t, "the user's recv queued", func() bool { return a.Info().NumReaders == 2 })
		right.Shutdown(unix.SHUT_WR)
		r := <-done
		rr := <-got
		t.Logf("round %d relay %v, recv %v", round, r.Err, rr.Err)
		if rr.Err != ErrClosed {
			hung++
		}
	}
	if hung > 0 {
		t.Fatalf("%d of 10 queued recvs did not answer closed", hung)
	}
}
