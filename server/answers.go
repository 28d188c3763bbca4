package server

import (
	"sync"

	"github.com/sockd/sockd/internal/inflight"
)

// answersHeld names the bound on answers not yet written in its refusals.
const answersHeld = "bytes of answers not yet taken by the principal's clients"

// answerAccount is what gRPC holds of one connection's answers, charged to
// its principal's and the daemon's answer budgets: each unary call's answer
// (pipewire.Accounted) from its encoding until the transport has written
// it or dropped it with its stream. gRPC ends a call when its handler
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

// refusal refuses a new call while a budget is full.
func (a *answerAccount) refusal() error {
	for _, b := range a.budgets {
		if b.Full() {
			return quotaExceeded(answersHeld, int(b.Limit()))
		}
	}
	return nil
}
