package server

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/options"
)

// The actions a policy decides, as denials name them.
const (
	actionOpen    = "open"
	actionBind    = "bind"
	actionConnect = "connect"
	actionSendTo  = "sendto"
	actionSetOpt  = "setopt"
)

// policyDenied is the PERMISSION_DENIED answer to a call the policy refuses.
func (s *Service) policyDenied(p Principal, action, target string) error {
	pol := s.policy()
	return statusError(codes.PermissionDenied, reasonPolicyDenied,
		fmt.Sprintf("policy (%s) does not allow %s to %s %s", pol, p, action, target),
		map[string]string{"principal": p.String(), "action": action, "target": target, "policy": pol.String()})
}

// policy returns the policy in force.
func (s *Service) policy() *Policy { return s.pol.Load() }

// SetPolicy puts p in force for the calls that start from now on.
func (s *Service) SetPolicy(p *Policy) { s.pol.Store(p) }

// rule returns the rule for p, or the denial of action when no rule names p.
func (s *Service) rule(p Principal, action, target string) (*policyRule, error) {
	r := s.policy().ruleFor(p)
	if r == nil {
		return nil, s.policyDenied(p, action, target)
	}
	return r, nil
}

// mayOpen decides Open: the rule lists the kind of socket, and the network
// namespace if one is asked for.
func (s *Service) mayOpen(p Principal, domain, typ, protocol int, netns string) error {
	target := fmt.Sprintf("a socket of domain %s, type %s, protocol %s", kindName(domain, domains), kindName(typ, types), kindName(defaultProtocol(domain, typ, protocol), protocols))
	r, err := s.rule(p, actionOpen, target)
	if err != nil || r.unrestricted {
		return err
	}
	if !slices.ContainsFunc(r.open, func(k socketKind) bool { return k.matches(domain, typ, protocol) }) {
		return s.policyDenied(p, actionOpen, target)
	}
	if netns != "" && !slices.Contains(r.netns, netns) && !slices.Contains(r.netns, "*") {
		return s.policyDenied(p, actionOpen, "a socket in network namespace "+strconv.Quote(netns))
	}
	return nil
}

// mayAddress decides an address a call names: bind's own, connect's and
// sendto's (sendmsg's) peer.
func (s *Service) mayAddress(p Principal, action string, sa engine.SockAddr) error {
	target := addrTarget(sa)
	r, err := s.rule(p, action, target)
	if err != nil || r.unrestricted {
		return err
	}
	var list []addrPattern
	switch action {
	case actionBind:
		list = r.bind
	case actionConnect:
		if sa.Family == engine.FamilyUnspec {
			return nil // dissolves an association; names no peer
		}
		list = r.connect
	case actionSendTo:
		list = r.sendTo
	}
	if !allowsAddr(list, sa) {
		return s.policyDenied(p, action, target)
	}
	return nil
}

// acceptFilter keeps the connections from peers the accept list of p's rule
// allows, under the policy in force when each is accepted; the engine
// closes the others unseen and accepts the next.
func (s *Service) acceptFilter(p Principal) engine.AcceptFilter {
	return func(peer engine.SockAddr) bool {
		r := s.policy().ruleFor(p)
		return r != nil && (r.unrestricted || allowsAddr(r.accept, peer))
	}
}

// withinSocketQuota refuses a call that would give p a socket (open,
// accept) while p's sessions own as many as its rule's quota. It is checked
// when the call is made: calls made at the same moment may pass the quota
// by their number, and accepts waiting when it was reached still complete.
func (s *Service) withinSocketQuota(p Principal) error {
	r := s.policy().ruleFor(p)
	if r == nil || r.quotas.sockets == 0 || s.sockets == nil {
		return nil
	}
	if s.sockets.Open(p) >= r.quotas.sockets {
		return quotaExceeded("sockets per principal", r.quotas.sockets)
	}
	return nil
}

// sendAction is what a send's address does to sock: on a stream socket it
// connects (TCP Fast Open), so the connect rules decide it.
func sendAction(sock *engine.Socket) string {
	if sock.Type() == unix.SOCK_STREAM {
		return actionConnect
	}
	return actionSendTo
}

// maySetOpt decides a setopt: an option the kernel reserves to privileged
// callers (for the value given) needs the rule's permission.
func (s *Service) maySetOpt(p Principal, o *options.Option, v any) error {
	if !needsPrivilege(o, v) {
		return nil
	}
	r, err := s.rule(p, actionSetOpt, o.Key.String())
	if err != nil || r.unrestricted || r.anyOption || r.options[o.Key] {
		return err
	}
	return s.policyDenied(p, actionSetOpt, o.Key.String())
}

// maySetNative decides setopt_native: a raw level and name could be any
// option, privileged ones included.
func (s *Service) maySetNative(p Principal, level, name int) error {
	target := fmt.Sprintf("native option level %d name %d", level, name)
	r, err := s.rule(p, actionSetOpt, target)
	if err != nil || r.unrestricted || r.native {
		return err
	}
	return s.policyDenied(p, actionSetOpt, target)
}

// needsPrivilege reports whether setting o to v is reserved to privileged
// callers: the options table marks those the kernel wants CAP_NET_ADMIN or
// CAP_NET_RAW for; priority up to 6 and tos below precedence 6 (internet
// and network control) are open to anyone.
func needsPrivilege(o *options.Option, v any) bool {
	if !o.Privileged {
		return false
	}
	switch o.Key {
	case options.Key{Level: options.LevelSocket, Name: "priority"}:
		n, ok := v.(int)
		return !ok || n < 0 || n > 6
	case options.Key{Level: options.LevelIP, Name: "tos"}:
		t, ok := v.(options.TOS)
		return !ok || int(t)&0xe0 >= 0xc0
	}
	return true
}

// kindName spells a domain, type or protocol number as the API's enum
// names it, or as the number.
func kindName[E interface {
	~int32
	String() string
}](n int, table map[E]int) string {
	if e, ok := reverse(table, n); ok {
		return enumShortName(e.String())
	}
	return strconv.Itoa(n)
}

// enumShortName turns "DOMAIN_INET" into "inet".
func enumShortName(s string) string {
	_, name, _ := strings.Cut(s, "_")
	return strings.ToLower(name)
}

// addrTarget renders an address as policies spell it.
func addrTarget(sa engine.SockAddr) string {
	switch sa.Family {
	case engine.FamilyInet, engine.FamilyInet6:
		return netip.AddrPortFrom(sa.Addr, sa.Port).String()
	case engine.FamilyLocal:
		name, _ := localName(sa.Path)
		return "local:" + name
	case engine.FamilyUnspec:
		return "an unspec address"
	}
	return "a native address"
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

// mayControl refuses, to every principal, the control messages that would
// act with the daemon's identity: SCM_RIGHTS would pass descriptors of the
// daemon's own fd table (other principals' sockets among them), and
// SCM_CREDENTIALS lets a privileged sender claim any pid, uid and gid.
func (s *Service) mayControl(p Principal, ctrl []engine.ControlMessage) error {
	for _, m := range ctrl {
		if m.Level != unix.SOL_SOCKET {
			continue
		}
		switch m.Type {
		case unix.SCM_RIGHTS:
			return s.refusedControl(p, "rights")
		case unix.SCM_CREDENTIALS:
			return s.refusedControl(p, "credentials")
		}
	}
	return nil
}

func (s *Service) refusedControl(p Principal, what string) error {
	return statusError(codes.PermissionDenied, reasonPermissionDenied,
		fmt.Sprintf("%s control messages would act with the daemon's own descriptors or identity; no principal may send them", what),
		map[string]string{"principal": p.String(), "action": "sendmsg", "target": "control message " + what})
}
