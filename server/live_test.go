package server

import (
	"context"
	"io"
	"net"
	"path/filepath"
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
	e, err := engine.New(engine.Config{Loops: 1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	svc := New(Config{Engine: e, Limits: limits})
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

// An Accept whose call ended (the client cancelled it) as its connection
// came closes that connection: the client would never learn its id, and it
// would stay open and owned until the session ends.
func TestAcceptOfACancelledCallClosesTheConnection(t *testing.T) {
	l := newLive(t, Limits{})
	peerConn, err := net.Dial("unix", l.path)
	if err != nil {
		t.Fatal(err)
	}
	defer peerConn.Close()
	ctx, cancel := context.WithCancel(l.ctx)
	cancel()
	_, err = l.svc.Accept(ctx, &sockdv1.AcceptRequest{SocketId: l.ln.ID(),
		Timeout: &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}})
	if status.Code(err) != codes.Canceled {
		t.Fatalf("accept of a cancelled call: %v, want CANCELED", err)
	}
	peerConn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := peerConn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the peer read %d bytes, %v: want the connection closed (EOF)", n, err)
	}
}
