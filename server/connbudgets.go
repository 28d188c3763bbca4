package server

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"

	"github.com/sockd/sockd/internal/inflight"
	"github.com/sockd/sockd/internal/pipewire"
)

// connectionBudgets are the budgets of what gRPC holds for clients'
// connections, apart from the bytes sessions hold, by bounds of the same
// sizes: each principal's, of Limits.MaxPrincipalBytes over its
// connections, and the daemon's, of Limits.MaxDaemonBytes. One pair is of
// messages clients have begun and not finished, or that handlers have not
// read (internal/inflight), which gRPC holds before any of the service's
// checks: a connection whose next frame would pass one is closed. The
// other is of answers the clients have not taken yet (answerAccount):
// past it a principal's new calls are refused. A third, when
// Limits.MaxStreams is set, is of the calls and streams open, each
// inflight.StreamCost: a principal's of MaxStreams of them over all its
// connections, the daemon's of the larger of Limits.MaxDaemonBytes and a
// principal's; a stream past one is refused (streamsRefusal), alone.
type connectionBudgets struct {
	log          *slog.Logger
	perPrincipal int64
	requests     *inflight.Budget // the daemon's
	answers      *inflight.Budget // the daemon's
	// streamsPerPrincipal is a principal's bound on open streams' cost (0:
	// none), streams the daemon's.
	streamsPerPrincipal int64
	streams             *inflight.Budget

	mu          sync.Mutex
	byPrincipal map[Principal]*principalBudget
}

// principalBudget is a principal's budgets, kept while it has connections.
type principalBudget struct {
	*inflight.Budget
	answers *inflight.Budget
	streams *inflight.Budget // nil without Limits.MaxStreams
	conns   int
}

// minUnfinished is the least a budget of unfinished requests may be: room
// for two of the largest requests, so that a bound small enough to let the
// largest request pass alone does not close a client's connection.
const minUnfinished = 2 * (pipewire.MaxRequest + pipewire.MaxRequest/16)

func newConnectionBudgets(log *slog.Logger, l Limits) *connectionBudgets {
	perPrincipal := max(int64(l.MaxPrincipalBytes), minUnfinished)
	daemon := max(int64(l.MaxDaemonBytes), perPrincipal)
	streams := int64(l.MaxStreams) * inflight.StreamCost
	return &connectionBudgets{
		log:                 log,
		perPrincipal:        perPrincipal,
		requests:            inflight.NewBudget("the daemon's", daemon),
		answers:             inflight.NewBudget("the daemon's answers", daemon),
		streamsPerPrincipal: streams,
		streams:             inflight.NewBudget("the daemon's open calls", max(daemon, streams)),
		byPrincipal:         map[Principal]*principalBudget{},
	}
}

// watch returns c, a connection of p's, with its unfinished messages
// charged to p's budget and the daemon's, the account of its answers, and
// the budgets of its open streams (none without Limits.MaxStreams).
func (u *connectionBudgets) watch(c net.Conn, p Principal) (net.Conn, *answerAccount, []*inflight.Budget) {
	u.mu.Lock()
	b := u.byPrincipal[p]
	if b == nil {
		b = &principalBudget{Budget: inflight.NewBudget(p.String()+"'s", u.perPrincipal),
			answers: inflight.NewBudget(p.String()+"'s answers", u.perPrincipal)}
		if u.streamsPerPrincipal > 0 {
			b.streams = inflight.NewBudget(p.String()+"'s open calls", u.streamsPerPrincipal)
		}
		u.byPrincipal[p] = b
	}
	b.conns++
	u.mu.Unlock()
	answers := &answerAccount{budgets: [2]*inflight.Budget{b.answers, u.answers}}
	var streams []*inflight.Budget
	if b.streams != nil {
		streams = []*inflight.Budget{b.streams, u.streams}
	}
	wrapped := inflight.Wrap(c, inflight.Config{
		ReadBuffer:    readBufferFor(c),
		Budgets:       []*inflight.Budget{b.Budget, u.requests},
		StreamBudgets: streams,
		Refused: func(err error) {
			var exceeded *inflight.ExceededError
			var streams *inflight.StreamsError
			switch {
			case errors.As(err, &exceeded):
				u.log.Warn("connection closed: its unfinished requests would pass a bound", "principal", p.String(),
					"remote", c.RemoteAddr().String(), "bound", exceeded.Budget, "bytes", exceeded.Limit)
			case errors.As(err, &streams):
				u.log.Warn("connection closed: its client opened more streams than it may", "principal", p.String(),
					"remote", c.RemoteAddr().String(), "streams", streams.Limit)
			}
		},
		Closed: func() {
			answers.close()
			u.release(p)
		},
	})
	return wrapped, answers, streams
}

// readBufferFor is the read buffer an inflight.Conn of c needs: none for
// TLS, which reads a record at a time into buffers of its own (with one,
// each idle TLS connection held 128 KiB for its life).
func readBufferFor(c net.Conn) int {
	if _, ok := c.(*tls.Conn); ok {
		return 0
	}
	return pipewire.TransportBuffer
}

// streamsRefusal refuses a new stream of a connection whose open streams
// (streams: the principal's budget and the daemon's, as watch gave them)
// count past a bound, this one among them: asked in gRPC's tap, which runs
// before the connection's later streams are counted
// (inflight.Conn.LastOpened). The daemon's last sixteenth is kept for
// admins (admin says, asked only then), as its held bytes are.
func streamsRefusal(streams []*inflight.Budget, admin func() bool) error {
	if len(streams) == 0 {
		return nil
	}
	principal, daemon := streams[0], streams[1]
	if principal.Used() > principal.Limit() {
		return quotaExceeded(callsOpen, int(principal.Limit()/inflight.StreamCost))
	}
	// reserveRefusal refuses at its limit; this stream is counted already.
	used := daemon.Used() - inflight.StreamCost
	return reserveRefusal(callsOpenDaemon, used/inflight.StreamCost, daemon.Limit()/inflight.StreamCost, admin)
}

// release forgets p's budget when its last connection has closed.
func (u *connectionBudgets) release(p Principal) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if b := u.byPrincipal[p]; b != nil {
		if b.conns--; b.conns == 0 {
			delete(u.byPrincipal, p)
		}
	}
}
