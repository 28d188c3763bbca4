package engine

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// dialFrom connects to addr from the given local address.
func dialFrom(t *testing.T, from string, to SockAddr) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", netip.AddrPortFrom(to.Addr, to.Port).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A connection the accept filter refuses is closed unseen, in blocking and
// completion mode alike, and the accept goes on to the next one.
func TestAcceptFilter(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, addr := listen(t, e, c, unix.AF_INET)
	var seen []netip.Addr
	ln.SetAcceptFilter(func(owner Caller, peer SockAddr) bool {
		if owner != c {
			t.Errorf("the filter was asked for %v, not the accepting caller", owner)
		}
		seen = append(seen, peer.Addr)
		return peer.Addr == netip.MustParseAddr("127.0.0.1")
	})

	refused := dialFrom(t, "127.0.0.2", addr)
	dialFrom(t, "127.0.0.1", addr)
	r := ln.Accept(bg, c, within(eventWait))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	defer r.Socket.Close()
	if peer, _ := r.Socket.PeerName(); peer.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("accepted %v", peer)
	}
	refused.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := refused.Read(make([]byte, 1)); err == nil || n != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the refused connection reads %d, %v: it was not closed", n, err)
	}

	// Completion mode: the refused connection completes nothing.
	sel := ln.Accept(bg, c, completion())
	if sel.Select == nil {
		t.Fatalf("completion accept: %+v", sel)
	}
	dialFrom(t, "127.0.0.3", addr)
	c.expectNone(t)
	dialFrom(t, "127.0.0.1", addr)
	ev := c.expect(t, EventCompletion, sel.Select.Handle)
	if ev.Completion.Accept == nil || ev.Completion.Accept.Socket == nil {
		t.Fatalf("completion %+v", ev.Completion)
	}
	ev.Completion.Accept.Socket.Close()
	if len(seen) != 4 {
		t.Errorf("the filter saw %v, want four peers", seen)
	}

	ln.SetAcceptFilter(nil)
	dialFrom(t, "127.0.0.2", addr)
	if r := ln.Accept(bg, c, within(eventWait)); r.Err != nil {
		t.Fatalf("without a filter: %v", r.Err)
	} else {
		r.Socket.Close()
	}
}

// limited is a caller that may own at most limit sockets.
type limited struct {
	*recorder
	mu           sync.Mutex
	owned, limit int
	held         int // places taken and not given back
}

func (l *limited) ReserveSocket() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.owned+l.held >= l.limit {
		return &QuotaError{Resource: "test sockets", Limit: l.limit}
	}
	l.held++
	return nil
}

func (l *limited) ReleaseSocket() {
	l.mu.Lock()
	l.held--
	l.mu.Unlock()
}

// A Limiter bounds the sockets Open and Accept make for it, completion
// accepts included, and every place it gives is given back.
func TestLimiterBoundsOpenAndAccept(t *testing.T) {
	e := newEngine(t, Config{})
	lim := &limited{recorder: newRecorder("lim"), limit: 2}
	counted := func(s *Socket) *Socket {
		lim.mu.Lock()
		lim.owned++
		lim.mu.Unlock()
		t.Cleanup(func() { s.Close() })
		return s
	}
	ln, addr := listen(t, e, newRecorder("other"), unix.AF_INET)
	if _, err := e.Open(lim, unix.AF_INET, unix.SOCK_DGRAM, 0, OpenOptions{}); err != nil {
		t.Fatal(err)
	} else {
		lim.owned++
	}
	// One place left: a completion accept takes it, the next one is refused.
	first := ln.Accept(bg, lim, completion())
	dialFrom(t, "127.0.0.1", addr)
	ev := lim.expect(t, EventCompletion, first.Select.Handle)
	if ev.Completion.Accept.Socket == nil {
		t.Fatalf("first completion accept: %+v", ev.Completion.Accept)
	}
	counted(ev.Completion.Accept.Socket)
	second := ln.Accept(bg, lim, completion())
	if second.Select != nil {
		dialFrom(t, "127.0.0.1", addr)
		ev = lim.expect(t, EventCompletion, second.Select.Handle)
		second = *ev.Completion.Accept
	}
	var quota *QuotaError
	if !errors.As(second.Err, &quota) || second.Socket != nil {
		t.Fatalf("accept past the limit: %+v", second)
	}
	if _, err := e.Open(lim, unix.AF_INET, unix.SOCK_DGRAM, 0, OpenOptions{}); !errors.As(err, &quota) {
		t.Fatalf("open past the limit: %v", err)
	}
	if lim.held != 0 {
		t.Fatalf("%d places not given back", lim.held)
	}

	// A connection the filter refuses does not use up the place: with one
	// place, a refused connection and then a kept one.
	lim.limit = lim.owned + 1
	ln.SetAcceptFilter(func(_ Caller, peer SockAddr) bool { return peer.Addr == netip.MustParseAddr("127.0.0.1") })
	dialFrom(t, "127.0.0.2", addr)
	dialFrom(t, "127.0.0.1", addr)
	r := ln.Accept(bg, lim, within(eventWait))
	if r.Err != nil {
		t.Fatalf("accept after a refused connection: %v", r.Err)
	}
	if peer, _ := r.Socket.PeerName(); peer.Addr != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("accepted %v: the filter did not run", peer)
	}
	r.Socket.Close()
	if lim.held != 0 {
		t.Fatalf("%d places not given back after a refused connection", lim.held)
	}
}
