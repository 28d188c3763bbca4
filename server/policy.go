package server

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/yaml"

	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// A Policy says what each principal may do with the daemon's sockets
// (DESIGN §7): the sockets it may open, the addresses it may bind, connect
// or send to and accept connections from, the privileged options it may
// set, and how many sockets and sessions it may hold. Every call through
// the daemon is made with the daemon's privileges, often root's; the policy
// is what stands between a principal and them.
//
// A policy is a list of rules. A principal gets the first rule that names
// it; a principal that no rule names may open nothing (deny by default).
type Policy struct {
	origin string
	rules  []*policyRule
	named  map[Principal]*policyRule // see index
	anyone *policyRule
}

// policyRule is one rule of a policy, parsed.
type policyRule struct {
	principals   []principalPattern
	unrestricted bool
	admin        bool // sees and touches every session and socket
	open         []socketKind
	netns        []string
	bind         []addrPattern
	connect      []addrPattern
	sendTo       []addrPattern
	accept       []addrPattern
	options      map[options.Key]bool // privileged options it allows
	anyOption    bool                 // "*": every privileged option and native ones
	native       bool                 // SetOptNative
	quotas       policyQuotas
}

// policyQuotas bound what a principal holds; 0 leaves the daemon's limit,
// and a quota never raises one.
type policyQuotas struct {
	sockets  int // open sockets of all its sessions
	sessions int
	pending  int // operations of all its sessions waiting at once (admitWaiting)
	// Per session, fixed when the session is created: events held for
	// delivery and replay, and bytes held for undelivered completions.
	eventBacklog    int
	completionBytes int
}

// maxCompletionQuota bounds completion_bytes (1 TiB): a quota never raises
// the daemon's own limit anyway.
const maxCompletionQuota = 1 << 40

// minEventBacklog is the smallest event_backlog quota: nowait calls are
// refused once half the backlog is undelivered.
const minEventBacklog = 16

// Bounds on a policy, so that a mistaken file cannot make every call slow.
const (
	maxPolicyFile    = 1 << 20
	maxPolicyRules   = 1024
	maxPolicyEntries = 4096 // per list of a rule
)

// The policy file's schema, version 1. YAML or JSON; unknown fields are errors.
type policyDoc struct {
	Version int       `json:"version"`
	Rules   []ruleDoc `json:"rules"`
}

type ruleDoc struct {
	Principals   []string `json:"principals"`
	Unrestricted bool     `json:"unrestricted"`
	Admin        bool     `json:"admin"`
	Open         []string `json:"open"`
	Netns        []string `json:"netns"`
	Bind         []string `json:"bind"`
	Connect      []string `json:"connect"`
	SendTo       []string `json:"sendto"`
	Accept       []string `json:"accept"`
	Options      []string `json:"options"`
	Quotas       struct {
		Sockets           int `json:"sockets"`
		Sessions          int `json:"sessions"`
		PendingOperations int `json:"pending_operations"`
		EventBacklog      int `json:"event_backlog"`
		CompletionBytes   int `json:"completion_bytes"`
	} `json:"quotas"`
}

// LoadPolicy reads and parses a policy file.
func LoadPolicy(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Whoever may write the policy may grant themselves the daemon's rights:
	// only root or the daemon's own user may.
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("%s: writable by group or others (mode %v); only its owner may write a policy", path, st.Mode().Perm())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 && int(sys.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("%s: owned by uid %d; a policy must belong to root or to the daemon's user", path, sys.Uid)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPolicyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPolicyFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxPolicyFile)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p.origin = path
	return p, nil
}

// ParsePolicy parses a policy document (YAML or JSON).
func ParsePolicy(data []byte) (*Policy, error) {
	if len(data) > maxPolicyFile {
		return nil, fmt.Errorf("policy larger than %d bytes", maxPolicyFile)
	}
	var doc policyDoc
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return nil, err
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("version: want 1, got %d", doc.Version)
	}
	if len(doc.Rules) > maxPolicyRules {
		return nil, fmt.Errorf("rules: at most %d, got %d", maxPolicyRules, len(doc.Rules))
	}
	p := &Policy{origin: "policy"}
	for i, rd := range doc.Rules {
		r, err := parseRule(rd)
		if err != nil {
			return nil, fmt.Errorf("rules[%d]: %w", i, err)
		}
		p.rules = append(p.rules, r)
	}
	return p.index(), nil
}

func parseRule(d ruleDoc) (*policyRule, error) {
	r := &policyRule{unrestricted: d.Unrestricted, admin: d.Admin, options: map[options.Key]bool{}}
	if len(d.Principals) == 0 {
		return nil, errors.New("principals: a rule names at least one")
	}
	lists := map[string]int{"principals": len(d.Principals), "open": len(d.Open), "netns": len(d.Netns),
		"bind": len(d.Bind), "connect": len(d.Connect), "sendto": len(d.SendTo), "accept": len(d.Accept), "options": len(d.Options)}
	for name, n := range lists {
		if n > maxPolicyEntries {
			return nil, fmt.Errorf("%s: at most %d entries, got %d", name, maxPolicyEntries, n)
		}
	}
	if r.admin && slices.ContainsFunc(d.Principals, func(s string) bool { return s == "*" || s == "tcp" }) {
		return nil, errors.New("admin: not for * or tcp, which any local process can be")
	}
	if r.unrestricted && len(d.Open)+len(d.Netns)+len(d.Bind)+len(d.Connect)+len(d.SendTo)+len(d.Accept)+len(d.Options) > 0 {
		return nil, errors.New("unrestricted: an unrestricted rule allows everything; it takes no open, netns, address or options lists")
	}
	for _, s := range d.Principals {
		pp, err := parsePrincipalPattern(s)
		if err != nil {
			return nil, fmt.Errorf("principals: %w", err)
		}
		r.principals = append(r.principals, pp)
	}
	for _, s := range d.Open {
		k, err := parseSocketKind(s)
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		r.open = append(r.open, k)
	}
	for _, s := range d.Netns {
		ns, err := parseNetns(s)
		if err != nil {
			return nil, fmt.Errorf("netns: %w", err)
		}
		r.netns = append(r.netns, ns)
	}
	for _, l := range []struct {
		name string
		in   []string
		out  *[]addrPattern
	}{{"bind", d.Bind, &r.bind}, {"connect", d.Connect, &r.connect}, {"sendto", d.SendTo, &r.sendTo}, {"accept", d.Accept, &r.accept}} {
		for _, s := range l.in {
			a, err := parseAddrPattern(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.name, err)
			}
			*l.out = append(*l.out, a)
		}
	}
	for _, s := range d.Options {
		if err := r.allowOption(s); err != nil {
			return nil, fmt.Errorf("options: %w", err)
		}
	}
	q := d.Quotas
	if q.Sockets < 0 || q.Sessions < 0 || q.PendingOperations < 0 || q.EventBacklog < 0 || q.CompletionBytes < 0 {
		return nil, errors.New("quotas: must not be negative")
	}
	if max(q.Sockets, q.Sessions, q.PendingOperations, q.EventBacklog) > math.MaxInt32 || q.CompletionBytes > maxCompletionQuota {
		return nil, fmt.Errorf("quotas: sockets, sessions, pending_operations and event_backlog at most %d, completion_bytes at most %d", math.MaxInt32, maxCompletionQuota)
	}
	if q.EventBacklog > 0 && q.EventBacklog < minEventBacklog {
		return nil, fmt.Errorf("quotas: event_backlog below %d would refuse most nowait calls", minEventBacklog)
	}
	r.quotas = policyQuotas{sockets: q.Sockets, sessions: q.Sessions, pending: q.PendingOperations,
		eventBacklog: q.EventBacklog, completionBytes: q.CompletionBytes}
	return r, nil
}

// allowOption adds one entry of a rule's options list: "*", "native", or a
// privileged option's "level.name".
func (r *policyRule) allowOption(s string) error {
	switch s {
	case "*":
		r.anyOption, r.native = true, true
		return nil
	case "native":
		r.native = true
		return nil
	}
	level, name, ok := strings.Cut(s, ".")
	if !ok {
		return fmt.Errorf("%q: want level.name (socket.priority), native or *", s)
	}
	l, err := options.ParseLevel(level)
	if err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	o, ok := options.Lookup(options.Key{Level: l, Name: name})
	if !ok {
		return fmt.Errorf("%q: no such option", s)
	}
	if !o.Privileged {
		return fmt.Errorf("%q: needs no permission; list only privileged options", s)
	}
	r.options[o.Key] = true
	return nil
}

// principalPattern matches principals: "*", "tcp", "uid:N" or "x509:NAME".
type principalPattern struct {
	any bool
	Principal
}

func parsePrincipalPattern(s string) (principalPattern, error) {
	kind, value, _ := strings.Cut(s, ":")
	switch {
	case s == "*":
		return principalPattern{any: true}, nil
	case s == "tcp":
		return principalPattern{Principal: Principal{Kind: "tcp"}}, nil
	case kind == "uid":
		uid, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return principalPattern{}, fmt.Errorf("%q: want uid:NUMBER", s)
		}
		return principalPattern{Principal: Principal{Kind: "uid", UID: uint32(uid)}}, nil
	case kind == "x509" && value != "":
		return principalPattern{Principal: Principal{Kind: "x509", Name: value}}, nil
	}
	return principalPattern{}, fmt.Errorf("%q: want *, tcp, uid:NUMBER or x509:NAME", s)
}

// parseNetns reads an entry of a rule's netns list: "*", the path of a
// network namespace (absolute and clean, as Open must give it), or a name
// that `ip netns` keeps in /run/netns.
func parseNetns(s string) (string, error) {
	switch {
	case s == "*":
		return s, nil
	case path.IsAbs(s) && path.Clean(s) == s:
		return s, nil
	case s != "" && !strings.ContainsAny(s, "/\x00") && s != "." && s != "..":
		return "/run/netns/" + s, nil
	}
	return "", fmt.Errorf("%q: want *, an absolute clean path, or a name in /run/netns", s)
}

// socketKind is an entry of a rule's open list: "DOMAIN TYPE [PROTOCOL]",
// each a name, a number or "*"; -1 is any. A "*" domain is inet, inet6 or
// local: a protocol named for those families means something else in
// others (6 is tcp in inet, NETLINK_XFRM in netlink), so other families
// must be given by number. A "*" protocol is any but raw (255), whose
// sockets write whole IP headers: that one must be named.
type socketKind struct{ domain, typ, protocol int }

func parseSocketKind(s string) (socketKind, error) {
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return socketKind{}, fmt.Errorf("%q: want DOMAIN TYPE [PROTOCOL]", s)
	}
	if len(f) == 2 {
		f = append(f, "*")
	}
	var k socketKind
	var err error
	if k.domain, err = kindField(f[0], "domain", sockdv1.Domain_value, "DOMAIN_", domains); err != nil {
		return socketKind{}, err
	}
	if k.typ, err = kindField(f[1], "type", sockdv1.Type_value, "TYPE_", types); err != nil {
		return socketKind{}, err
	}
	if k.protocol, err = kindField(f[2], "protocol", sockdv1.Protocol_value, "PROTOCOL_", protocols); err != nil {
		return socketKind{}, err
	}
	k.protocol = defaultProtocol(k.domain, k.typ, k.protocol)
	return k, nil
}

// kindField parses "*", a number, or the name the API's enum gives
// (DOMAIN_INET is "inet"), resolved through the same table Open uses.
func kindField[E ~int32](s, what string, names map[string]int32, prefix string, table map[E]int) (int, error) {
	if s == "*" {
		return -1, nil
	}
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return int(n), nil
	}
	if v, ok := names[prefix+strings.ToUpper(s)]; ok {
		if n, ok := table[E(v)]; ok {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s %q: not a name the API knows, a number or *", what, s)
}

// defaultProtocol resolves protocol 0 of an inet stream, dgram or seqpacket
// socket to the one the kernel picks, so that "inet stream" opened with
// protocol 0 and a rule naming tcp agree.
func defaultProtocol(domain, typ, protocol int) int {
	if protocol != 0 || (domain != unix.AF_INET && domain != unix.AF_INET6) {
		return protocol
	}
	switch typ {
	case unix.SOCK_STREAM:
		return unix.IPPROTO_TCP
	case unix.SOCK_DGRAM:
		return unix.IPPROTO_UDP
	case unix.SOCK_SEQPACKET:
		return unix.IPPROTO_SCTP
	}
	return protocol
}

func (k socketKind) matches(domain, typ, protocol int) bool {
	protocol = defaultProtocol(domain, typ, protocol)
	return (k.domain == domain || k.domain < 0 && wildcardDomain(domain)) &&
		(k.typ < 0 || k.typ == typ) &&
		(k.protocol == protocol || k.protocol < 0 && protocol != unix.IPPROTO_RAW)
}

// wildcardDomain reports whether a "*" domain covers domain.
func wildcardDomain(domain int) bool {
	return domain == unix.AF_INET || domain == unix.AF_INET6 || domain == unix.AF_UNIX
}

// String spells the kind as a rule's open list does: "inet stream tcp".
func (k socketKind) String() string {
	field := func(n int, name func(int) string) string {
		if n < 0 {
			return "*"
		}
		return name(n)
	}
	return field(k.domain, func(n int) string { return kindName(n, domains) }) + " " +
		field(k.typ, func(n int) string { return kindName(n, types) }) + " " +
		field(k.protocol, func(n int) string { return kindName(n, protocols) })
}

// ruleFor returns the rule that applies to p, or nil: p may do nothing.
// Every call asks, so the first match is looked up, not searched for.
func (pol *Policy) ruleFor(p Principal) *policyRule {
	if r, ok := pol.named[p]; ok {
		return r
	}
	return pol.anyone
}

// index records, for each principal a rule names, the first rule naming it
// unless a "*" rule comes first, and the first "*" rule for the others.
func (pol *Policy) index() *Policy {
	pol.named = map[Principal]*policyRule{}
	for _, r := range pol.rules {
		for _, pp := range r.principals {
			switch _, seen := pol.named[pp.Principal]; {
			case pp.any && pol.anyone == nil:
				pol.anyone = r
			case !pp.any && !seen && pol.anyone == nil:
				pol.named[pp.Principal] = r
			}
		}
	}
	return pol
}

// String names where the policy came from: a file, or the default.
func (pol *Policy) String() string { return pol.origin }

// defaultSocketQuota bounds the sockets of principals the default policy
// restricts: what an unprivileged user usually may hold open (RLIMIT_NOFILE).
const defaultSocketQuota = 1024

// DefaultPolicy is the policy in force when no file is given. Root and the
// daemon's own user may do anything: they could anyway. Anyone else (other
// users, plain TCP clients, TLS clients) may do what an unprivileged user
// could do on its own, so that the daemon's privileges lend it nothing:
// open inet and inet6 sockets of type stream, dgram or seqpacket; bind to
// port 0 or from unprivilegedPorts up; connect and send to any inet
// address. Local sockets are refused: through the daemon a peer would see
// the daemon's user (SO_PEERCRED), and paths would be resolved with its
// rights. No privileged or native option and no network namespace; 1024
// sockets and 1024 waiting operations.
func DefaultPolicy(daemonUID uint32, unprivilegedPorts int) *Policy {
	owners := &policyRule{
		principals:   []principalPattern{{Principal: Principal{Kind: "uid", UID: 0}}, {Principal: Principal{Kind: "uid", UID: daemonUID}}},
		unrestricted: true,
	}
	anyone := &policyRule{
		principals: []principalPattern{{any: true}},
		options:    map[options.Key]bool{},
		// An unprivileged user's usual RLIMIT_NOFILE, and as many waiting
		// operations.
		quotas: policyQuotas{sockets: defaultSocketQuota, pending: defaultSocketQuota},
	}
	for _, domain := range []int{unix.AF_INET, unix.AF_INET6} {
		for _, typ := range []int{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET} {
			anyone.open = append(anyone.open, socketKind{domain: domain, typ: typ, protocol: -1})
		}
	}
	anyone.bind = []addrPattern{{lo: 0, hi: 0}}
	if unprivilegedPorts <= 65535 {
		anyone.bind = append(anyone.bind, addrPattern{lo: uint16(max(unprivilegedPorts, 0)), hi: 65535})
	}
	anyInet := []addrPattern{{lo: 0, hi: 65535}}
	anyone.connect, anyone.sendTo, anyone.accept = anyInet, anyInet, anyInet
	return (&Policy{origin: "default", rules: []*policyRule{owners, anyone}}).index()
}

// defaultUnprivilegedPorts is where unprivileged binds start when the
// kernel's setting cannot be read.
const defaultUnprivilegedPorts = 1024

// UnprivilegedPortStart reads the first port an unprivileged user may bind
// (net.ipv4.ip_unprivileged_port_start).
func UnprivilegedPortStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return defaultUnprivilegedPorts
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 65536 {
		return defaultUnprivilegedPorts
	}
	return n
}
