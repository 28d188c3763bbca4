package registry

import (
	"net/netip"
	"sync"
	"testing"

	"github.com/sockd/sockd/internal/leakcheck"
	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
)

func TestMain(m *testing.M) {
	leakcheck.Main(m)
}

// newEngine returns an engine reporting to a new registry whose global
// default is useRegistry. Both go away when the test ends.
func newEngine(t testing.TB, useRegistry bool) (*engine.Engine, *Registry) {
	t.Helper()
	r := New(useRegistry)
	e, err := engine.New(engine.Config{Loops: 2, Observer: r, DefaultUseRegistry: useRegistry})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, r
}

// caller is an engine.Caller and a Watcher that records Down notices.
type caller struct {
	name  string
	mu    sync.Mutex
	downs []Down
}

func newCaller(name string) *caller { return &caller{name: name} }

func (c *caller) CallerID() string     { return c.name }
func (c *caller) Deliver(engine.Event) {}

func (c *caller) SocketDown(d Down) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.downs = append(c.downs, d)
}

// takeDowns returns and forgets the Down notices received so far.
func (c *caller) takeDowns() []Down {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.downs
	c.downs = nil
	return d
}

// open opens a socket; use is the per-socket use_registry (nil: the default).
func open(t testing.TB, e *engine.Engine, c engine.Caller, domain, typ int, use *bool) *engine.Socket {
	t.Helper()
	s, err := e.Open(c, domain, typ, 0, engine.OpenOptions{UseRegistry: use})
	if err != nil {
		t.Fatalf("open(%d, %d): %v", domain, typ, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ptr[T any](v T) *T { return &v }

func wantCount(t testing.TB, r *Registry, want int, filters ...Filter) {
	t.Helper()
	if got := r.NumberOf(filters...); got != want {
		t.Errorf("NumberOf = %d, want %d", got, want)
	}
	if got := len(r.WhichSockets(filters...)); got != want {
		t.Errorf("len(WhichSockets) = %d, want %d", got, want)
	}
}

var (
	inet   = unix.AF_INET
	inet6  = unix.AF_INET6
	local  = unix.AF_UNIX
	stream = unix.SOCK_STREAM
	dgram  = unix.SOCK_DGRAM
)

var loopback4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
