package server

import (
	"context"
	"sync"
	"time"

	"github.com/sockd/sockd/internal/inflight"
)

// answersHeld and answersHeldDaemon name the bounds on answers not yet
// written in their refusals: a principal's, and all principals' together.
const (
	answersHeld       = "bytes of answers not yet taken by the principal's clients"
	answersHeldDaemon = "bytes of answers not yet taken by all clients"
)

// answerAccount is what gRPC holds of one connection's answers, charged to
// its principal's and the daemon's answer budgets: each unary call's answer,
// each event of an Events stream and each chunk a Pipe read, and each
// answer of a reflection or health stream (pipewire.Accounted,
// pipewire.Charged), from its encoding until the transport has written it
// or dropped it with its stream. gRPC ends a call when its handler
// returns, and then holds the answer for as long as the client's window
// keeps it back: a client that read no answers made the daemon hold 1.5 GB
// for 300 Recv calls. Past a budget the principal's new calls are refused
// (refusal) until its clients have taken what they asked for.
//
// The transport drops what a connection still held when it closes without
// giving the buffers back: closing the account gives back all the
// connection still had on it, and it takes nothing more.
type answerAccount struct {
	budgets [2]*inflight.Budget // the principal's and the daemon's

	mu     sync.Mutex
	held   int64
	closed bool
}

// Charge implements pipewire.Account.
func (a *answerAccount) Charge(n int) { a.add(int64(n)) }

// Release implements pipewire.Account.
func (a *answerAccount) Release(n int) { a.add(-int64(n)) }

func (a *answerAccount) add(n int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.held += n
	for _, b := range a.budgets {
		b.Add(n)
	}
}

// close gives back what the connection's answers held, once it has closed.
func (a *answerAccount) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range a.budgets {
		b.Add(-a.held)
	}
	a.held, a.closed = 0, true
}

// streamAccount is one stream's share of its connection's answer
// account (an Events stream's, a Pipe's downlink): what gRPC holds of its
// answers now. A stream may be charged ahead (prepay) for the first of
// them, for as long as it lives and gRPC holds any.
type streamAccount struct {
	conn *answerAccount

	mu      sync.Mutex
	held    int64 // what gRPC holds of the stream's answers
	prepaid int64 // charged ahead on conn for the first held bytes
	ended   bool  // the stream ended: prepaid goes back once nothing is held
}

// newStreamAccount is a stream's share of conn; nil for a nil conn.
func newStreamAccount(conn *answerAccount) *streamAccount {
	if conn == nil {
		return nil
	}
	return &streamAccount{conn: conn}
}

// prepay charges n ahead, which the stream's first n held bytes then use.
// A stream whose first answer would go out whatever the bound says (one
// holding nothing sends on: waitRoom) is charged it from its start, when
// new streams are refused past the bound: a reviewer's 1,000 idle pipes,
// charged nothing until their peers sent, each then put one chunk past it
// (12 times the bound, into the admins' reserve).
func (s *streamAccount) prepay(n int) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.prepaid += int64(n)
	s.mu.Unlock()
	s.conn.Charge(n)
}

// end gives back what prepay charged, at once or once gRPC holds nothing
// of the stream's more.
func (s *streamAccount) end() {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.ended = true
	back := s.giveBackLocked()
	s.mu.Unlock()
	if back > 0 {
		s.conn.Release(int(back))
	}
}

func (s *streamAccount) giveBackLocked() int64 {
	if !s.ended || s.held > 0 {
		return 0
	}
	back := s.prepaid
	s.prepaid = 0
	return back
}

// Charge implements pipewire.Account: what passes the prepaid is charged.
func (s *streamAccount) Charge(n int) {
	s.mu.Lock()
	extra := max(0, s.held+int64(n)-s.prepaid) - max(0, s.held-s.prepaid)
	s.held += int64(n)
	s.mu.Unlock()
	if extra > 0 {
		s.conn.Charge(int(extra))
	}
}

// Release implements pipewire.Account.
func (s *streamAccount) Release(n int) {
	s.mu.Lock()
	back := max(0, s.held-s.prepaid) - max(0, s.held-int64(n)-s.prepaid)
	s.held -= int64(n)
	back += s.giveBackLocked()
	s.mu.Unlock()
	if back > 0 {
		s.conn.Release(int(back))
	}
}

// holds reports whether gRPC holds any of the stream's answers.
func (s *streamAccount) holds() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held > 0
}

// waitRoom waits, before the stream sends one more answer, while gRPC
// still holds one of its answers and a new call of its principal would be
// refused (admin says whether it may take the daemon's last sixteenth): a
// client that reads none of a stream's answers keeps gRPC holding them,
// queued past the stream's window, and each further stream of its more (a
// reviewer's 500 unread Events streams of a 3.75 MiB completion: 1.9 GB).
// New streams are refused meanwhile. A stream that holds nothing goes on,
// one answer at a time: a client that reads it is not held up by the
// answers its other streams hold (a reviewer's client that read its pipes
// one after the other deadlocked when each waited for room). A nil
// account waits for nothing.
func (s *streamAccount) waitRoom(ctx context.Context, admin func() bool) error {
	if s == nil {
		return nil
	}
	return pollUntil(ctx, func() bool { return !s.holds() || s.conn.refusal(admin) == nil })
}

// pollUntil looks at ready until it holds, sleeping between looks from a
// millisecond up to maxUploadWait, or until ctx ends (its cause): for a
// bound that gives no word when it has room again.
func pollUntil(ctx context.Context, ready func() bool) error {
	for wait := time.Millisecond; !ready(); wait = min(2*wait, maxUploadWait) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
	}
	return nil
}

// refusal refuses a new call while the principal's budget is full, or the
// daemon's, whose last sixteenth is kept for admins (admin says, asked
// only then), as the daemon's held bytes are: other principals that read
// no answers do not lock root out.
func (a *answerAccount) refusal(admin func() bool) error {
	principal, daemon := a.budgets[0], a.budgets[1]
	if principal.Full() {
		return quotaExceeded(answersHeld, int(principal.Limit()))
	}
	return reserveRefusal(answersHeldDaemon, daemon.Used(), daemon.Limit(), admin)
}
