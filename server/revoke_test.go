package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Policies with uid 2000 an admin, and without.
const (
	ops   = "version: 1\nrules:\n- principals: [\"uid:2000\"]\n  admin: true\n  unrestricted: true\n- principals: [\"*\"]\n  unrestricted: true\n"
	noOps = "version: 1\nrules:\n- principals: [\"*\"]\n  unrestricted: true\n"
)

// sessionOf makes a session of p on l's service, ended with the test, and
// the context of p's calls in it.
func sessionOf(t *testing.T, l *live, p Principal) (*Session, context.Context) {
	t.Helper()
	sess, _, err := l.svc.sessions.create(p, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.svc.sessions.end(sess) })
	return sess, metadata.NewIncomingContext(asPrincipal(p), metadata.Pairs(SessionMetadataKey, sess.id))
}

// A reload that takes a policy's admin right away ends the calls in progress
// that act by it, on another principal's session or socket: an Events
// stream, a blocking recv; and a nowait request its session left on
// another's socket is aborted (eacces), and its monitor of that socket ends
// with a down (eacces). The demoted principal's calls and monitors on its
// own sockets go on, and so do an admin's on a reload that keeps the right.
func TestReloadEndsCallsOfARevokedAdmin(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, ops))
	admin := Principal{Kind: "uid", UID: 2000}
	own, ownCtx := sessionOf(t, l, admin)
	theirs := metadata.NewIncomingContext(asPrincipal(admin), metadata.Pairs(SessionMetadataKey, l.sess.id))

	unary := l.svc.unaryInterceptor()
	recv := func(ctx context.Context, id string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := unary(ctx, &sockdv1.RecvRequest{SocketId: id, Length: 1}, &grpc.UnaryServerInfo{FullMethod: "/sockd.v1.SocketService/Recv"},
				func(ctx context.Context, req any) (any, error) { return l.svc.Recv(ctx, req.(*sockdv1.RecvRequest)) })
			done <- err
		}()
		return done
	}
	events := func(ctx context.Context) <-chan error {
		done := make(chan error, 1)
		discard := func(int32, *sockdv1.EventsResponse) error { return nil }
		go func() {
			done <- l.svc.streamInterceptor()(l.svc, &scriptedStream{ctx: ctx, send: discard}, &grpc.StreamServerInfo{FullMethod: "/sockd.v1.SocketService/Events"},
				func(srv any, ss grpc.ServerStream) error {
					// The handler's stream, in the context the interceptor gives it.
					return l.svc.Events(&sockdv1.EventsRequest{SessionId: l.sess.id}, &scriptedStream{ctx: ss.Context(), send: discard})
				})
		}()
		return done
	}

	victim, _ := l.connected(t)
	victim2, _ := l.connected(t)
	ownSock, ownPeer := l.connected(t)
	if err := ownSock.SetOwner(l.sess, own); err != nil || !own.adopt(ownSock) { // the admin's own socket
		t.Fatalf("handing a socket to the admin's session: %v", err)
	}
	l.sess.disown(ownSock)
	theirRecv := recv(theirs, victim.ID())
	ownRecv := recv(ownCtx, ownSock.ID())
	theirEvents := events(theirs)
	left, err := l.svc.Recv(ownCtx, &sockdv1.RecvRequest{SocketId: victim2.ID(), Length: 1, Timeout: &sockdv1.Timeout{
		Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{}}}})
	if err != nil || left.GetAsync() == nil {
		t.Fatalf("the admin's nowait recv on another's socket: %v %v", left, err)
	}
	watched, err := l.svc.Monitor(ownCtx, &sockdv1.MonitorRequest{SocketId: victim2.ID()})
	if err != nil {
		t.Fatalf("the admin's monitor of another's socket: %v", err)
	}
	if _, err := l.svc.Monitor(ownCtx, &sockdv1.MonitorRequest{SocketId: ownSock.ID()}); err != nil {
		t.Fatalf("the admin's monitor of its own socket: %v", err)
	}
	eventually(t, "both recvs waiting", func() bool { return victim.Info().NumReaders == 1 && ownSock.Info().NumReaders == 1 })
	eventually(t, "the stream attached", func() bool { attached, _, _ := l.sess.gauges(); return attached })

	l.svc.SetPolicy(mustParse(t, ops)) // a reload that keeps the right ends nothing
	select {
	case err := <-theirRecv:
		t.Fatalf("a reload that keeps the right ended a recv: %v", err)
	case err := <-theirEvents:
		t.Fatalf("a reload that keeps the right ended a stream: %v", err)
	case <-time.After(100 * time.Millisecond):
	}

	l.svc.SetPolicy(mustParse(t, noOps))
	for what, done := range map[string]<-chan error{"recv on another's socket": theirRecv, "events of another's session": theirEvents} {
		select {
		case err := <-done:
			if status.Code(err) != codes.PermissionDenied || reasonOf(err) != reasons.AdminRequired {
				t.Errorf("%s after the right was taken away: %v, want PERMISSION_DENIED %s", what, err, reasons.AdminRequired)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%s goes on after the right was taken away", what)
		}
	}
	select {
	case err := <-ownRecv:
		t.Fatalf("the demoted principal's recv on its own socket ended: %v", err)
	default:
	}
	own.mu.Lock()
	held := own.events.after(0, 10)
	own.mu.Unlock()
	if len(held) != 2 || held[0].GetAbort().GetHandle() != left.GetAsync().GetHandle() || held[0].GetAbort().GetReason().GetReason() != "eacces" ||
		held[1].GetDown().GetMonitorId() != watched.GetMonitorId() || held[1].GetDown().GetReason() != "eacces" {
		t.Fatalf("the admin's session holds %v, want the abort (eacces) of its nowait recv on another's socket and the down (eacces) of its monitor of it", held)
	}
	if n := victim2.Info().NumReaders; n != 0 {
		t.Fatalf("%d readers left on the other's socket", n)
	}
	ownPeer.Write([]byte("x"))
	if err := <-ownRecv; err != nil {
		t.Fatalf("the recv on its own socket: %v", err)
	}
}

// A call that starts before a reload makes its principal an admin, and uses
// the right after it (a Pipe names its socket in its first message), is
// ended by the reload that takes the right away as well.
func TestReloadEndsACallGrantedAfterItStarted(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, noOps))
	victim, _ := l.connected(t)
	theirs := metadata.NewIncomingContext(asPrincipal(Principal{Kind: "uid", UID: 2000}), metadata.Pairs(SessionMetadataKey, l.sess.id))
	started, granted := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := l.svc.unaryInterceptor()(theirs, &sockdv1.RecvRequest{SocketId: victim.ID(), Length: 1}, &grpc.UnaryServerInfo{FullMethod: "/sockd.v1.SocketService/Recv"},
			func(ctx context.Context, req any) (any, error) {
				close(started)
				<-granted
				return l.svc.Recv(ctx, req.(*sockdv1.RecvRequest))
			})
		done <- err
	}()
	<-started // the interceptor ran before the grant
	l.svc.SetPolicy(mustParse(t, ops))
	close(granted)
	eventually(t, "the recv waiting", func() bool { return victim.Info().NumReaders == 1 })
	l.svc.SetPolicy(mustParse(t, noOps))
	select {
	case err := <-done:
		if status.Code(err) != codes.PermissionDenied || reasonOf(err) != reasons.AdminRequired {
			t.Fatalf("the recv after the right was taken away: %v, want PERMISSION_DENIED %s", err, reasons.AdminRequired)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a recv granted after it started goes on after the right was taken away")
	}
}

// A nowait request placed by an admin right while a reload takes the right
// away, after the reload has looked at the session's requests, is taken
// back as its call ends.
func TestRevokedCallTakesBackWhatItLeft(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, ops))
	_, ownCtx := sessionOf(t, l, Principal{Kind: "uid", UID: 2000})
	victim, _ := l.connected(t)
	nowait := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{}}}
	_, err := l.svc.unaryInterceptor()(ownCtx, &sockdv1.RecvRequest{SocketId: victim.ID(), Length: 1, Timeout: nowait},
		&grpc.UnaryServerInfo{FullMethod: "/sockd.v1.SocketService/Recv"},
		func(ctx context.Context, req any) (any, error) {
			resp, err := l.svc.Recv(ctx, req.(*sockdv1.RecvRequest))
			// The reload lands now, its look at the sessions already taken.
			l.svc.pol.Store(mustParse(t, noOps))
			return resp, err
		})
	if err != nil {
		t.Fatal(err)
	}
	if n := victim.Info().NumReaders; n != 0 {
		t.Fatalf("%d requests left on the other's socket after the call ended without the right", n)
	}
}

// A demoted admin's call in another principal's session (root's, here)
// takes back nothing of that session's as it ends: root's requests on
// others' sockets are root's own right.
func TestRevokedCallLeavesOthersSessionsAlone(t *testing.T) {
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, ops))
	rs, rootCtx := sessionOf(t, l, Principal{Kind: "uid", UID: 0})
	victim, _ := l.connected(t) // uid 1000's
	nowait := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{}}}
	if r, err := l.svc.Recv(rootCtx, &sockdv1.RecvRequest{SocketId: victim.ID(), Length: 1, Timeout: nowait}); err != nil || r.GetAsync() == nil {
		t.Fatalf("root's nowait recv: %v %v", r, err)
	}
	discard := func(int32, *sockdv1.EventsResponse) error { return nil }
	done := make(chan error, 1)
	go func() {
		done <- l.svc.streamInterceptor()(l.svc, &scriptedStream{ctx: asPrincipal(Principal{Kind: "uid", UID: 2000}), send: discard},
			&grpc.StreamServerInfo{FullMethod: "/sockd.v1.SocketService/Events"},
			func(srv any, ss grpc.ServerStream) error {
				return l.svc.Events(&sockdv1.EventsRequest{SessionId: rs.id}, &scriptedStream{ctx: ss.Context(), send: discard})
			})
	}()
	eventually(t, "the admin's stream on root's session", func() bool { attached, _, _ := rs.gauges(); return attached })
	l.svc.SetPolicy(mustParse(t, noOps))
	if err := <-done; status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the demoted admin's stream: %v, want PERMISSION_DENIED", err)
	}
	if n := victim.Info().NumReaders; n != 1 {
		t.Fatalf("root's nowait recv taken back by the end of a demoted admin's stream (%d readers)", n)
	}
}

// Two admins lose the right in one reload, one of them having acted in the
// other's session as the reload passed: what it left there is taken back
// as its call ends, since that session's principal has no right of its own
// either.
func TestRevokedCallInAnotherDemotedAdminsSession(t *testing.T) {
	const twoOps = "version: 1\nrules:\n- principals: [\"uid:2000\", \"uid:3000\"]\n  admin: true\n  unrestricted: true\n- principals: [\"*\"]\n  unrestricted: true\n"
	l := newLive(t, Limits{})
	l.svc.SetPolicy(mustParse(t, twoOps))
	other, _ := sessionOf(t, l, Principal{Kind: "uid", UID: 3000})
	ctx := metadata.NewIncomingContext(asPrincipal(Principal{Kind: "uid", UID: 2000}), metadata.Pairs(SessionMetadataKey, other.id))
	victim, _ := l.connected(t) // uid 1000's
	nowait := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{}}}
	if _, err := l.svc.unaryInterceptor()(ctx, &sockdv1.RecvRequest{SocketId: victim.ID(), Length: 1, Timeout: nowait},
		&grpc.UnaryServerInfo{FullMethod: "/sockd.v1.SocketService/Recv"},
		func(ctx context.Context, req any) (any, error) {
			resp, err := l.svc.Recv(ctx, req.(*sockdv1.RecvRequest))
			l.svc.pol.Store(mustParse(t, noOps)) // the reload lands after its look
			return resp, err
		}); err != nil {
		t.Fatal(err)
	}
	if n := victim.Info().NumReaders; n != 0 {
		t.Fatalf("%d requests left on uid 1000's socket by a session of uid 3000, no admin any more", n)
	}
}
