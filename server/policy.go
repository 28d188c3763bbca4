package server

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/options"
)

// A Policy says what each principal may do with the daemon's sockets
// (DESIGN §7): the sockets it may open, the addresses it may bind, connect
// or send to and accept connections from, the privileged options it may
// set, and its quotas. Every call through
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
	actAs        *engine.Creds // the local user its sockets act for, if the rule names one
}

// policyQuotas bound what a principal holds; 0 leaves the daemon's limit,
// and a quota never raises one.
type policyQuotas struct {
	sockets  int // open sockets of all its sessions
	sessions int
	pending  int // operations of all its sessions waiting at once (Session.ReserveRequest)
	// Per session, fixed when the session is created: events held for
	// delivery and replay, and bytes held for undelivered completions.
	eventBacklog    int
	completionBytes int
}

// principalPattern matches principals: "*", "tcp", "uid:N" or "x509:NAME".
type principalPattern struct {
	any bool
	Principal
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

// quotasFor is p's quotas: its rule's, or none (all 0) when no rule names it.
func (pol *Policy) quotasFor(p Principal) policyQuotas {
	if r := pol.ruleFor(p); r != nil {
		return r.quotas
	}
	return policyQuotas{}
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
// address. Local sockets are refused: a policy file grants them where an
// operator wants them (a local user's then act as that user toward paths
// and peers; other principals' as the daemon's user). No privileged or native option and no network namespace; 1024
// sockets and 4096 waiting operations.
func DefaultPolicy(daemonUID uint32, unprivilegedPorts int) *Policy {
	owners := &policyRule{
		principals:   []principalPattern{{Principal: Principal{Kind: "uid", UID: 0}}, {Principal: Principal{Kind: "uid", UID: daemonUID}}},
		unrestricted: true,
	}
	anyone := &policyRule{
		principals: []principalPattern{{any: true}},
		// An unprivileged user's usual RLIMIT_NOFILE, and room for an
		// operation waiting on each side of every socket (a read or an
		// accept, a write or a connect), twice over.
		quotas: policyQuotas{sockets: defaultSocketQuota, pending: 4 * defaultSocketQuota},
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
