package server

import (
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

const examplePolicy = `
version: 1
rules:
  - principals: ["uid:0"]
    unrestricted: true
  - principals: ["uid:1000", "x509:frontend"]
    open: ["inet stream tcp", "inet6 dgram", "local stream"]
    netns: ["blue"]
    bind: ["127.0.0.1:8000-8999", "[::1]:8000-8999", "local:/run/app/*", "local:@app"]
    connect: ["10.0.0.0/8:443", "*:53", "2001:db8::/32"]
    sendto: ["*:53"]
    accept: ["127.0.0.0/8"]
    options: [socket.priority, ip.transparent]
    quotas: {sockets: 100, sessions: 4, pending_operations: 8, event_backlog: 64, completion_bytes: 65536}
  - principals: ["*"]
    open: ["inet stream"]
`

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ipAddr(s string) engine.SockAddr {
	ap := netip.MustParseAddrPort(s)
	f := engine.FamilyInet
	if ap.Addr().Is6() {
		f = engine.FamilyInet6
	}
	return engine.SockAddr{Family: f, Addr: ap.Addr(), Port: ap.Port()}
}

func localPath(path string) engine.SockAddr {
	return engine.SockAddr{Family: engine.FamilyLocal, Path: []byte(path)}
}

func TestPolicyRules(t *testing.T) {
	p := mustParse(t, examplePolicy)
	root := p.ruleFor(Principal{Kind: "uid", UID: 0})
	if root == nil || !root.unrestricted {
		t.Fatalf("uid:0 gets %+v, want the unrestricted rule", root)
	}
	app := p.ruleFor(Principal{Kind: "x509", Name: "frontend"})
	if app == nil || app != p.ruleFor(Principal{Kind: "uid", UID: 1000}) {
		t.Fatal("x509:frontend and uid:1000 must share the second rule")
	}
	if other := p.ruleFor(Principal{Kind: "tcp"}); other == nil || len(other.open) != 1 {
		t.Fatalf("tcp gets %+v, want the catch-all rule", other)
	}
	if app.quotas != (policyQuotas{sockets: 100, sessions: 4, pending: 8, eventBacklog: 64, completionBytes: 65536}) {
		t.Errorf("quotas %+v", app.quotas)
	}
	if !app.options[options.Key{Level: options.LevelSocket, Name: "priority"}] || app.native || app.anyOption {
		t.Errorf("options %+v native %v any %v", app.options, app.native, app.anyOption)
	}

	opens := []struct {
		domain, typ, proto int
		want               bool
	}{
		{unix.AF_INET, unix.SOCK_STREAM, 0, true}, // protocol 0 is tcp
		{unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_TCP, true},
		{unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_SCTP, false},
		{unix.AF_INET, unix.SOCK_DGRAM, 0, false},
		{unix.AF_INET6, unix.SOCK_DGRAM, 0, true},
		{unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6, false},
		{unix.AF_UNIX, unix.SOCK_STREAM, 0, true},
		{unix.AF_NETLINK, unix.SOCK_RAW, 0, false},
	}
	wild := mustParse(t, "version: 1\nrules:\n- principals: [\"*\"]\n  open: [\"* * tcp\", \"* dgram\", \"inet seqpacket sctp\", \"16 raw 0\"]").rules[0]
	for _, o := range []struct {
		domain, typ, proto int
		want               bool
	}{
		{unix.AF_INET6, unix.SOCK_STREAM, 0, true},
		{unix.AF_NETLINK, unix.SOCK_STREAM, unix.IPPROTO_TCP, false}, // 6 is NETLINK_XFRM there
		{unix.AF_NETLINK, unix.SOCK_DGRAM, 0, false},
		{unix.AF_UNIX, unix.SOCK_DGRAM, 0, true},
		{unix.AF_INET, unix.SOCK_SEQPACKET, 0, true}, // the kernel picks sctp
		{unix.AF_NETLINK, unix.SOCK_RAW, 0, true},    // given by number
	} {
		got := false
		for _, k := range wild.open {
			got = got || k.matches(o.domain, o.typ, o.proto)
		}
		if got != o.want {
			t.Errorf("wildcards: open(%d, %d, %d) allowed %v, want %v", o.domain, o.typ, o.proto, got, o.want)
		}
	}
	for _, o := range opens {
		got := false
		for _, k := range app.open {
			got = got || k.matches(o.domain, o.typ, o.proto)
		}
		if got != o.want {
			t.Errorf("open(%d, %d, %d) allowed %v, want %v", o.domain, o.typ, o.proto, got, o.want)
		}
	}

	addrs := []struct {
		list []addrPattern
		sa   engine.SockAddr
		want bool
	}{
		{app.bind, ipAddr("127.0.0.1:8080"), true},
		{app.bind, ipAddr("127.0.0.1:80"), false},
		{app.bind, ipAddr("127.0.0.2:8080"), false},
		{app.bind, ipAddr("[::1]:8999"), true},
		{app.bind, ipAddr("[::1]:9000"), false},
		{app.bind, localPath("/run/app/a.sock"), true},
		{app.bind, localPath("/run/app/../../etc/a.sock"), false},
		{app.bind, localPath("/run/application"), false},
		{app.bind, localPath("run/app/a.sock"), false},
		{app.bind, localPath("\x00app"), true},
		{app.bind, localPath("\x00apple"), false},
		{app.bind, localPath(""), false}, // autobind: an abstract name the rule does not give
		{app.connect, ipAddr("10.1.2.3:443"), true},
		{app.connect, ipAddr("[::ffff:10.1.2.3]:443"), true}, // v4-mapped
		{app.connect, ipAddr("10.1.2.3:80"), false},
		{app.connect, ipAddr("192.0.2.1:53"), true},
		{app.connect, ipAddr("[2001:db8::1]:22"), true},
		{app.connect, ipAddr("[2001:db9::1]:22"), false},
		{app.connect, localPath("/run/app/a.sock"), false},
		// No pattern covers AF_UNSPEC; Connect lets it through before asking.
		{app.connect, engine.SockAddr{Family: engine.FamilyUnspec}, false},
		{app.sendTo, ipAddr("192.0.2.1:53"), true},
		{app.sendTo, ipAddr("192.0.2.1:54"), false},
	}
	v6, err := parseAddrPattern("::/0")
	if err != nil {
		t.Fatal(err)
	}
	mapped, _ := parseAddrPattern("::ffff:0:0/96")
	loop4, _ := parseAddrPattern("127.0.0.0/8")
	addrs = append(addrs, []struct {
		list []addrPattern
		sa   engine.SockAddr
		want bool
	}{
		{[]addrPattern{v6}, ipAddr("[2001:db8::1]:1"), true},
		{[]addrPattern{v6}, ipAddr("[::ffff:127.0.0.1]:1"), false}, // IPv6 is not IPv4
		{[]addrPattern{mapped}, ipAddr("[::ffff:127.0.0.1]:1"), true},
		{[]addrPattern{loop4}, ipAddr("[::ffff:127.0.0.1]:1"), true},
		{[]addrPattern{loop4}, ipAddr("[::1]:1"), false},
	}...)
	for _, a := range addrs {
		if got := allowsAddr(a.list, a.sa); got != a.want {
			t.Errorf("%s allowed %v, want %v", addrTarget(a.sa), got, a.want)
		}
	}
}

func TestParsePolicyRefuses(t *testing.T) {
	for _, c := range []struct{ doc, want string }{
		{`version: 2`, "version"},
		{`{"version": 1, "rules": [{"principals": ["uid:x"]}]}`, "uid:NUMBER"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  open: [\"inet\"]", "DOMAIN TYPE"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  open: [\"inet strem\"]", "type \"strem\""},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  bind: [\"127.0.0.1:90-80\"]", "bad ports"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  bind: [\"local:/run/../x\"]", "clean path"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  bind: [\"local:run\"]", "local:*"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  bind: [\"10.0.0.0/33\"]", "bad prefix"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  bind: [\"[::1:80\"]", "closing ]"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  options: [ip.ttl]", "needs no permission"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  options: [socket.nosuch]", "no such option"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  unrestricted: true\n  open: [\"inet stream\"]", "unrestricted"},
		{"version: 1\nrules:\n- open: [\"inet stream\"]", "at least one"},
		{"version: 1\nrules:\n- principals: [\"uid:5\", \"tcp\"]\n  admin: true", "not for * or tcp"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  admin: true", "not for * or tcp"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  quotas: {sockets: -1}", "negative"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  quotas: {event_backlog: 4}", "event_backlog below"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  quotas: {sockets: 4294967296}", "at most"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  netns: [\"../etc\"]", "netns"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  netns: [\"/run/netns/../x\"]", "netns"},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  opne: [\"inet stream\"]", "unknown field"},
		{"version: 1\nversion: 1", "already set"},
		{"version: 1\nrules:\n- principals: [tcp]\n  act_as: \"1000\"", "want UID:GID"},
		{"version: 1\nrules:\n- principals: [tcp]\n  act_as: \"x:1\"", "bad uid"},
		{"version: 1\nrules:\n- principals: [tcp]\n  act_as: \"1:-1\"", "bad gid"},
		{"version: 1\nrules:\n- principals: [tcp]\n  act_as: \"4294967295:1\"", "bad uid"},
		{"version: 1\nrules:\n- principals: [tcp]\n  act_as: \"0:0\"", "gid 0"},
		{"version: 1\nrules:\n- principals: [tcp]\n  act_as: \"1000:0\"", "gid 0"},
		{"version: 1\nrules:\n- principals: [tcp]\n  act_as: \"01000:1000\"", "bad uid"},
	} {
		_, err := ParsePolicy([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error saying %q", c.doc, err, c.want)
		}
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy(1234, 1024)
	for _, pr := range []Principal{{Kind: "uid", UID: 0}, {Kind: "uid", UID: 1234}} {
		if r := p.ruleFor(pr); r == nil || !r.unrestricted {
			t.Errorf("%s is not unrestricted", pr)
		}
	}
	r := p.ruleFor(Principal{Kind: "tcp"})
	if r == nil || r.unrestricted {
		t.Fatalf("tcp gets %+v", r)
	}
	if r != p.ruleFor(Principal{Kind: "uid", UID: 1000}) || r != p.ruleFor(Principal{Kind: "x509", Name: "x"}) {
		t.Error("other principals must share the unprivileged rule")
	}
	allowed := func(domain, typ int) bool {
		for _, k := range r.open {
			if k.matches(domain, typ, 0) {
				return true
			}
		}
		return false
	}
	if !allowed(unix.AF_INET, unix.SOCK_STREAM) || !allowed(unix.AF_INET6, unix.SOCK_DGRAM) {
		t.Error("unprivileged kinds refused")
	}
	if allowed(unix.AF_INET, unix.SOCK_RAW) || allowed(unix.AF_PACKET, unix.SOCK_DGRAM) || allowed(unix.AF_NETLINK, unix.SOCK_DGRAM) || allowed(unix.AF_UNIX, unix.SOCK_STREAM) {
		t.Error("raw, packet, netlink or local sockets allowed")
	}
	for _, c := range []struct {
		list []addrPattern
		sa   engine.SockAddr
		want bool
	}{
		{r.bind, ipAddr("0.0.0.0:0"), true},
		{r.bind, ipAddr("127.0.0.1:1023"), false},
		{r.bind, ipAddr("127.0.0.1:1024"), true},
		{r.bind, ipAddr("[::]:80"), false},
		{r.bind, localPath("/tmp/x"), false},
		{r.bind, localPath("\x00x"), false},
		{r.connect, ipAddr("192.0.2.1:22"), true},
		{r.connect, localPath("/run/dbus/system_bus_socket"), false},
		{r.sendTo, ipAddr("[2001:db8::1]:53"), true},
		{r.sendTo, engine.SockAddr{Family: engine.FamilyUnspec, Raw: make([]byte, 14)}, false},
	} {
		if got := allowsAddr(c.list, c.sa); got != c.want {
			t.Errorf("%s allowed %v, want %v", addrTarget(c.sa), got, c.want)
		}
	}
	if len(r.options) != 0 || r.native || r.anyOption || len(r.netns) != 0 {
		t.Error("the unprivileged rule allows options or namespaces")
	}
	if p := DefaultPolicy(0, 65536); len(p.ruleFor(Principal{Kind: "tcp"}).bind) != 1 {
		t.Error("with every port privileged only port 0 may be bound")
	}
}

func TestNeedsPrivilege(t *testing.T) {
	key := func(l options.Level, n string) *options.Option {
		o, ok := options.Lookup(options.Key{Level: l, Name: n})
		if !ok {
			t.Fatalf("no option %v.%s", l, n)
		}
		return o
	}
	e, err := engine.New(engine.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	open := func(opts engine.OpenOptions) *engine.Socket {
		s, err := e.Open(nil, unix.AF_INET, unix.SOCK_STREAM, 0, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	daemons := open(engine.OpenOptions{})
	allowed := allowedCongestion()
	if len(allowed) == 0 {
		t.Fatalf("%s lists no algorithm", allowedCongestionFile)
	}
	for _, c := range []struct {
		o    *options.Option
		v    any
		want bool
	}{
		{key(options.LevelSocket, "reuseport"), true, true}, // it would join every uid-less principal's groups
		{key(options.LevelSocket, "reuseport"), false, false},
		{key(options.LevelTCP, "congestion"), allowed[0], false},
		{key(options.LevelTCP, "congestion"), "no-such-algorithm", true},
		{key(options.LevelIPv6, "dstopts"), true, false}, // IPV6_RECVDSTOPTS: anyone's
		{key(options.LevelSocket, "priority"), 6, false},
		{key(options.LevelSocket, "priority"), 7, true},
		{key(options.LevelIP, "tos"), options.TOS(0x10), false},
		{key(options.LevelIP, "tos"), options.TOS(0xb8), false}, // EF
		{key(options.LevelIP, "tos"), options.TOS(0xc0), true},  // CS6
		{key(options.LevelIP, "transparent"), true, true},
		{key(options.LevelIP, "transparent"), false, false}, // Linux checks only turning it on
		{key(options.LevelIP, "hdrincl"), false, false},
		{key(options.LevelIP, "hdrincl"), true, true},
		{key(options.LevelIPv6, "tclass"), -1, false}, // the route's default
		{key(options.LevelIPv6, "tclass"), 0xc0, true},
		{key(options.LevelSocket, "busy_poll"), 0, false}, // no longer than it is (0)
		{key(options.LevelSocket, "busy_poll"), 50, true},
		{key(options.LevelSocket, "mark"), 0, true},                                   // SO_MARK wants CAP_NET_ADMIN for any value
		{key(options.LevelSocket, "bindtodevice"), "lo", !unprivilegedBindToDevice()}, // a first binding
		{key(options.LevelSocket, "debug"), 0, false},
		{key(options.LevelSocket, "debug"), 1, true},
		{key(options.LevelIP, "ttl"), 9, false},
	} {
		if got := needsPrivilege(daemons, c.o, c.v); got != c.want {
			t.Errorf("%s = %v: needs privilege %v, want %v", c.o.Key, c.v, got, c.want)
		}
	}
	bound := open(engine.OpenOptions{})
	if err := options.SetResolved(bound, key(options.LevelSocket, "bindtodevice"), "lo"); err != nil {
		t.Logf("bindtodevice lo: %v (not checked: a changed binding)", err)
	} else if !needsPrivilege(bound, key(options.LevelSocket, "bindtodevice"), "") {
		t.Error("changing a socket's device binding (CAP_NET_RAW) needs no privilege")
	}
	if os.Geteuid() != 0 {
		t.Log("not root: a socket acting for a user cannot be opened")
		return
	}
	users := open(engine.OpenOptions{Creds: &engine.Creds{UID: 4242, GID: 4242}})
	if needsPrivilege(users, key(options.LevelSocket, "reuseport"), true) {
		t.Error("reuseport on a socket of a user of its own (the kernel keeps its group to that uid) needs privilege")
	}
}

// FuzzParsePolicy: any document is parsed or refused with an error, never a
// panic, and a parsed policy answers for any principal and address.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(examplePolicy))
	f.Add([]byte(`{"version": 1, "rules": [{"principals": ["*"], "bind": ["[::1]:1-2", "local:@x*"]}]}`))
	f.Add([]byte("version: 1\nrules:\n- principals: [tcp]\n  connect: [\"*:0-65535\", \"::/0\", \"local:/a/*\"]"))
	f.Add([]byte("version: 1\nrules:\n- principals: [tcp, \"x509:x\"]\n  act_as: \"1000:100\""))
	probes := []engine.SockAddr{
		ipAddr("127.0.0.1:80"), ipAddr("[::ffff:10.0.0.1]:443"), ipAddr("[2001:db8::1]:0"),
		localPath("/run/app/s"), localPath("\x00app"), localPath(""), localPath("x/../y"),
		{Family: engine.FamilyUnspec}, {Family: engine.FamilyNative, Raw: []byte{1}},
	}
	principals := []Principal{{Kind: "uid", UID: 0}, {Kind: "uid", UID: 1000}, {Kind: "uid", UID: 1}, {Kind: "tcp"}, {Kind: "x509", Name: "frontend"}, {Kind: "x509", Name: "x"}}
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := ParsePolicy(doc)
		if err != nil {
			if p != nil {
				t.Fatal("a policy and an error")
			}
			return
		}
		for _, pr := range principals {
			r := p.ruleFor(pr)
			if want := firstRuleNaming(p, pr); r != want {
				t.Fatalf("%s: the index gives rule %p, the first rule naming it is %p", pr, r, want)
			}
			if r == nil {
				continue
			}
			if r.unrestricted && len(r.open)+len(r.bind)+len(r.connect)+len(r.sendTo)+len(r.accept) > 0 {
				t.Fatal("an unrestricted rule with lists")
			}
			for _, list := range [][]addrPattern{r.bind, r.connect, r.sendTo, r.accept} {
				for _, a := range list {
					if again, err := parseAddrPattern(a.String()); err != nil || again != a {
						t.Fatalf("%+v spelled %q reads back as %+v, %v", a, a.String(), again, err)
					}
				}
			}
			for _, k := range r.open {
				if again, err := parseSocketKind(k.String()); err != nil || again != k {
					t.Fatalf("%+v spelled %q reads back as %+v, %v", k, k.String(), again, err)
				}
			}
			for _, sa := range probes {
				for _, list := range [][]addrPattern{r.bind, r.connect, r.sendTo, r.accept} {
					if allowsAddr(list, sa) && (sa.Family == engine.FamilyUnspec || sa.Family == engine.FamilyNative) {
						t.Fatalf("a pattern covers %+v", sa)
					}
				}
			}
			if r.actAs != nil {
				if again, err := parseActAs(r.encode().ActAs); err != nil || *again != *r.actAs || again.UID == 0 {
					t.Fatalf("act_as %+v spelled %q reads back as %+v, %v", *r.actAs, r.encode().ActAs, again, err)
				}
			}
			for _, k := range r.open {
				if k.matches(unix.AF_INET, unix.SOCK_STREAM, 0) != k.matches(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_TCP) {
					t.Fatalf("%+v: protocol 0 and tcp disagree for inet stream", k)
				}
			}
		}
	})
}

// GlobalInfo tells a principal its rule in the file's own spelling.
func TestEncodePolicyRule(t *testing.T) {
	p := mustParse(t, examplePolicy)
	got := encodePolicyRule(p, Principal{Kind: "uid", UID: 1000})
	want := &sockdv1.PolicyRule{
		Source: "policy", Matched: true,
		Open:        []string{"inet stream tcp", "inet6 dgram *", "local stream *"},
		Netns:       []string{"/run/netns/blue"},
		Bind:        []string{"127.0.0.1:8000-8999", "[::1]:8000-8999", "local:/run/app/*", "local:@app"},
		Connect:     []string{"10.0.0.0/8:443", "*:53", "2001:db8::/32"},
		Sendto:      []string{"*:53"},
		Accept:      []string{"127.0.0.0/8"},
		Options:     []string{"ip.transparent", "socket.priority"},
		SocketQuota: 100, SessionQuota: 4, EventBacklogQuota: 64, CompletionBytesQuota: 65536, PendingOperationsQuota: 8,
	}
	if !proto.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if got := encodePolicyRule(p, Principal{Kind: "uid", UID: 0}); !got.GetUnrestricted() || !got.GetMatched() {
		t.Errorf("root: %v", got)
	}
	if got := encodePolicyRule(mustParse(t, "version: 1"), Principal{Kind: "tcp"}); got.GetMatched() {
		t.Errorf("no rule: %v", got)
	}
	def := encodePolicyRule(DefaultPolicy(0, 1024), Principal{Kind: "tcp"})
	if def.GetSource() != "default" || !slices.Equal(def.GetBind(), []string{"*:0", "*:1024-65535"}) || !slices.Equal(def.GetConnect(), []string{"*"}) || def.GetSocketQuota() != 1024 {
		t.Errorf("default for tcp: %v", def)
	}
}

// firstRuleNaming is what ruleFor's index must answer: the first rule that
// names p, by a pattern of its own or by "*".
func firstRuleNaming(pol *Policy, p Principal) *policyRule {
	for _, r := range pol.rules {
		for _, pp := range r.principals {
			if pp.any || pp.Principal == p {
				return r
			}
		}
	}
	return nil
}

func TestRuleForIsTheFirstMatch(t *testing.T) {
	p := mustParse(t, `
version: 1
rules:
- {principals: ["uid:1"], open: ["inet stream"]}
- {principals: ["uid:2", "*"], open: ["inet dgram"]}
- {principals: ["uid:1", "uid:3"], open: ["inet6 stream"]}
`)
	for _, c := range []struct {
		p    Principal
		want int
	}{{Principal{Kind: "uid", UID: 1}, 0}, {Principal{Kind: "uid", UID: 2}, 1}, {Principal{Kind: "uid", UID: 3}, 1}, {Principal{Kind: "tcp"}, 1}} {
		if got := p.ruleFor(c.p); got != p.rules[c.want] {
			t.Errorf("%s gets %p, want rule %d", c.p, got, c.want)
		}
	}
}

// A rule letting a principal that is not a local user open local sockets
// without act_as is warned about: those sockets act for the daemon's user.
func TestPolicyWarnings(t *testing.T) {
	for _, c := range []struct {
		doc  string
		warn bool
	}{
		{"version: 1\nrules:\n- principals: [tcp]\n  open: [\"local stream\"]", true},
		{"version: 1\nrules:\n- principals: [\"uid:5\", \"*\"]\n  open: [\"* dgram\"]", true},
		{"version: 1\nrules:\n- principals: [\"x509:ops\"]\n  unrestricted: true", true},
		{"version: 1\nrules:\n- principals: [\"x509:app\"]\n  open: [\"local stream\"]\n  act_as: \"1000:1000\"", false},
		{"version: 1\nrules:\n- principals: [\"uid:1000\"]\n  open: [\"local stream\"]", false},
		{"version: 1\nrules:\n- principals: [tcp]\n  open: [\"inet stream\", \"inet6 dgram\"]", false},
		{"version: 1\nrules:\n- principals: [\"*\"]\n  act_as: \"1000:1000\"", true},
		{"version: 1\nrules:\n- principals: [\"uid:5\"]\n  act_as: \"1000:1000\"", true},
		{"version: 1\nrules:\n- principals: [\"uid:1000\", tcp]\n  act_as: \"1000:100\"", false},
	} {
		if got := mustParse(t, c.doc).Warnings(); (len(got) > 0) != c.warn {
			t.Errorf("%q: warnings %q, want some: %v", c.doc, got, c.warn)
		}
	}
}

// The unspecified destination reaches a local address the kernel picks, so
// only any address, or the unspecified address named, lets it through: not
// prefixes that happen to contain it while leaving the loopback out.
func TestUnspecifiedDestination(t *testing.T) {
	patterns := func(ss ...string) []addrPattern { return addrPatterns(t, ss...) }
	notLoopback := patterns("0.0.0.0/2", "64.0.0.0/3", "96.0.0.0/4", "112.0.0.0/5", "120.0.0.0/6", "124.0.0.0/7", "126.0.0.0/8", "128.0.0.0/1")
	for _, c := range []struct {
		list []addrPattern
		sa   string
		want bool
	}{
		{notLoopback, "0.0.0.0:9", false},
		{patterns("*:9"), "0.0.0.0:9", true},
		{patterns("*:9"), "0.0.0.0:10", false},
		{patterns("*:9"), "[::]:9", true},
		{patterns("0.0.0.0:9"), "0.0.0.0:9", true},
		{patterns("0.0.0.0:9"), "[::ffff:0.0.0.0]:9", true},
		{patterns("0.0.0.0:9"), "[::]:9", false},
		{patterns("::/0", "0.0.0.0/0"), "[::]:9", false},
		{patterns("127.0.0.1:9", "[::1]:9"), "[::]:9", false},
	} {
		if got := allowsUnspecified(c.list, ipAddr(c.sa)); got != c.want {
			t.Errorf("%v to %s: %v, want %v", c.list, c.sa, got, c.want)
		}
	}
	// And through the check itself: the prefixes allow a real address.
	check := policyCheck{pol: &Policy{origin: "test"}, p: Principal{Kind: "uid", UID: 1000}, r: &policyRule{connect: notLoopback}, denials: newDenials(slog.Default())}
	if err := check.connectPeer(unix.SOCK_STREAM, ipAddr("0.0.0.0:9")); err == nil {
		t.Error("0.0.0.0 allowed by prefixes that leave the loopback out")
	}
	if err := check.connectPeer(unix.SOCK_STREAM, ipAddr("8.8.8.8:9")); err != nil {
		t.Errorf("an address the prefixes hold: %v", err)
	}
}

// A bind to an empty local path autobinds: it needs what Linux's autobind
// name needs ("@" and five hex digits), whatever paths the rule gives.
func TestPolicyBindToNoPathIsAnAutobind(t *testing.T) {
	for _, c := range []struct {
		bind []string
		want bool
	}{
		{[]string{"local:@*"}, true},
		{[]string{"local:*"}, true},
		{[]string{"local:/run/app/*"}, false},
		{[]string{"local:@app"}, false},
		{nil, false},
	} {
		check := policyCheck{pol: &Policy{origin: "test"}, p: Principal{Kind: "uid", UID: 1000},
			r: &policyRule{bind: addrPatterns(t, c.bind...)}, denials: newDenials(slog.Default())}
		err := check.bind(nil, engine.SockAddr{Family: engine.FamilyLocal, Path: []byte{}})
		if got := err == nil; got != c.want {
			t.Errorf("bind to no path under %v: %v, want allowed %v", c.bind, err, c.want)
		}
	}
	// A denial names no path as the pattern that would allow it, saying it
	// is no path, not the abstract name "".
	if got := addrTarget(engine.SockAddr{Family: engine.FamilyLocal, Path: []byte{}}); got != "local:@ (no path)" {
		t.Errorf("no path is named %s", got)
	}
}

// addrPatterns parses a rule's address patterns.
func addrPatterns(t testing.TB, ss ...string) []addrPattern {
	t.Helper()
	var list []addrPattern
	for _, s := range ss {
		a, err := parseAddrPattern(s)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, a)
	}
	return list
}
