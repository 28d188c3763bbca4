package server

import (
	"context"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/engine"
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
