package engine

import (
	"errors"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestNowaitConnect(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, sa := listen(t, e, c, unix.AF_INET)
	defer ln.Close()
	cl := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer cl.Close()
	r := cl.Connect(bg, c, &sa, withHandle(9))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.Select != nil {
		c.expect(t, EventSelect, 9)
		if r := cl.Connect(bg, c, nil, nowait); r.Err != nil || r.Select != nil {
			t.Fatalf("finalise: %+v", r)
		}
	}
	// selected stays once the side has waited, as the NIF's flag does.
	want := []string{"connected"}
	if r.Select != nil {
		want = []string{"connected", "selected"}
	}
	if got := cl.Info().WStates; !slices.Equal(got, want) {
		t.Fatalf("wstates %v, want %v", got, want)
	}
	// connect/1 with nothing in progress is a bad call sequence.
	wantInvalid(t, cl.Connect(bg, c, nil, nowait).Err, "state")
}

func TestConnectRefused(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	ln, sa := listen(t, e, c, unix.AF_INET)
	ln.Close() // nobody listens at sa now
	cl := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	defer cl.Close()
	r := cl.Connect(bg, c, &sa, nowait)
	waited := r.Select != nil
	if waited {
		c.expect(t, EventSelect, r.Select.Handle)
		r = cl.Connect(bg, c, &sa, nowait) // finalising with the address works too
	}
	wantErr(t, r.Err, unix.ECONNREFUSED)
	want := []string{}
	if waited {
		want = []string{"selected"} // it stays, as the NIF's flag does
	}
	if got := cl.Info().WStates; !slices.Equal(got, want) {
		t.Fatalf("wstates after a refused connect: %v, want %v", got, want)
	}
}

// A read of SO_ERROR, or a recv, of a socket whose connect failed takes
// the error from the socket: the connect's outcome is kept for connect/1,
// which otherwise waited for ever for an edge that had come already.
func TestTakenErrorKeepsAConnectsOutcome(t *testing.T) {
	for _, tc := range []struct {
		name string
		take func(t *testing.T, s *Socket, c Caller)
	}{
		{"SO_ERROR", func(t *testing.T, s *Socket, _ Caller) {
			if v, err := s.SocketError(); err != nil || unix.Errno(v) != unix.ECONNREFUSED {
				t.Fatalf("SO_ERROR of a refused connect: %d %v", v, err)
			}
		}},
		{"recv", func(t *testing.T, s *Socket, c Caller) {
			wantErr(t, s.Recv(bg, c, 0, 0, nowait).Err, unix.ECONNREFUSED)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEngine(t, Config{})
			c := newRecorder("c")
			ln, sa := listen(t, e, c, unix.AF_INET)
			ln.Close() // nobody listens at sa now
			for range 50 {
				cl := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
				r := cl.Connect(bg, c, &sa, nowait)
				if r.Select == nil { // refused at once: try for one that waits
					cl.Close()
					continue
				}
				defer cl.Close()
				c.expect(t, EventSelect, r.Select.Handle)
				tc.take(t, cl, c)
				done := make(chan ConnectResult, 1)
				go func() { done <- cl.Connect(bg, c, nil, within(eventWait)) }()
				select {
				case r := <-done:
					wantErr(t, r.Err, unix.ECONNREFUSED)
				case <-time.After(2 * eventWait):
					t.Fatalf("connect/1 after its error was taken by %s never answered", tc.name)
				}
				return
			}
			t.Skip("no connect to a closed port waited in 50 tries: loopback refused each at once")
		})
	}
}

// inProgressConnect returns a socket and an address it can connect to whose
// connect stays in progress: the listener's accept queue is full, so its
// SYNs are dropped until the test accepts.
func inProgressConnect(t *testing.T, e *Engine, c Caller) (*Socket, SockAddr) {
	t.Helper()
	ln := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	t.Cleanup(func() { ln.Close() })
	if err := ln.Bind(loopback(unix.AF_INET)); err != nil {
		t.Fatal(err)
	}
	if err := ln.Listen(0); err != nil {
		t.Fatal(err)
	}
	sa, _ := ln.SockName()
	filler := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	t.Cleanup(func() { filler.Close() })
	if r := filler.Connect(bg, c, &sa, within(eventWait)); r.Err != nil {
		t.Fatal("filler connect:", r.Err)
	}
	cl := mustOpen(t, e, c, unix.AF_INET, unix.SOCK_STREAM)
	t.Cleanup(func() { cl.Close() })
	return cl, sa
}

func TestConnectInProgress(t *testing.T) {
	e := newEngine(t, Config{})
	a, b := newRecorder("a"), newRecorder("b")
	cl, sa := inProgressConnect(t, e, a)

	r := cl.Connect(bg, a, &sa, withHandle(1))
	if r.Select == nil {
		t.Skipf("connect did not stay in progress: %+v", r)
	}
	if got := cl.Info().WStates; !slices.Contains(got, "connecting") {
		t.Fatalf("wstates %v", got)
	}
	wantErr(t, cl.Connect(bg, b, &sa, nowait).Err, ErrAlready)
	wantErr(t, cl.Connect(bg, b, &sa, infinity).Err, ErrAlready)
	wantInvalid(t, cl.Connect(bg, b, nil, nowait).Err, "state")
	if PosixName(ErrAlready) != "already" {
		t.Fatal(PosixName(ErrAlready))
	}

	// The connecting caller finalising early is told to wait again; its
	// first select is replaced (a spurious select for it may come before).
	if r := cl.Connect(bg, a, nil, withHandle(2)); r.Select == nil || r.Select.Handle != 2 {
		t.Fatalf("early finalise: %+v", r)
	}
	a.markCancelled(1)
	// A blocking call of the same caller takes over and times out; the
	// attempt is then forgotten.
	wantErr(t, cl.Connect(bg, a, nil, within(20*time.Millisecond)).Err, ErrTimeout)
	a.markCancelled(2)
	if got := cl.Info().WStates; slices.Contains(got, "connecting") {
		t.Fatalf("wstates after timeout %v", got)
	}
	time.Sleep(quietWait)
	if late := a.lateEvents(); len(late) > 0 {
		t.Fatalf("events for replaced handles: %+v", late)
	}
}

func TestConnectTimeout(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	cl, sa := inProgressConnect(t, e, c)
	r := cl.Connect(bg, c, &sa, within(50*time.Millisecond))
	if r.Err == nil {
		t.Skip("connect did not stay in progress")
	}
	wantErr(t, r.Err, ErrTimeout)
	// The kernel's attempt goes on: connecting again is its business.
	r = cl.Connect(bg, c, &sa, poll)
	if !errors.Is(r.Err, unix.EALREADY) && !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("reconnect: %v", r.Err)
	}
}

func TestConnectInvalidAddress(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	s := mustOpen(t, e, c, unix.AF_INET6, unix.SOCK_STREAM)
	defer s.Close()
	// The family is the kernel's to judge, as in Erlang: a sockaddr_in is
	// too short for an inet6 stream socket.
	sa := loopback(unix.AF_INET)
	wantErr(t, s.Connect(bg, c, &sa, infinity).Err, unix.EINVAL)
	// What no kernel could take is refused before the syscall.
	bad := SockAddr{Family: FamilyInet6}
	wantInvalid(t, s.Connect(bg, c, &bad, infinity).Err, "sockaddr")
}

func TestDgramConnect(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	a, b, aAddr, bAddr := udpPair(t, e, c, unix.AF_INET)
	if r := a.Connect(bg, c, &bAddr, nowait); r.Err != nil || r.Select != nil {
		t.Fatalf("connect: %+v", r)
	}
	b.Connect(bg, c, &aAddr, infinity)
	mustSend(t, a, c, "dgram")
	if r := b.Recv(bg, c, 0, 0, infinity); string(r.Data) != "dgram" {
		t.Fatalf("recv: %+v", r)
	}
	// AF_UNSPEC dissolves the association.
	if r := a.Connect(bg, c, &SockAddr{Family: FamilyUnspec}, infinity); r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, err := a.PeerName(); !errors.Is(err, unix.ENOTCONN) {
		t.Fatalf("peername after dissolve: %v", err)
	}
}
