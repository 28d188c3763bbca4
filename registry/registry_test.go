package registry

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
)

// Reference scenario 40 (reg_s_single_open_and_close_and_count), in process.
func TestOpenAndCloseAndCount(t *testing.T) {
	e, r := newEngine(t, true)
	a, b := newCaller("a"), newCaller("b")

	tcp4 := open(t, e, a, inet, stream, nil)
	udp4 := open(t, e, a, inet, dgram, nil)
	tcp6 := open(t, e, b, inet6, stream, nil)
	udpL := open(t, e, b, local, dgram, nil)
	all := []*engine.Socket{tcp4, udp4, tcp6, udpL}

	wantCount(t, r, 4)
	cases := []struct {
		name    string
		filters []Filter
		want    []*engine.Socket
	}{
		{"inet", []Filter{Domain(inet)}, []*engine.Socket{tcp4, udp4}},
		{"inet6", []Filter{Domain(inet6)}, []*engine.Socket{tcp6}},
		{"local", []Filter{Domain(local)}, []*engine.Socket{udpL}},
		{"stream", []Filter{Type(stream)}, []*engine.Socket{tcp4, tcp6}},
		{"dgram", []Filter{Type(dgram)}, []*engine.Socket{udp4, udpL}},
		{"tcp", []Filter{Protocol(unix.IPPROTO_TCP)}, []*engine.Socket{tcp4, tcp6}},
		{"udp", []Filter{Protocol(unix.IPPROTO_UDP)}, []*engine.Socket{udp4}},
		{"owner a", []Filter{OwnedBy("a")}, []*engine.Socket{tcp4, udp4}},
		{"owner b", []Filter{OwnedBy("b")}, []*engine.Socket{tcp6, udpL}},
		{"owner nobody", []Filter{OwnedBy("nobody")}, nil},
		{"inet and dgram", []Filter{Domain(inet), Type(dgram)}, []*engine.Socket{udp4}},
		{"owner b and stream and tcp", []Filter{OwnedBy("b"), Type(stream), Protocol(unix.IPPROTO_TCP)}, []*engine.Socket{tcp6}},
		{"inet6 and dgram", []Filter{Domain(inet6), Type(dgram)}, nil},
		{"custom", []Filter{func(s *engine.Socket) bool { return s == udpL }}, []*engine.Socket{udpL}},
	}
	for _, c := range cases {
		got := r.WhichSockets(c.filters...)
		if !sameSockets(got, c.want) {
			t.Errorf("WhichSockets(%s) = %v, want %v", c.name, ids(got), ids(c.want))
		}
		if n := r.NumberOf(c.filters...); n != len(c.want) {
			t.Errorf("NumberOf(%s) = %d, want %d", c.name, n, len(c.want))
		}
	}

	for _, s := range all {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	wantCount(t, r, 0)
}

// Reference scenario 41 (reg_s_optional_open_and_close_and_count): the
// global default against the per-socket option, in every combination.
func TestOptionalRegistration(t *testing.T) {
	for _, global := range []bool{true, false} {
		for _, per := range []*bool{nil, ptr(true), ptr(false)} {
			e, r := newEngine(t, true)
			r.SetUseRegistry(global)
			use := per
			if use == nil {
				// The server consults the runtime default at each open.
				use = ptr(r.UseRegistry())
			}
			s := open(t, e, newCaller("a"), inet, dgram, use)
			want := 0
			if *use {
				want = 1
			}
			wantCount(t, r, want)
			if s.UseRegistry() != (want == 1) {
				t.Errorf("global %v, per-socket %v: socket's use_registry = %v", global, fmtPtr(per), s.UseRegistry())
			}
			s.Close()
			wantCount(t, r, 0)
		}
	}
}

func TestAcceptedSocketInheritsRegistration(t *testing.T) {
	for _, use := range []bool{true, false} {
		e, r := newEngine(t, !use) // the default is the opposite: inheritance must win
		c := newCaller("c")
		ln := open(t, e, c, inet, stream, &use)
		if err := ln.Bind(engine.SockAddr{Family: engine.FamilyInet, Addr: loopback4}); err != nil {
			t.Fatal(err)
		}
		if err := ln.Listen(4); err != nil {
			t.Fatal(err)
		}
		sa, err := ln.SockName()
		if err != nil {
			t.Fatal(err)
		}
		cl := open(t, e, c, inet, stream, ptr(false))
		if res := cl.Connect(t.Context(), c, &sa, engine.Timeout{Kind: engine.WaitInfinity}); res.Err != nil {
			t.Fatal(res.Err)
		}
		res := ln.Accept(t.Context(), c, engine.Timeout{Kind: engine.WaitInfinity})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if got := r.Registered(res.Socket); got != use {
			t.Errorf("listener use_registry %v: accepted socket registered = %v", use, got)
		}
		res.Socket.Close()
		if r.Registered(res.Socket) {
			t.Error("accepted socket still registered after close")
		}
	}
}

// Turning use_registry on for an open socket registers it at once, through
// the engine's observer, whoever sets it; a closed socket stays out.
func TestUseRegistryOnRegisters(t *testing.T) {
	e, r := newEngine(t, false)
	s := open(t, e, newCaller("a"), inet, dgram, nil)
	wantCount(t, r, 0)
	s.SetUseRegistry(true)
	if !r.Registered(s) {
		t.Fatal("use_registry turned on, socket not registered")
	}
	s.SetUseRegistry(true) // idempotent
	wantCount(t, r, 1)
	s.Close()
	wantCount(t, r, 0)
	closed := open(t, e, newCaller("a"), inet, dgram, nil)
	closed.Close()
	closed.SetUseRegistry(true)
	if r.Registered(closed) {
		t.Error("a closed socket was registered")
	}
	wantCount(t, r, 0)
}

func TestOwnerDeathUnregisters(t *testing.T) {
	e, r := newEngine(t, true)
	a := newCaller("a")
	s := open(t, e, a, inet, stream, nil)
	wantCount(t, r, 1, OwnedBy("a"))
	s.Abandon()
	wantCount(t, r, 0)
}

func TestTransferChangesOwnerFilter(t *testing.T) {
	e, r := newEngine(t, true)
	a, b := newCaller("a"), newCaller("b")
	s := open(t, e, a, inet, stream, nil)
	if err := s.SetOwner(a, b); err != nil {
		t.Fatal(err)
	}
	wantCount(t, r, 0, OwnedBy("a"))
	wantCount(t, r, 1, OwnedBy("b"))
}

func TestEngineCloseUnregistersEverything(t *testing.T) {
	e, r := newEngine(t, true)
	a := newCaller("a")
	s := open(t, e, a, inet, stream, nil)
	r.Monitor(s, a)
	open(t, e, a, inet6, dgram, nil)
	e.Close()
	wantCount(t, r, 0)
	if downs := a.takeDowns(); len(downs) != 1 || downs[0].Reason != ReasonClosed {
		t.Errorf("downs after engine close = %v, want one closed", downs)
	}
}

func TestStartDefault(t *testing.T) {
	cases := []struct {
		built bool
		env   string
		want  bool
	}{
		{true, "", true},
		{false, "", false},
		{true, "false", false},
		{false, "true", true},
		{true, "FALSE", true}, // only exactly true/false count
		{false, "1", false},
		{false, "yes", false},
		{true, " false", true},
	}
	for _, c := range cases {
		if got := StartDefault(c.built, c.env); got != c.want {
			t.Errorf("StartDefault(%v, %q) = %v, want %v", c.built, c.env, got, c.want)
		}
	}
}

func sameSockets(a, b []*engine.Socket) bool {
	x, y := ids(a), ids(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func ids(socks []*engine.Socket) []string {
	out := make([]string, 0, len(socks))
	for _, s := range socks {
		out = append(out, s.ID())
	}
	return out
}

func fmtPtr(b *bool) string {
	if b == nil {
		return "default"
	}
	if *b {
		return "true"
	}
	return "false"
}
