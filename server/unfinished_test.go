package server

import (
	"log/slog"
	"net"
	"testing"
)

// A principal's budget of unfinished requests is shared by its connections
// and forgotten with the last of them; no budget is below room for two of
// the largest requests.
func TestUnfinishedBudgetsFollowConnections(t *testing.T) {
	u := newUnfinishedRequests(slog.New(slog.DiscardHandler), Limits{MaxPrincipalBytes: 1 << 20, MaxDaemonBytes: 2 << 20})
	if u.perPrincipal != minUnfinished || u.daemon.Used() != 0 {
		t.Fatalf("per principal %d, want the floor %d", u.perPrincipal, minUnfinished)
	}
	alice, bob := Principal{Kind: "uid", UID: 1000}, Principal{Kind: "uid", UID: 1001}
	var conns []net.Conn
	for _, p := range []Principal{alice, alice, bob} {
		a, b := net.Pipe()
		defer b.Close()
		conns = append(conns, u.watch(a, p))
	}
	if len(u.byPrincipal) != 2 || u.byPrincipal[alice].conns != 2 {
		t.Fatalf("budgets %v", u.byPrincipal)
	}
	conns[0].Close()
	conns[0].Close() // once only
	if u.byPrincipal[alice] == nil || u.byPrincipal[alice].conns != 1 {
		t.Fatalf("alice's budget after one of two connections closed (twice): %v", u.byPrincipal[alice])
	}
	conns[1].Close()
	conns[2].Close()
	if len(u.byPrincipal) != 0 {
		t.Fatalf("budgets left after every connection closed: %v", u.byPrincipal)
	}
}
