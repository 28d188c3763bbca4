package server

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// live is a Service on a real engine with one session, a local listening
// socket the session owns, and the context a gRPC call of that session
// carries: the handlers can be called directly, without gRPC.
type live struct {
	svc  *Service
	sess *Session
	ctx  context.Context
	ln   *engine.Socket
	path string
}

func newLive(tb testing.TB, limits Limits) *live {
	tb.Helper()
	return newLiveWith(tb, Config{Limits: limits})
}

// newLiveWith is newLive with the Service's configuration (its Engine is
// the live one's own).
func newLiveWith(tb testing.TB, cfg Config) *live {
	tb.Helper()
	e, err := engine.New(engine.Config{Loops: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	cfg.Engine = e
	svc := New(cfg)
	p := Principal{Kind: "uid", UID: 1000}
	sess, _, err := svc.sessions.create(p, "", time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.sessions.end(sess) })
	ctx := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: peerAuth{principal: p}})
	ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(SessionMetadataKey, sess.id))

	ln, err := e.Open(sess, unix.AF_UNIX, unix.SOCK_STREAM, 0, engine.OpenOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	path := filepath.Join(tb.TempDir(), "s")
	if err := ln.Bind(engine.SockAddr{Family: engine.FamilyLocal, Path: []byte(path)}); err != nil {
		tb.Fatal(err)
	}
	if err := ln.Listen(16); err != nil {
		tb.Fatal(err)
	}
	return &live{svc: svc, sess: sess, ctx: ctx, ln: ln, path: path}
}

// connected returns a connected stream socket of the session and its peer,
// a plain net.Conn.
func (l *live) connected(tb testing.TB) (*engine.Socket, net.Conn) {
	tb.Helper()
	peerConn, err := net.Dial("unix", l.path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { peerConn.Close() })
	acc := l.ln.Accept(context.Background(), l.sess, engine.Timeout{Kind: engine.WaitInfinity})
	if acc.Err != nil {
		tb.Fatal(acc.Err)
	}
	l.sess.adopt(acc.Socket)
	tb.Cleanup(func() { acc.Socket.Close() })
	return acc.Socket, peerConn
}

// closedTCPPort is a port of 127.0.0.1 on which nothing listens: one a
// listener had, closed (port 1 need not be closed on a shared machine).
func closedTCPPort(tb testing.TB) uint32 {
	tb.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return uint32(l.Addr().(*net.TCPAddr).Port)
}

// eventually polls cond for up to 5 s.
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An Accept whose call was cancelled before it ran takes nothing: the
// pending connection is the next Accept's. (One cancelled while the accept
// itself runs closes what it took, since no one would learn its id.)
func TestAcceptOfACancelledCallTakesNothing(t *testing.T) {
	l := newLive(t, Limits{})
	peerConn, err := net.Dial("unix", l.path)
	if err != nil {
		t.Fatal(err)
	}
	defer peerConn.Close()
	infinity := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}
	ctx, cancel := context.WithCancel(l.ctx)
	cancel()
	_, err = l.svc.Accept(ctx, &sockdv1.AcceptRequest{SocketId: l.ln.ID(), Timeout: infinity})
	if status.Code(err) != codes.Canceled {
		t.Fatalf("accept of a cancelled call: %v, want CANCELED", err)
	}
	twoSeconds := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: 2000}}
	resp, err := l.svc.Accept(l.ctx, &sockdv1.AcceptRequest{SocketId: l.ln.ID(), Timeout: twoSeconds})
	if err != nil || resp.GetSocketId() == "" {
		t.Fatalf("the next accept: %v %v, want the pending connection", resp, err)
	}
	sock, _ := l.svc.engine.Lookup(resp.GetSocketId())
	defer sock.Close()
	if _, err := peerConn.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	r, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: resp.GetSocketId(), Length: 1, Timeout: infinity})
	if err != nil || string(r.GetData()) != "x" {
		t.Fatalf("recv on the accepted connection: %v %v", r, err)
	}
}

// stalledStream is an Events stream whose client reads nothing: every Send
// blocks until the stream ends, as gRPC's flow control blocks it once the
// client's window is full. gRPC ends a stream when its handler returns; the
// test does that with cancel.
type stalledStream struct {
	sockdv1.SocketService_EventsServer
	ctx   context.Context
	sends atomic.Int32
}

func (s *stalledStream) Context() context.Context { return s.ctx }

func (s *stalledStream) Send(*sockdv1.EventsResponse) error {
	s.sends.Add(1)
	<-s.ctx.Done()
	return s.ctx.Err()
}

// A client that stops reading its Events stream cannot keep the stream's
// handler, and with it the session and everything its log holds, alive: a
// replaced stream ends at once, and the stream of an ended session once it
// has taken none of its last events for endFlushTimeout.
func TestStalledEventStreamEnds(t *testing.T) {
	defer func(d time.Duration) { endFlushTimeout = d }(endFlushTimeout)
	endFlushTimeout = 100 * time.Millisecond
	l := newLive(t, Limits{})
	events := func() (*stalledStream, <-chan error) {
		ctx, cancel := context.WithCancel(l.ctx)
		st := &stalledStream{ctx: ctx}
		done := make(chan error, 1)
		go func() {
			done <- l.svc.Events(&sockdv1.EventsRequest{SessionId: l.sess.id}, st)
			cancel()
		}()
		t.Cleanup(cancel)
		eventually(t, "the stream's first send", func() bool { return st.sends.Load() > 0 })
		return st, done
	}
	ended := func(what string, done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatalf("%s whose client reads nothing did not end", what)
			return nil
		}
	}
	_, first := events()
	_, second := events() // replaces the first
	if err := ended("a replaced stream", first); status.Code(err) != codes.Aborted {
		t.Fatalf("replaced stream ended with %v, want ABORTED", err)
	}
	l.svc.sessions.end(l.sess)
	if err := ended("an ended session's stream", second); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("ended session's stream ended with %v, want DEADLINE_EXCEEDED", err)
	}
}

// scriptedStream is an Events stream whose Send does what the test says:
// send returns its answer for the nth Send (from 1); gRPC ends the stream
// (ctx) when the handler returns.
type scriptedStream struct {
	sockdv1.SocketService_EventsServer
	ctx   context.Context
	sends atomic.Int32
	send  func(n int32, ev *sockdv1.EventsResponse) error
}

func (s *scriptedStream) Context() context.Context { return s.ctx }

func (s *scriptedStream) Send(ev *sockdv1.EventsResponse) error {
	return s.send(s.sends.Add(1), ev)
}

// runEvents runs an Events handler on stream, returning its result, and
// ends the stream's ctx when it returns, as gRPC does.
func runEvents(l *live, ctx context.Context, cancel context.CancelFunc, stream sockdv1.SocketService_EventsServer) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- l.svc.Events(&sockdv1.EventsRequest{SessionId: l.sess.id}, stream)
		cancel()
	}()
	return done
}

// A replaced stream ends ABORTED EVENT_STREAM_REPLACED, also when its sender
// sees the replacement before its handler does (two streams attaching at
// once: the handler of the one replaced may not be waiting yet).
func TestReplacedStreamEndsAborted(t *testing.T) {
	l := newLive(t, Limits{})
	ok := func(int32, *sockdv1.EventsResponse) error { return nil }
	for range 3000 {
		ctxA, cancelA := context.WithCancel(l.ctx)
		ctxB, cancelB := context.WithCancel(l.ctx)
		a := runEvents(l, ctxA, cancelA, &scriptedStream{ctx: ctxA, send: ok})
		b := runEvents(l, ctxB, cancelB, &scriptedStream{ctx: ctxB, send: ok})
		// The stream attached last runs until its ctx ends: the first to
		// end is the one replaced.
		var err error
		select {
		case err = <-a:
			cancelB()
			<-b
		case err = <-b:
			cancelA()
			<-a
		}
		if status.Code(err) != codes.Aborted || reasonOf(err) != reasons.StreamReplaced {
			t.Fatalf("the replaced stream ended with %v, want ABORTED %s", err, reasons.StreamReplaced)
		}
	}
}

// slowReader attaches to l's session a stream whose client takes an event
// every 30 ms, and, once it has caught up, logs n completions of 10 bytes.
// The stream's client goes away with cancel.
func slowReader(t *testing.T, l *live, n int) (slow *scriptedStream, done <-chan error, cancel context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(l.ctx)
	slow = &scriptedStream{ctx: ctx, send: func(_ int32, _ *sockdv1.EventsResponse) error {
		select {
		case <-time.After(30 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	done = runEvents(l, ctx, cancel, slow)
	eventually(t, "caught up", func() bool { return slow.sends.Load() >= 1 })
	l.sess.mu.Lock()
	for range n {
		l.sess.events.append(recvCompletion(10))
	}
	l.sess.mu.Unlock()
	return slow, done, cancel
}

// The stream of an ended session flushes its events as long as its client
// takes them: the flush timeout is the time without progress. What it still
// holds counts for its principal until the stream ends.
func TestEndedSessionFlushesToASlowReader(t *testing.T) {
	defer func(d time.Duration) { endFlushTimeout = d }(endFlushTimeout)
	// Events 30 ms apart take 1.5 s, past the timeout, which a loaded
	// machine's late timers do not reach between two of them.
	endFlushTimeout = time.Second
	l := newLive(t, Limits{})
	slow, done, _ := slowReader(t, l, 50)
	l.svc.sessions.end(l.sess)
	if held := l.sess.load.bytes.Load() + l.sess.load.replay.Load(); held < 100 {
		t.Errorf("the principal counts %d bytes of the ended session's log while its stream flushes 500", held)
	}
	if err := <-done; err != nil {
		t.Fatalf("an ended session's stream, read every 30 ms, ended %v after %d sends", err, slow.sends.Load())
	}
	if got := slow.sends.Load(); got != 51 {
		t.Fatalf("%d sends, want caught_up and the 50 events", got)
	}
	if held := l.sess.load.bytes.Load() + l.sess.load.replay.Load(); held != 0 {
		t.Errorf("the principal counts %d bytes of the ended session's log after its stream ended", held)
	}
}

// A principal whose sessions have all ended while a stream still flushes
// one's log keeps its count: a new session of it counts on the same bytes,
// and is refused what they leave no room for; the count is forgotten once
// it holds nothing.
func TestDrainedPrincipalKeepsItsCount(t *testing.T) {
	const limit = 64 << 10
	l := newLive(t, Limits{MaxPrincipalBytes: limit})
	_, done, goAway := slowReader(t, l, limit/eventCost+10) // more than the bound holds
	l.svc.sessions.end(l.sess)                              // its last session: the flush goes on
	next, _, err := l.svc.sessions.create(l.sess.principal, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if next.load != l.sess.load {
		t.Fatal("a new session of a principal whose dead session's log still counts has a load of its own")
	}
	call := metadata.NewIncomingContext(peer.NewContext(context.Background(), &peer.Peer{AuthInfo: peerAuth{principal: next.principal}}),
		metadata.Pairs(SessionMetadataKey, next.id))
	if _, err := l.svc.Monitor(call, &sockdv1.MonitorRequest{SocketId: strings.Repeat("x", 32)}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a call owing an event while the dead session's log fills the bound: %v, want RESOURCE_EXHAUSTED", err)
	}
	l.svc.sessions.end(next)
	goAway()
	<-done
	l.svc.sessions.mu.Lock()
	l.svc.sessions.sweepLocked()
	_, kept := l.svc.sessions.byPrincipal[l.sess.principal]
	l.svc.sessions.mu.Unlock()
	if kept {
		t.Error("the principal's count is kept after it holds nothing")
	}
}

// However steadily its client takes them, the flush of an ended session's
// events ends after endFlushLimit.
func TestEndedSessionFlushIsBounded(t *testing.T) {
	defer func(d time.Duration) { endFlushLimit = d }(endFlushLimit)
	endFlushLimit = 200 * time.Millisecond
	l := newLive(t, Limits{})
	_, done, _ := slowReader(t, l, 100) // 3 s at the client's pace
	start := time.Now()
	l.svc.sessions.end(l.sess)
	if err := <-done; status.Code(err) != codes.DeadlineExceeded || reasonOf(err) != reasons.FlushTimeout {
		t.Fatalf("a flush past its limit ended %v, want DEADLINE_EXCEEDED %s", err, reasons.FlushTimeout)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the flush ended after %v", took)
	}
	if held := l.sess.load.bytes.Load() + l.sess.load.replay.Load(); held != 0 {
		t.Errorf("the principal counts %d bytes of the ended session's log after its stream ended", held)
	}
}

// An event a stream sent cannot be taken back by a Cancel and answered a
// second time, though its client went away while the sender was still in
// its batch.
func TestCancelDoesNotAnswerASentEvent(t *testing.T) {
	l := newLive(t, Limits{})
	l.sess.mu.Lock()
	for h := range uint64(2) {
		ev := recvCompletion(10)
		ev.SocketId = "s"
		ev.GetCompletion().Handle = h + 1
		ev.GetCompletion().Operation = sockdv1.Operation_OPERATION_RECV
		l.sess.events.append(ev)
	}
	l.sess.mu.Unlock()
	ctx, cancel := context.WithCancel(l.ctx)
	second, release := make(chan struct{}), make(chan struct{})
	stream := &scriptedStream{ctx: ctx, send: func(n int32, _ *sockdv1.EventsResponse) error {
		if n == 1 {
			return nil // handle 1's completion went out
		}
		close(second)
		<-release // the sender is descheduled here, longer than the handler waits for it
		return context.Canceled
	}}
	done := runEvents(l, ctx, cancel, stream)
	<-second
	cancel() // the client goes away
	<-done
	got, _, _ := l.sess.withdrawEvents("s", engine.OpRecv, 1, true, true)
	close(release)
	if got != nil {
		t.Fatalf("a Cancel took back the completion the stream had sent, to answer it again: %v", got)
	}
}

// An invalid value or address cut short for its answer is cut between
// characters: half a UTF-8 character would not marshal, and the client would
// get INTERNAL instead of the in-band error.
func TestClippedValuesStayUTF8(t *testing.T) {
	l := newLive(t, Limits{})
	sock, _ := l.connected(t)
	long := "x" + strings.Repeat("é", 150)
	resp, err := l.svc.SetOpt(l.ctx, &sockdv1.SetOptRequest{SocketId: sock.ID(),
		Key:   &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_OTP, Name: "controlling_process"},
		Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: long}}})
	if err != nil || resp.GetError() == nil {
		t.Fatalf("setopt controlling_process of a long name: %v %v", resp, err)
	}
	if _, err := proto.Marshal(resp); err != nil {
		t.Fatalf("the answer does not marshal: %v", err)
	}
	for n := range 8 {
		if got := clip(long, 64+n); !utf8.ValidString(got) || len(got) > 64+n+3 {
			t.Errorf("clip(%d) = %q", 64+n, got)
		}
	}
}

// A sendmsg that may wait counts what it holds while it waits among its
// principal's bytes: its data, and its iov's elements, which cost far more
// than their bytes when they are small (a reviewer's 512 waiting calls of
// 65,000 1-byte elements held 2.4 GB for 33 MB counted).
func TestWaitingSendMsgCountsItsElements(t *testing.T) {
	const limit = 64 << 10
	l := newLive(t, Limits{MaxPrincipalBytes: limit})
	sock, peerConn := l.connected(t)
	once := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: 0}}
	for {
		r, err := l.svc.Send(l.ctx, &sockdv1.SendRequest{SocketId: sock.ID(), Data: make([]byte, 32<<10), Timeout: once})
		if err != nil {
			t.Fatal(err)
		}
		if r.GetBytesUnsent() > 0 {
			break // the socket is full: a send that may wait waits
		}
	}
	infinity := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}
	elems := make([][]byte, limit/iovElementHeld) // their bytes alone: 819
	for i := range elems {
		elems[i] = []byte{'x'}
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := l.svc.SendMsg(l.ctx, &sockdv1.SendMsgRequest{SocketId: sock.ID(), Iov: elems, Timeout: infinity})
		waiting <- err
	}()
	eventually(t, "the sendmsg waiting", func() bool { return sock.Info().NumWriters == 1 })
	briefly := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: 100}} // a call that may wait, not for ever
	if _, err := l.svc.SendMsg(l.ctx, &sockdv1.SendMsgRequest{SocketId: sock.ID(), Iov: [][]byte{{'y'}}, Timeout: briefly}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a sendmsg while %d 1-byte elements wait under a bound of %d bytes: %v, want RESOURCE_EXHAUSTED", len(elems), limit, err)
	}
	go io.Copy(io.Discard, peerConn)
	if err := <-waiting; err != nil {
		t.Fatal(err)
	}
}
