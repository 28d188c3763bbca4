package server

import (
	"context"
	"testing"
	"time"

	"github.com/sockd/sockd/engine"
)

// A blocking wait under an RPC deadline ends early enough to answer: a
// tenth of the time left, at least 50 ms, at most a second, and never more
// than half of a short deadline.
func TestBudgetLeavesTimeToAnswer(t *testing.T) {
	infinity := engine.Timeout{Kind: engine.WaitInfinity}
	for _, c := range []struct {
		deadline, margin time.Duration
	}{
		{20 * time.Millisecond, 10 * time.Millisecond},
		{60 * time.Millisecond, 30 * time.Millisecond},
		{200 * time.Millisecond, 50 * time.Millisecond},
		{2 * time.Second, 200 * time.Millisecond},
		{time.Minute, time.Second},
	} {
		// The arithmetic exactly; the clock's part at most, as time
		// passes between the deadline's making and its reading.
		if got, want := budgetWithin(c.deadline, infinity), c.deadline-c.margin; got.Kind != engine.WaitFor || got.D != want {
			t.Errorf("deadline %v: a wait of %v (%v), want %v", c.deadline, got.D, got.Kind, want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.deadline)
		got := budget(ctx, infinity)
		cancel()
		if want := c.deadline - c.margin; got.Kind != engine.WaitFor || got.D > want {
			t.Errorf("deadline %v through its context: a wait of %v (%v), want at most %v", c.deadline, got.D, got.Kind, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if got := budget(ctx, engine.Timeout{Kind: engine.WaitFor, D: time.Second}); got.D != time.Second {
		t.Errorf("a timeout well before the deadline became %v", got.D)
	}
}
