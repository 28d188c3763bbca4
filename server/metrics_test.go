package server

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// The collector reads sessions, sockets and lanes when scraped, and counts
// the events delivered.
func TestCollector(t *testing.T) {
	l := newLive(t, Limits{})
	sock, peerConn := l.connected(t)
	resp, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Length: 1, Timeout: &sockdv1.Timeout{
		Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{}}}})
	if err != nil || resp.GetAsync() == nil {
		t.Fatalf("nowait recv on an empty socket: %v %v", resp, err)
	}
	c := l.svc.Collector()
	const readers = `
# HELP sockd_lane_requestors Requestors in the sockets' lanes (current and queued), by lane.
# TYPE sockd_lane_requestors gauge
sockd_lane_requestors{lane="acceptor"} 0
sockd_lane_requestors{lane="reader"} 1
sockd_lane_requestors{lane="writer"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(readers), "sockd_lane_requestors"); err != nil {
		t.Error(err)
	}
	if _, err := peerConn.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the select event counted", func() bool {
		return testutil.CollectAndCompare(c, strings.NewReader(`
# HELP sockd_events_total Events delivered to sessions, by kind.
# TYPE sockd_events_total counter
sockd_events_total{kind="abort"} 0
sockd_events_total{kind="completion"} 0
sockd_events_total{kind="counter_wrap"} 0
sockd_events_total{kind="down"} 0
sockd_events_total{kind="select"} 1
`), "sockd_events_total") == nil
	})
	const sockets = `
# HELP sockd_sockets Open sockets, by domain, type and protocol.
# TYPE sockd_sockets gauge
sockd_sockets{domain="local",protocol="ip",type="stream"} 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(sockets), "sockd_sockets"); err != nil {
		t.Error(err)
	}
	// The undelivered select costs its principal, and the daemon, eventCost.
	const held = `
# HELP sockd_held_bytes Bytes held for all principals under the daemon's bound: owed (undelivered events and completions, waiting calls' data and buffers, pipe uploads) and replay (sent events kept for a resume).
# TYPE sockd_held_bytes gauge
sockd_held_bytes{kind="owed"} 256
sockd_held_bytes{kind="replay"} 0
# HELP sockd_held_bytes_limit The daemon's bound on held bytes: past it owed bytes refuse new calls that would add to them, and replay is given up.
# TYPE sockd_held_bytes_limit gauge
sockd_held_bytes_limit 1.073741824e+09
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(held), "sockd_held_bytes", "sockd_held_bytes_limit"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(c, "sockd_sessions", "sockd_events_unsent"); n != 2 {
		t.Errorf("%d session series, want 2", n)
	}
	// No connection here: what connections hold is nothing.
	const connections = `
# HELP sockd_connection_bytes What gRPC holds for all clients' connections, under the daemon's bounds: requests still arriving or not yet read (requests), and answers not yet taken (answers).
# TYPE sockd_connection_bytes gauge
sockd_connection_bytes{kind="answers"} 0
sockd_connection_bytes{kind="requests"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(connections), "sockd_connection_bytes"); err != nil {
		t.Error(err)
	}
}
