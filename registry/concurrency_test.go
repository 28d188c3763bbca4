package registry

import (
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
)

// TestConcurrentChurn runs many goroutines opening, transferring,
// monitoring, cancelling, querying and closing at once (run it with -race):
// every monitor ends exactly once (fired or cancelled), and the counts come
// back to zero.
func TestConcurrentChurn(t *testing.T) {
	e, r := newEngine(t, true)
	const workers, rounds = 16, 60
	callers := make([]*caller, workers)
	for i := range callers {
		callers[i] = newCaller(string(rune('a' + i)))
	}
	var cancelled atomic.Int64
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			me, next := callers[i], callers[(i+1)%workers]
			for n := range rounds {
				domain := []int{unix.AF_INET, unix.AF_INET6, unix.AF_UNIX}[n%3]
				typ := []int{unix.SOCK_STREAM, unix.SOCK_DGRAM}[n%2]
				use := n%4 != 0
				s, err := e.Open(me, domain, typ, 0, engine.OpenOptions{UseRegistry: &use})
				if err != nil {
					t.Error(err)
					return
				}
				m := r.Monitor(s, next) // a neighbour watches it
				if n%5 == 0 && r.CancelMonitor(m, nil) {
					cancelled.Add(1)
				}
				if n%2 == 0 {
					if err := s.SetOwner(me, next); err != nil {
						t.Error(err)
					}
				}
				r.NumberOf(Domain(domain), OwnedBy(me.name))
				r.WhichSockets(Type(typ))
				if n%3 == 0 {
					s.Abandon()
				} else {
					s.Close()
				}
			}
		})
	}
	wg.Wait()

	wantCount(t, r, 0)
	if n := r.NumberOfMonitors(nil); n != 0 {
		t.Errorf("monitors left: %d", n)
	}
	downs := 0
	seen := map[string]bool{}
	for _, c := range callers {
		for _, d := range c.takeDowns() {
			if seen[d.MonitorID] {
				t.Errorf("monitor %s fired twice", d.MonitorID)
			}
			seen[d.MonitorID] = true
			if d.Reason != ReasonClosed {
				t.Errorf("down %v: want reason closed", d)
			}
			downs++
		}
	}
	if total := workers * rounds; downs+int(cancelled.Load()) != total {
		t.Errorf("%d downs + %d cancelled != %d monitors", downs, cancelled.Load(), total)
	}
}
