package server

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/inflight"
	"github.com/sockd/sockd/internal/pipewire"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A principal's budget of unfinished requests is shared by its connections
// and forgotten with the last of them; no budget is below room for two of
// the largest requests.
func TestUnfinishedBudgetsFollowConnections(t *testing.T) {
	u := newConnectionBudgets(slog.New(slog.DiscardHandler), Limits{MaxPrincipalBytes: 1 << 20, MaxDaemonBytes: 64 << 20})
	if u.perPrincipal != minUnfinished || u.requests.Used() != 0 {
		t.Fatalf("per principal %d, want the floor %d", u.perPrincipal, minUnfinished)
	}
	alice, bob := Principal{Kind: "uid", UID: 1000}, Principal{Kind: "uid", UID: 1001}
	var conns []net.Conn
	var answers []*answerAccount
	for _, p := range []Principal{alice, alice, bob} {
		a, b := net.Pipe()
		defer b.Close()
		c, account, _ := u.watch(a, p)
		conns, answers = append(conns, c), append(answers, account)
	}
	if len(u.byPrincipal) != 2 || u.byPrincipal[alice].conns != 2 {
		t.Fatalf("budgets %v", u.byPrincipal)
	}
	// Answers of alice's connections count against her answer budget and
	// the daemon's; past hers, her calls are refused, not bob's; a closed
	// connection gives back what it held, and takes nothing more.
	answers[0].Charge(int(u.perPrincipal) - 100)
	answers[1].Charge(200)
	answers[1].Release(100)
	notAdmin := func() bool { return false }
	if err := answers[0].refusal(notAdmin); err == nil {
		t.Fatal("alice's calls are not refused with her answer budget full")
	}
	if err := answers[2].refusal(notAdmin); err != nil {
		t.Fatalf("bob's calls are refused for alice's answers: %v", err)
	}
	if used := u.answers.Used(); used != u.perPrincipal {
		t.Fatalf("the daemon's answer budget holds %d, want %d", used, u.perPrincipal)
	}
	conns[0].Close()
	conns[0].Close()       // once only
	answers[0].Release(50) // the transport lets go after the close
	answers[0].Charge(50)
	if used := u.answers.Used(); used != 100 || answers[1].refusal(notAdmin) != nil {
		t.Fatalf("after alice's first connection closed: the daemon's answers hold %d, want 100 (her other connection's)", used)
	}
	if u.byPrincipal[alice] == nil || u.byPrincipal[alice].conns != 1 {
		t.Fatalf("alice's budget after one of two connections closed (twice): %v", u.byPrincipal[alice])
	}
	conns[1].Close()
	conns[2].Close()
	if len(u.byPrincipal) != 0 {
		t.Fatalf("budgets left after every connection closed: %v", u.byPrincipal)
	}
}

// The daemon's answer budget keeps its last sixteenth for admins, as its
// held bytes do: principals that read no answers do not lock root out.
func TestAnswerBudgetKeepsAnAdminReserve(t *testing.T) {
	u := newConnectionBudgets(slog.New(slog.DiscardHandler), Limits{MaxPrincipalBytes: 64 << 20, MaxDaemonBytes: 64 << 20})
	a, b := net.Pipe()
	defer b.Close()
	conn, answers, _ := u.watch(a, Principal{Kind: "uid", UID: 1000})
	defer conn.Close()
	admin, other := func() bool { return true }, func() bool { return false }
	shared := u.answers.Limit() - u.answers.Limit()/adminReserve
	u.answers.Add(shared) // other principals' answers
	if answers.refusal(other) == nil {
		t.Fatal("a non-admin is not refused with the daemon's answers past all but the reserve")
	}
	if err := answers.refusal(admin); err != nil {
		t.Fatalf("an admin is refused within the reserve: %v", err)
	}
	// Live streams wait where calls are refused: a non-admin's in the
	// reserve, an admin's not (a reviewer's unread pipes of one uid, whose
	// streams went on into the reserve, locked root out).
	stream := newStreamAccount(answers)
	if err := stream.waitRoom(context.Background(), other); err != nil {
		t.Fatalf("a stream that holds nothing waits: %v", err)
	}
	stream.Charge(100) // an answer gRPC holds
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := stream.waitRoom(short, other); err == nil {
		t.Fatal("a non-admin's stream does not wait with the daemon's answers in the reserve")
	}
	if err := stream.waitRoom(context.Background(), admin); err != nil {
		t.Fatalf("an admin's stream waits within the reserve: %v", err)
	}
	u.answers.Add(u.answers.Limit() - shared)
	if answers.refusal(admin) == nil {
		t.Fatal("an admin is not refused with the daemon's answers at the bound")
	}
	released := make(chan error, 1)
	go func() { released <- stream.waitRoom(context.Background(), admin) }()
	time.Sleep(10 * time.Millisecond)
	u.answers.Add(-u.answers.Limit() / adminReserve)
	if err := <-released; err != nil {
		t.Fatalf("an admin's stream waiting at the bound, given room: %v", err)
	}
}

// A stream past its principal's bound of open streams is refused, and one
// past the daemon's shared part of its bound too, unless an admin's: the
// daemon's last sixteenth is kept for them.
func TestStreamsRefusal(t *testing.T) {
	const cost = inflight.StreamCost
	notAdmin, admin := func() bool { return false }, func() bool { return true }
	principal, daemon := inflight.NewBudget("p", 4*cost), inflight.NewBudget("d", 32*cost)
	streams := []*inflight.Budget{principal, daemon}
	principal.Add(4 * cost) // this stream counted: at the bound, not past it
	daemon.Add(4 * cost)
	if err := streamsRefusal(streams, notAdmin); err != nil {
		t.Fatalf("the principal's 4th stream of 4: %v", err)
	}
	principal.Add(cost)
	daemon.Add(cost)
	if err := streamsRefusal(streams, admin); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("the principal's 5th stream of 4: %v, want RESOURCE_EXHAUSTED", err)
	}
	principal.Add(-2 * cost)
	daemon.Add(26 * cost) // 31 of the daemon's 32, this one among them: in its last sixteenth
	if err := streamsRefusal(streams, notAdmin); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a stream in the daemon's reserve, not an admin's: %v, want RESOURCE_EXHAUSTED", err)
	}
	if err := streamsRefusal(streams, admin); err != nil {
		t.Errorf("an admin's stream in the daemon's reserve: %v", err)
	}
	if err := streamsRefusal(nil, notAdmin); err != nil {
		t.Errorf("no bounds: %v", err)
	}
}

// A TLS connection reads records into buffers of its own: its inflight.Conn
// needs no read buffer, which it would hold for the connection's life.
func TestReadBufferForTLSIsNone(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if n := readBufferFor(tls.Server(a, &tls.Config{})); n != 0 {
		t.Errorf("a TLS connection's read buffer: %d bytes, want none", n)
	}
	if n := readBufferFor(a); n != pipewire.TransportBuffer {
		t.Errorf("a plain connection's read buffer: %d bytes, want %d", n, pipewire.TransportBuffer)
	}
}

// A stream charged ahead uses that charge for its first held bytes, is
// charged what passes it, and gives it back once it has ended and gRPC
// holds nothing of it more.
func TestStreamAccountPrepaid(t *testing.T) {
	principal, daemon := inflight.NewBudget("p", 1<<20), inflight.NewBudget("d", 1<<20)
	conn := &answerAccount{budgets: [2]*inflight.Budget{principal, daemon}}
	s := newStreamAccount(conn)
	step := func(what string, do func(), want int64) {
		t.Helper()
		do()
		if principal.Used() != want || daemon.Used() != want {
			t.Fatalf("%s: %d charged, %d on the daemon's, want %d", what, principal.Used(), daemon.Used(), want)
		}
	}
	step("prepay 100", func() { s.prepay(100) }, 100)
	step("hold 60", func() { s.Charge(60) }, 100)
	step("hold 60 more", func() { s.Charge(60) }, 120)
	step("let go of 60", func() { s.Release(60) }, 100)
	step("end while 60 held", s.end, 100)
	if !s.holds() {
		t.Fatal("holds nothing with 60 held")
	}
	step("let go of the last 60", func() { s.Release(60) }, 0)
	s2 := newStreamAccount(conn)
	step("prepay, end holding nothing", func() { s2.prepay(50); s2.end() }, 0)
}
