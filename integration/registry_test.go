package integration

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// The registry tests share the daemon with every other test, so they count
// only the sockets of their own sessions (the owner filter), and the tests
// that flip the daemon's global default put it back. None is parallel: a
// parallel test starts only once these have finished.

// registered lists the registered sockets owned by s, narrowed by r's
// other filters.
func (s *rawSession) registered(t testing.TB, r *sockdv1.WhichSocketsRequest) []string {
	t.Helper()
	return s.whichSockets(t, &sockdv1.WhichSocketsRequest{Domain: r.GetDomain(), Type: r.GetType(), Protocol: r.GetProtocol(), Owner: s.id})
}

// whichSockets lists the registered sockets req's filters select.
func (s *rawSession) whichSockets(t testing.TB, req *sockdv1.WhichSocketsRequest) []string {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.WhichSockets(ctx, req)
	if err != nil {
		t.Fatalf("which_sockets %v: %v", req, err)
	}
	return resp.GetSocketIds()
}

func (s *rawSession) numberOf(t testing.TB) uint64 {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.NumberOf(ctx, &sockdv1.NumberOfRequest{})
	if err != nil {
		t.Fatal("number_of:", err)
	}
	return resp.GetCount()
}

func (s *rawSession) openWith(t testing.TB, v variant, use *bool) string {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Open(ctx, &sockdv1.OpenRequest{Domain: v.domain, Type: v.typ, Protocol: v.proto, UseRegistry: use})
	if err != nil {
		t.Fatalf("open %s: %v", v.name, err)
	}
	requireOK(t, "open "+v.name, resp.GetError())
	return resp.GetSocketId()
}

func (s *rawSession) useRegistry(t testing.TB, on bool) {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	if _, err := s.api.UseRegistry(ctx, &sockdv1.UseRegistryRequest{Enabled: on}); err != nil {
		t.Fatal("use_registry:", err)
	}
}

func (s *rawSession) globalInfo(t testing.TB) *sockdv1.GlobalInfoResponse {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	gi, err := s.api.GlobalInfo(ctx, &sockdv1.GlobalInfoRequest{})
	if err != nil {
		t.Fatal("global_info:", err)
	}
	return gi
}

func (s *rawSession) monitor(t testing.TB, id string) string {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.Monitor(ctx, &sockdv1.MonitorRequest{SocketId: id})
	if err != nil {
		t.Fatalf("monitor %s: %v", id, err)
	}
	if resp.GetMonitorId() == "" {
		t.Fatalf("monitor %s: no monitor id", id)
	}
	return resp.GetMonitorId()
}

func (s *rawSession) demonitor(t testing.TB, mon string) bool {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	resp, err := s.api.CancelMonitor(ctx, &sockdv1.CancelMonitorRequest{MonitorId: mon})
	if err != nil {
		t.Fatalf("cancel_monitor %s: %v", mon, err)
	}
	return resp.GetRemoved()
}

// expectDowns reads events until it has seen a down event for each
// (socket, monitor) in want, with reason, in any order.
func (r *eventReader) expectDowns(t testing.TB, reason string, want map[string]string) {
	t.Helper()
	left := maps(want)
	for len(left) > 0 {
		ev := r.expectEvent(t)
		down := ev.GetDown()
		if down == nil {
			t.Fatalf("want down events for %v, got %v", left, ev)
		}
		sock, ok := left[down.GetMonitorId()]
		if !ok || sock != ev.GetSocketId() || down.GetReason() != reason {
			t.Fatalf("unexpected down %v; want one of %v with reason %s", ev, left, reason)
		}
		delete(left, down.GetMonitorId())
	}
}

func maps(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func sorted(ids ...string) []string {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}

// Reference scenario 40: reg_s_single_open_and_close_and_count.
func TestRegistryOpenAndCloseAndCount(t *testing.T) {
	s := newSession(t)
	base := s.numberOf(t)
	tcp4id := s.open(t, tcp4)
	udp6id := s.open(t, udp6)
	tcpLid := s.open(t, tcpL)
	seqid := s.open(t, seqpL)

	if got := s.numberOf(t); got < base+4 {
		t.Errorf("number_of = %d, want at least %d + 4", got, base)
	}
	cases := []struct {
		name string
		req  *sockdv1.WhichSocketsRequest
		want []string
	}{
		{"owner", &sockdv1.WhichSocketsRequest{}, []string{tcp4id, udp6id, tcpLid, seqid}},
		{"inet", &sockdv1.WhichSocketsRequest{Domain: sockdv1.Domain_DOMAIN_INET}, []string{tcp4id}},
		{"local", &sockdv1.WhichSocketsRequest{Domain: sockdv1.Domain_DOMAIN_LOCAL}, []string{tcpLid, seqid}},
		{"stream", &sockdv1.WhichSocketsRequest{Type: sockdv1.Type_TYPE_STREAM}, []string{tcp4id, tcpLid}},
		{"udp", &sockdv1.WhichSocketsRequest{Protocol: sockdv1.Protocol_PROTOCOL_UDP}, []string{udp6id}},
		// A local socket's protocol is default, as Info says, not ip.
		{"ip", &sockdv1.WhichSocketsRequest{Protocol: sockdv1.Protocol_PROTOCOL_IP}, nil},
		{"local seqpacket", &sockdv1.WhichSocketsRequest{Domain: sockdv1.Domain_DOMAIN_LOCAL, Type: sockdv1.Type_TYPE_SEQPACKET}, []string{seqid}},
		{"inet6 stream", &sockdv1.WhichSocketsRequest{Domain: sockdv1.Domain_DOMAIN_INET6, Type: sockdv1.Type_TYPE_STREAM}, nil},
	}
	for _, c := range cases {
		if got := s.registered(t, c.req); !slices.Equal(got, sorted(c.want...)) {
			t.Errorf("which_sockets(%s) = %v, want %v", c.name, got, sorted(c.want...))
		}
	}
	// Another session's filter does not see them.
	if other := newSession(t).registered(t, &sockdv1.WhichSocketsRequest{}); len(other) != 0 {
		t.Errorf("a fresh session owns %v", other)
	}

	for _, id := range []string{tcp4id, udp6id, tcpLid, seqid} {
		s.close(t, id)
	}
	if got := s.registered(t, &sockdv1.WhichSocketsRequest{}); len(got) != 0 {
		t.Errorf("after close: %v still registered", got)
	}
}

// Accepted sockets are registered and inherit the listener's use_registry.
func TestRegistryAcceptedSockets(t *testing.T) {
	s := newSession(t)
	for _, use := range []bool{true, false} {
		ln := s.openWith(t, tcp4, &use)
		s.bind(t, ln, tcp4.loopback(t))
		s.listen(t, ln)
		cl := s.openWith(t, tcp4, new(bool))
		s.connect(t, cl, s.sockname(t, ln))
		acc := s.accept(t, ln)
		got := slices.Contains(s.registered(t, &sockdv1.WhichSocketsRequest{}), acc)
		if got != use {
			t.Errorf("listener use_registry %v: accepted socket registered = %v", use, got)
		}
		if info := s.info(t, acc); info.GetUseRegistry() != use {
			t.Errorf("listener use_registry %v: accepted socket's info says %v", use, info.GetUseRegistry())
		}
		for _, id := range []string{acc, cl, ln} {
			s.close(t, id)
		}
	}
}

// Reference scenario 41 (reg_s_optional_open_and_close_and_count), levels
// 3 and 4: the UseRegistry RPC against Open's use_registry.
func TestRegistryRuntimeDefaultAndOpenOption(t *testing.T) {
	requireRoot(t, "the daemon-wide use_registry default is an admin's to set")
	s := newSession(t)
	t.Cleanup(func() { s.useRegistry(t, true) })
	for _, global := range []bool{true, false} {
		s.useRegistry(t, global)
		if gi := s.globalInfo(t); gi.GetUseRegistry() != global {
			t.Errorf("global_info use_registry = %v after use_registry(%v)", gi.GetUseRegistry(), global)
		}
		for _, per := range []*bool{nil, ptrTo(true), ptrTo(false)} {
			id := s.openWith(t, udp4, per)
			want := global
			if per != nil {
				want = *per
			}
			if got := s.registered(t, &sockdv1.WhichSocketsRequest{}); slices.Contains(got, id) != want {
				t.Errorf("global %v, open use_registry %v: registered = %v, want %v", global, fmtBool(per), !want, want)
			}
			if info := s.info(t, id); info.GetUseRegistry() != want {
				t.Errorf("global %v, open use_registry %v: info use_registry = %v", global, fmtBool(per), info.GetUseRegistry())
			}
			s.close(t, id)
			if got := s.registered(t, &sockdv1.WhichSocketsRequest{}); len(got) != 0 {
				t.Errorf("after close: %v", got)
			}
		}
	}
}

// Levels 1 and 2: the daemon's --socket-registry flag and the environment
// variable read at start, each against Open's use_registry, in dedicated
// daemons.
func TestRegistryFlagAndEnvironment(t *testing.T) {
	cases := []struct {
		name string
		flag string // "" leaves the flag at its default (on)
		env  string // "" leaves the variable unset
		want bool
	}{
		{"default", "", "", true},
		{"flag off", "--socket-registry=false", "", false},
		{"env false", "", "false", false},
		{"flag off, env true", "--socket-registry=false", "true", true},
		{"flag off, env ignored", "--socket-registry=false", "yes", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("ESOCK_USE_SOCKET_REGISTRY", c.env)
			} else {
				t.Setenv("ESOCK_USE_SOCKET_REGISTRY", "")
				os.Unsetenv("ESOCK_USE_SOCKET_REGISTRY")
			}
			dir, err := os.MkdirTemp("", "sockd-reg")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			var args []string
			if c.flag != "" {
				args = append(args, c.flag)
			}
			d := dedicatedDaemon(t, dir, args...)
			s := sessionOn(t, d)
			if gi := s.globalInfo(t); gi.GetUseRegistry() != c.want {
				t.Errorf("global_info use_registry = %v, want %v", gi.GetUseRegistry(), c.want)
			}
			for _, per := range []*bool{nil, ptrTo(true), ptrTo(false)} {
				id := s.openWith(t, tcp4, per)
				want := c.want
				if per != nil {
					want = *per
				}
				if n := s.numberOf(t); n != map[bool]uint64{true: 1, false: 0}[want] {
					t.Errorf("open use_registry %s: number_of = %d, want registered=%v", fmtBool(per), n, want)
				}
				s.close(t, id)
				if n := s.numberOf(t); n != 0 {
					t.Errorf("after close: number_of = %d", n)
				}
			}
		})
	}
}

// Reference scenario 42: monitor_simple_open_and_close, two monitors.
func TestMonitorOpenAndClose(t *testing.T) {
	s := newSession(t)
	ev := s.events(t, 0)
	id := s.openWith(t, udp4, new(bool)) // not registered: monitor turns it on
	m1, m2 := s.monitor(t, id), s.monitor(t, id)
	if m1 == m2 {
		t.Fatalf("two monitors share id %s", m1)
	}
	if info := s.info(t, id); !info.GetUseRegistry() {
		t.Error("monitor did not turn use_registry on")
	}
	if !slices.Contains(s.registered(t, &sockdv1.WhichSocketsRequest{}), id) {
		t.Error("a monitored socket is not registered")
	}
	ev.expectNoEvent(t)
	s.close(t, id)
	ev.expectDowns(t, "closed", map[string]string{m1: id, m2: id})
	ev.expectNoEvent(t)
}

// Reference scenario 43: monitor_simple_open_and_exit, the owner's session ends.
func TestMonitorOwnerExit(t *testing.T) {
	watcher, owner := newSession(t), newSession(t)
	ev := watcher.events(t, 0)
	id := owner.open(t, tcp4)
	m := watcher.monitor(t, id)
	ctx, cancel := owner.call()
	defer cancel()
	if _, err := owner.api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: owner.id}); err != nil {
		t.Fatal(err)
	}
	ev.expectDowns(t, "closed", map[string]string{m: id})
}

// Reference scenario 44: monitor_simple_open_and_demon_and_close.
func TestMonitorCancelThenClose(t *testing.T) {
	s := newSession(t)
	ev := s.events(t, 0)
	id := s.open(t, tcp6)
	m := s.monitor(t, id)
	if !s.demonitor(t, m) {
		t.Fatal("cancel_monitor of a live monitor = false")
	}
	if s.demonitor(t, m) {
		t.Error("second cancel_monitor = true")
	}
	s.close(t, id)
	ev.expectNoEvent(t)
}

// Reference scenario 45: many sockets and many monitoring sessions; one
// monitoring session dies, and its monitors go with it.
func TestMonitorManySocketsAndSessions(t *testing.T) {
	owner := newSession(t)
	w1, w2 := newSession(t), newSession(t)
	ev1 := w1.events(t, 0)
	var socks []string
	for _, v := range []variant{tcp4, udp4, tcpL, udpL} {
		socks = append(socks, owner.open(t, v))
	}
	want1 := map[string]string{}
	for _, id := range socks {
		want1[w1.monitor(t, id)] = id
		w2.monitor(t, id)
	}
	ctx, cancel := w2.call()
	defer cancel()
	if _, err := w2.api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: w2.id}); err != nil {
		t.Fatal(err)
	}
	owner.close(t, socks[0])
	owner.close(t, socks[1])
	ctx2, cancel2 := owner.call()
	defer cancel2()
	if _, err := owner.api.CloseSession(ctx2, &sockdv1.CloseSessionRequest{SessionId: owner.id}); err != nil {
		t.Fatal(err)
	}
	ev1.expectDowns(t, "closed", want1)
	ev1.expectNoEvent(t)
}

// Reference scenario 46: monitor_closed_socket (DOWN closed), and an unknown
// id (nosock).
func TestMonitorClosedSocket(t *testing.T) {
	s := newSession(t)
	ev := s.events(t, 0)
	id := s.open(t, tcp4)
	s.close(t, id)
	m := s.monitor(t, id)
	ev.expectDowns(t, "closed", map[string]string{m: id}) // socket.erl: DOWN closed at once
	u := s.monitor(t, "0123456789abcdef0123456789abcdef")
	ev.expectDowns(t, "nosock", map[string]string{u: "0123456789abcdef0123456789abcdef"})
	if s.demonitor(t, m) {
		t.Error("cancel of a fired monitor = true")
	}
}

func TestRegistryBadInput(t *testing.T) {
	s := newSession(t)
	ctx, cancel := s.call()
	defer cancel()
	for name, req := range map[string]*sockdv1.WhichSocketsRequest{
		"domain":   {Domain: 99},
		"type":     {Type: 99},
		"protocol": {Protocol: 99},
	} {
		_, err := s.api.WhichSockets(ctx, req)
		requireStatus(t, "which_sockets unknown "+name, err, codes.InvalidArgument, "INVALID_ARGUMENT")
	}
	_, err := s.api.Monitor(ctx, &sockdv1.MonitorRequest{})
	requireStatus(t, "monitor without a socket", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	_, err = s.api.CancelMonitor(ctx, &sockdv1.CancelMonitorRequest{})
	requireStatus(t, "cancel_monitor without a monitor", err, codes.InvalidArgument, "INVALID_ARGUMENT")
	if s.demonitor(t, "not-a-monitor") {
		t.Error("cancel_monitor of an unknown id = true")
	}
	// Only the monitoring session cancels (reference §5), not another
	// session of its principal.
	other := newSession(t)
	id := s.open(t, udp4)
	m := s.monitor(t, id)
	if other.demonitor(t, m) {
		t.Error("another session cancelled the monitor")
	}
	if !s.demonitor(t, m) {
		t.Error("the monitoring session could not cancel its monitor")
	}
	s.close(t, id)
}

// TestGlobalInfoCounts re-expresses api_m_info (1): info/0 answers, and its
// counts follow the sockets opened and closed.
func TestGlobalInfoCounts(t *testing.T) {
	requireRoot(t, "it checks that root is an admin")
	s := newSession(t)
	before := s.globalInfo(t)
	id1 := s.openWith(t, tcp6, new(bool)) // counted even though not registered
	id2 := s.open(t, udpL)
	after := s.globalInfo(t)
	if after.GetNumCntBits() == 0 || after.GetIovMax() == 0 || after.GetIoBackend() != "epoll" {
		t.Errorf("global_info facts: %v", after)
	}
	// The tests run as root on the unix socket: admin, whatever the rule.
	if !after.GetPolicy().GetAdmin() {
		t.Errorf("global_info for root: policy %v, want admin", after.GetPolicy())
	}
	// Other tests are not running (none is parallel with this one), so the
	// differences are exact.
	diffs := map[string][2]uint64{
		"num_sockets":  {before.GetNumSockets(), after.GetNumSockets()},
		"num_tstreams": {before.GetNumTstreams(), after.GetNumTstreams()},
		"num_tdgrams":  {before.GetNumTdgrams(), after.GetNumTdgrams()},
		"num_dinet6":   {before.GetNumDinet6(), after.GetNumDinet6()},
		"num_dlocal":   {before.GetNumDlocal(), after.GetNumDlocal()},
		"num_ptcp":     {before.GetNumPtcp(), after.GetNumPtcp()},
	}
	want := map[string]uint64{"num_sockets": 2, "num_tstreams": 1, "num_tdgrams": 1, "num_dinet6": 1, "num_dlocal": 1, "num_ptcp": 1}
	for k, d := range diffs {
		if d[1]-d[0] != want[k] {
			t.Errorf("%s went from %d to %d, want +%d", k, d[0], d[1], want[k])
		}
	}
	s.close(t, id1)
	s.close(t, id2)
}

// Many sessions open, transfer by session death, monitor, cancel and close
// at once; the registry's counts come back to where they were.
func TestRegistryConcurrentSessions(t *testing.T) {
	probe := newSession(t)
	base := probe.numberOf(t)
	const sessions, rounds = 8, 12
	var wg sync.WaitGroup
	for range sessions {
		s, w := newSession(t), newSession(t)
		wg.Go(func() {
			for n := range rounds {
				id := s.open(t, []variant{tcp4, udp6, tcpL}[n%3])
				m := w.monitor(t, id)
				if n%2 == 0 {
					w.demonitor(t, m)
				}
				s.registered(t, &sockdv1.WhichSocketsRequest{Type: sockdv1.Type_TYPE_STREAM})
				s.close(t, id)
			}
			// The rest dies with the session.
			s.open(t, udp4)
			ctx, cancel := s.call()
			defer cancel()
			s.api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: s.id})
		})
	}
	wg.Wait()
	if got := probe.numberOf(t); got != base {
		t.Errorf("number_of = %d after the churn, want %d", got, base)
	}
}

func TestSockctlRegistryVerbs(t *testing.T) {
	requireRoot(t, "use-registry is an admin's")
	c := newSockctl(t)
	id := c.ok(t, "open", "inet", "stream", "tcp")
	c.ok(t, "bind", id, "127.0.0.1:0")
	c.ok(t, "listen", id)
	hidden := c.ok(t, "open", "inet", "dgram", "--use-registry=false")
	sess := jsonLines(t, c.ok(t, "session", "show", "-o", "json"))[0]["session"].(string)

	ls := c.ok(t, "ls", "--owner", sess)
	if ls != id {
		t.Errorf("ls --owner = %q, want %q (not the unregistered %s)", ls, id, hidden)
	}
	if got := c.ok(t, "which-sockets", "--owner", sess, "--type", "dgram"); got != "" {
		t.Errorf("which-sockets --type dgram = %q, want nothing", got)
	}
	js := jsonLines(t, c.ok(t, "which-sockets", "--owner", sess, "--protocol", "tcp", "-o", "json"))
	if socks, _ := js[0]["sockets"].([]any); len(socks) != 1 || socks[0] != id {
		t.Errorf("which-sockets -o json = %v", js)
	}
	c.fails(t, 2, "which-sockets", "--domain", "bogus")

	if n := c.ok(t, "number-of"); n == "" || strings.Trim(n, "0123456789") != "" {
		t.Errorf("number-of printed %q", n)
	}

	table := c.ok(t, "i", "tcp", "--keys", "domain,type,protocol,owner,state")
	var mine string
	for _, l := range strings.Split(table, "\n") {
		if strings.Contains(l, sess) {
			mine = l
		}
	}
	if !strings.HasPrefix(table, "Domain Type   Protocol Owner") || !strings.HasPrefix(mine, "inet   STREAM TCP      "+sess) ||
		!strings.Contains(mine, "BD:LG") {
		t.Errorf("i tcp:\n%s", table)
	}

	mon := c.ok(t, "monitor", id)
	if got := c.ok(t, "cancel-monitor", mon); got != "true" {
		t.Errorf("cancel-monitor = %q", got)
	}
	if got := jsonLines(t, c.ok(t, "demonitor", mon, "-o", "json"))[0]["removed"]; got != false {
		t.Errorf("second demonitor -o json removed = %v", got)
	}
	mon = c.ok(t, "monitor", id)
	c.ok(t, "close", id)
	if ev := c.ok(t, "events"); !strings.Contains(ev, "down monitor="+mon+" reason=closed") {
		t.Errorf("events after close of a monitored socket:\n%s", ev)
	}

	gi := jsonLines(t, c.ok(t, "global-info", "-o", "json"))[0]
	if gi["use_registry"] != true || gi["io_backend"].(map[string]any)["name"] != "epoll" {
		t.Errorf("global-info -o json = %v", gi)
	}
	t.Cleanup(func() { c.ok(t, "use-registry", "true") })
	c.ok(t, "use-registry", "false")
	if !strings.Contains(c.ok(t, "global-info"), "use_registry: false") {
		t.Error("use-registry false not reflected in global-info")
	}
	c.fails(t, 2, "use-registry", "maybe")
	c.ok(t, "close", hidden)
}

func ptrTo[T any](v T) *T { return &v }

func fmtBool(b *bool) string {
	if b == nil {
		return "default"
	}
	if *b {
		return "true"
	}
	return "false"
}

// The verbs that ask the daemon as a whole (registry, options, global info)
// need no session and leave none behind: a script that polls number-of does
// not create one.
func TestSockctlDaemonVerbsCreateNoSession(t *testing.T) {
	t.Parallel()
	c := &sockctl{addr: daemon.Addr, session: uniqueName(t)}
	for _, args := range [][]string{{"number-of"}, {"which-sockets"}, {"global-info"}, {"supports", "options"}, {"is-supported", "ipv6"}} {
		c.ok(t, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cl, err := client.Dial(ctx, daemon.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s, err := cl.CreateSession(ctx, c.session, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	if s.Existing() {
		t.Errorf("session %q exists after session-less verbs", c.session)
	}
}

// TestDebugFlags re-expresses api_m_debug: socket:debug/1 flips the debug of
// info/0, and socket:socket_debug/1 the debug flag new sockets get (an open
// asking for debug gets it either way). Not parallel: the flags are global.
func TestDebugFlags(t *testing.T) {
	requireRoot(t, "debug and socket-debug are an admin's")
	s := newSession(t)
	ctx, cancel := s.call()
	defer cancel()
	for _, on := range []bool{true, false} {
		if _, err := s.api.Debug(ctx, &sockdv1.DebugRequest{Enabled: on}); err != nil {
			t.Fatal(err)
		}
		if got := s.globalInfo(t).GetDebug(); got != on {
			t.Errorf("after debug(%v): info debug = %v", on, got)
		}
	}
	if _, err := s.api.SocketDebug(ctx, &sockdv1.SocketDebugRequest{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	defer s.api.SocketDebug(ctx, &sockdv1.SocketDebugRequest{Enabled: false})
	if !s.globalInfo(t).GetSocketDebug() {
		t.Error("after socket_debug(true): info socket_debug = false")
	}
	debugOf := func(id string) bool { return s.getOpt(t, id, optKey(otp, "debug")).GetValue().GetBoolValue() }
	traced := s.open(t, udp4)
	if !debugOf(traced) {
		t.Error("a socket opened under socket_debug(true) has debug off")
	}
	if _, err := s.api.SocketDebug(ctx, &sockdv1.SocketDebugRequest{Enabled: false}); err != nil {
		t.Fatal(err)
	}
	if plain := s.open(t, udp4); debugOf(plain) || !debugOf(traced) {
		t.Error("socket_debug(false): a new socket has debug on, or an open one lost it")
	}
	s.close(t, traced)
}
