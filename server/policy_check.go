package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/options"
)

// The actions a policy decides, as denials and sockd_policy_denials_total
// name them.
const (
	actionOpen    = "open"
	actionBind    = "bind"
	actionConnect = "connect"
	actionSendTo  = "sendto"
	actionAccept  = "accept"
	actionSetOpt  = "setopt"
	actionGetOpt  = "getopt"
	actionSendMsg = "sendmsg"
)

// policyActions lists them for the metric.
var policyActions = []string{actionOpen, actionBind, actionConnect, actionSendTo, actionAccept, actionSetOpt, actionGetOpt, actionSendMsg}

// denials counts the policy's refusals by action
// (sockd_policy_denials_total) and logs each at debug level: who was
// refused what.
type denials struct {
	counts map[string]*atomic.Uint64
	log    *slog.Logger
}

func newDenials(log *slog.Logger) *denials {
	d := &denials{counts: map[string]*atomic.Uint64{}, log: log}
	for _, a := range policyActions {
		d.counts[a] = new(atomic.Uint64)
	}
	return d
}

// record counts and logs one refusal.
func (d *denials) record(p Principal, action, target string) {
	if c := d.counts[action]; c != nil {
		c.Add(1)
	}
	d.log.Debug("policy denied", "principal", p.String(), "action", action, "target", target)
}

func (d *denials) count(action string) uint64 { return d.counts[action].Load() }

// policy returns the policy in force.
func (s *Service) policy() *Policy { return s.pol.Load() }

// SetPolicy puts p in force for the calls that start from now on, and ends
// those in progress that act by an admin right p no longer gives; nil puts
// the default back.
func (s *Service) SetPolicy(p *Policy) {
	if p == nil {
		p = s.defaultPolicy
	}
	s.pol.Store(p)
	s.revokeAdmins()
}

// policyCheck decides the calls of one request: the policy in force when
// the request came, and the principal's rule in it (nil: no rule names it,
// and it may do nothing that needs one).
type policyCheck struct {
	pol     *Policy
	p       Principal
	r       *policyRule
	denials *denials
}

func (s *Service) check(p Principal) policyCheck {
	pol := s.policy()
	return policyCheck{pol: pol, p: p, r: pol.ruleFor(p), denials: s.denials}
}

// checkCaller decides by the rule of who makes the call, not of the session
// it acts through: the two differ only for an admin, who acting through
// another principal's session must not gain that principal's rights.
func (s *Service) checkCaller(ctx context.Context) policyCheck {
	return s.check(callerPrincipal(ctx))
}

// callerPrincipal is the calling connection's principal; the zero
// Principal, which no rule names, if it has none.
func callerPrincipal(ctx context.Context) Principal {
	p, _ := principalOf(ctx)
	return p
}

func (c policyCheck) unrestricted() bool { return c.r != nil && c.r.unrestricted }

// deny is the PERMISSION_DENIED answer to a call the policy refuses.
func (c policyCheck) deny(action, target string) error {
	c.denials.record(c.p, action, target)
	return policyDenied(c.pol, c.p, action, target)
}

// open decides Open: the rule lists the kind of socket, and the network
// namespace if one is asked for.
func (c policyCheck) open(domain, typ, protocol int, netns string) error {
	if c.unrestricted() {
		return nil
	}
	protocol = defaultProtocol(domain, typ, protocol)
	if c.r == nil || !slices.ContainsFunc(c.r.open, func(k socketKind) bool { return k.matches(domain, typ, protocol) }) {
		proto := kindName(protocol, protocols)
		if domain == unix.AF_UNIX && protocol == 0 {
			proto = "default" // as Info names a local socket's
		}
		return c.deny(actionOpen, fmt.Sprintf("a socket of domain %s, type %s, protocol %s",
			kindName(domain, domains), kindName(typ, types), proto))
	}
	// A rule holds only clean absolute paths (parseNetns): a path that is
	// not one matches none.
	if netns != "" && !slices.Contains(c.r.netns, netns) && !slices.Contains(c.r.netns, "*") {
		return c.deny(actionOpen, "a socket in network namespace "+strconv.Quote(netns))
	}
	return nil
}

// bind decides a bind's own address. The unspecified address of an inet6
// socket that is not v6only takes IPv4 too, so it needs the IPv4 rule as
// well: allowing [::] must not allow 0.0.0.0.
func (c policyCheck) bind(sock *engine.Socket, sa engine.SockAddr) error {
	if sa.Family == engine.FamilyLocal && len(sa.Path) == 0 {
		return c.autobind(" (a bind to an empty path: Linux picks the name)")
	}
	if err := c.address(actionBind, sa, func(r *policyRule) []addrPattern { return r.bind }); err != nil {
		return err
	}
	return c.dualStackBind(sock, sa, "")
}

// dualStackBind refuses the unspecified address of an inet6 socket that
// takes IPv4 too, unless the rule allows 0.0.0.0 at the same port. why
// says what made the bind, for the denial.
func (c policyCheck) dualStackBind(sock *engine.Socket, sa engine.SockAddr, why string) error {
	if c.unrestricted() || sa.Family != engine.FamilyInet6 || !sa.Addr.IsUnspecified() || !dualStack(sock) {
		return nil
	}
	v4 := unspecified(engine.FamilyInet, sa.Port)
	if c.r == nil || !allowsAddr(c.r.bind, v4) {
		return c.deny(actionBind, addrTarget(sa)+" (not v6only: "+addrTarget(v4)+" too)"+why)
	}
	return nil
}

// connect decides a Connect's peer. AF_UNSPEC dissolves a datagram
// association (or a stream connection): it names no peer. A datagram
// socket's connect sets where its sends go, so the sendto rules decide it
// (connected, its plain sends are not checked again), and on a socket not
// bound, Linux binds the unspecified address first, which stays if the
// connect fails (implicitBind).
func (c policyCheck) connect(sock *engine.Socket, sa engine.SockAddr) error {
	if err := c.connectPeer(sock.Type(), sa); err != nil {
		return err
	}
	// An inet stream socket is bound to the source its route takes, which
	// the connect decides; a local one of any type is named with passcred
	// on, and an inet datagram or seqpacket (SCTP) one binds the wildcard.
	if sa.Family == engine.FamilyUnspec || sock.Domain() != unix.AF_UNIX && sock.Type() == unix.SOCK_STREAM {
		return nil
	}
	return c.implicitBind(sock)
}

// connectPeer decides the peer a socket of type typ connects to.
func (c policyCheck) connectPeer(typ int, sa engine.SockAddr) error {
	switch {
	case sa.Family == engine.FamilyUnspec:
		return nil
	case typ == unix.SOCK_DGRAM || typ == unix.SOCK_RAW:
		return c.peer(actionSendTo, sa, func(r *policyRule) []addrPattern { return r.sendTo })
	}
	return c.peer(actionConnect, sa, func(r *policyRule) []addrPattern { return r.connect })
}

// implicitBind decides the bind the kernel makes by itself when an inet
// socket that no Bind bound listens, sends a datagram or connects one: the
// unspecified address, which takes connections and datagrams from every
// interface, and a port it picks. It needs what an explicit bind to
// 0.0.0.0:0 (or [::]:0) would. A connected socket is bound to the source
// address its route took, and decided by the connect. The socket's name
// does not tell: a port taken by a connect stays in it after the
// connection failed or was dissolved, when the kernel has let it go.
func (c policyCheck) implicitBind(sock *engine.Socket) error {
	if c.unrestricted() || sock.Bound() {
		return nil
	}
	var wild engine.SockAddr
	switch sock.Domain() {
	case unix.AF_UNIX:
		return c.localAutobind(sock)
	case unix.AF_INET:
		wild = unspecified(engine.FamilyInet, 0)
	case unix.AF_INET6:
		wild = unspecified(engine.FamilyInet6, 0)
	default:
		return nil
	}
	if t := sock.Type(); t != unix.SOCK_STREAM && t != unix.SOCK_DGRAM && t != unix.SOCK_SEQPACKET {
		return nil // a raw socket has no port to bind
	}
	if _, err := sock.PeerName(); err == nil {
		return nil
	}
	const why = " (the kernel binds a socket no Bind bound when it listens, sends or connects a datagram)"
	if c.r == nil || !allowsAddr(c.r.bind, wild) {
		return c.deny(actionBind, addrTarget(wild)+why)
	}
	return c.dualStackBind(sock, wild, why)
}

// localAutobind decides the abstract name Linux gives a local socket no
// Bind bound when it connects or sends with SO_PASSCRED (or SO_PASSPIDFD)
// on, so that its peer has an address to read: "@" and five hex digits,
// which anyone may send to. It needs a rule that allows such a name.
func (c policyCheck) localAutobind(sock *engine.Socket) error {
	if name, err := sock.SockName(); err != nil || len(name.Path) > 0 {
		return nil // named already (abstract or path)
	}
	if pass, known := anyFlagOn(sock, sockFlag{unix.SOL_SOCKET, unix.SO_PASSCRED}, sockFlag{unix.SOL_SOCKET, unix.SO_PASSPIDFD}); known && !pass {
		return nil
	}
	return c.autobind(" (Linux names a local socket with passcred on when it connects or sends)")
}

// autobind decides a name Linux picks for a local socket: "@" and five hex
// digits, which a rule must allow. why says what made the kernel pick one.
func (c policyCheck) autobind(why string) error {
	autobind := engine.SockAddr{Family: engine.FamilyLocal, Path: []byte{0, '0', '0', '0', '0', '0'}}
	if c.unrestricted() || c.r != nil && allowsAddr(c.r.bind, autobind) {
		return nil
	}
	return c.deny(actionBind, "local:@ and five hex digits"+why)
}

// plainSend decides a send without an address: on a datagram socket no
// Bind bound and not connected, Linux binds the unspecified address before
// it answers edestaddrreq, and names a local one with passcred on, as it
// does a local seqpacket one, which sends as a datagram socket does
// (implicitBind).
func (c policyCheck) plainSend(sock *engine.Socket) error {
	if !plainSendBinds(sock) {
		return nil
	}
	return c.implicitBind(sock)
}

// plainSendBinds reports whether a send without an address may bind or
// name sock: a datagram socket, or a local seqpacket one.
func plainSendBinds(sock *engine.Socket) bool {
	t := sock.Type()
	return t == unix.SOCK_DGRAM || t == unix.SOCK_SEQPACKET && sock.Domain() == unix.AF_UNIX
}

// boundAsDecided checks, after a datagram send that may have bound sock,
// what the send bound: a send cannot hold the socket's bind lock (it may
// wait), so an IPV6_V6ONLY changed between implicitBind and the send could
// have bound [::] with IPv4 where the rule allows IPv6 only. Such a socket
// is closed, and the send refused: only a client racing itself gets there.
// The refusal's ErrorInfo carries bytes_sent, what the send had already
// sent. A send binds nothing Bound would report, so whether it may have
// bound is the same question after it as before.
func (c policyCheck) boundAsDecided(sock *engine.Socket, sent int) error {
	if !sendBinds(sock) || c.unrestricted() {
		return nil
	}
	name, err := sock.SockName()
	if err != nil || name.Port == 0 || !name.Addr.IsUnspecified() {
		return nil
	}
	if err := c.dualStackBind(sock, unspecified(engine.FamilyInet6, 0), " (IPV6_V6ONLY changed during a send)"); err != nil {
		sock.Close()
		return withMetadata(err, "bytes_sent", strconv.Itoa(sent))
	}
	return nil
}

// v6onlyOff decides turning IPV6_V6ONLY off. A socket a Bind bound to [::]
// at a port the kernel picked loses the port when it is dissolved (connect
// AF_UNSPEC), and its next listen or send binds [::] again, IPv4 too: so
// the rule must allow 0.0.0.0 at that port (0 for a picked one) as well.
// A socket no Bind bound is decided when it binds (implicitBind).
func (c policyCheck) v6onlyOff(sock *engine.Socket) error {
	if c.unrestricted() || sock.Domain() != unix.AF_INET6 || !sock.Bound() {
		return nil
	}
	name, err := sock.SockName()
	if err != nil || !name.Addr.IsUnspecified() || name.Addr.Is4In6() {
		return nil
	}
	port := name.Port
	if sock.PortPicked() {
		port = 0
	}
	v4 := unspecified(engine.FamilyInet, port)
	if c.r == nil || !allowsAddr(c.r.bind, v4) {
		return c.deny(actionSetOpt, "ipv6.v6only false on a socket bound to [::] (it would take IPv4 too: "+addrTarget(v4)+")")
	}
	return nil
}

// dualStack reports whether an inet6 socket takes IPv4 too (IPV6_V6ONLY
// off, or unknown: the policy assumes the wider). A closed socket binds
// nothing: its call answers closed.
func dualStack(sock *engine.Socket) bool {
	if sock.Domain() != unix.AF_INET6 || sock.Closed() {
		return false
	}
	v6only, known := anyFlagOn(sock, sockFlag{unix.IPPROTO_IPV6, unix.IPV6_V6ONLY})
	return !known || !v6only
}

// sockFlag is a boolean socket option: its level and name.
type sockFlag struct{ level, name int }

// anyFlagOn reports whether any of flags is on for sock, and whether all of
// them could be read (known false: the socket is closed, or the kernel
// refused one; the policy then assumes what lets the socket do more).
func anyFlagOn(sock *engine.Socket, flags ...sockFlag) (on, known bool) {
	sock.Control(func(fd int) error {
		known = true
		for _, f := range flags {
			v, err := unix.GetsockoptInt(fd, f.level, f.name)
			if err != nil {
				known = false
			}
			on = on || v != 0
		}
		return nil
	})
	return on, known
}

// unspecified is the unspecified address of family (inet or inet6) at port.
func unspecified(family engine.Family, port uint16) engine.SockAddr {
	if family == engine.FamilyInet6 {
		return engine.SockAddr{Family: family, Addr: netip.IPv6Unspecified(), Port: port}
	}
	return engine.SockAddr{Family: engine.FamilyInet, Addr: netip.IPv4Unspecified(), Port: port}
}

// send decides the address a send gives. On a stream socket it connects
// (TCP Fast Open), and on a seqpacket one it sets up an association (SCTP),
// so the connect rules decide; AF_UNSPEC there is not a dissolve but an
// address Linux reads as AF_INET, and is refused. A datagram socket's first
// send binds it (implicitBind).
func (c policyCheck) send(sock *engine.Socket, sa engine.SockAddr) error {
	if t := sock.Type(); t == unix.SOCK_STREAM || t == unix.SOCK_SEQPACKET {
		if err := c.peer(actionConnect, sa, func(r *policyRule) []addrPattern { return r.connect }); err != nil || t == unix.SOCK_STREAM {
			return err
		}
		return c.implicitBind(sock) // an SCTP association set up by a send binds the wildcard
	}
	if err := c.peer(actionSendTo, sa, func(r *policyRule) []addrPattern { return r.sendTo }); err != nil {
		return err
	}
	return c.implicitBind(sock)
}

// peer decides the peer of a connect or send. The unspecified address
// (0.0.0.0, ::) is no one peer: the kernel sends to a local address it
// picks, the socket's bound one, an IP_PKTINFO source or the loopback
// (127.0.0.1 even for :: on a socket bound to a v4-mapped address). Only a
// pattern of any address, or one that names the unspecified address itself,
// lets it through; a list of prefixes that happens to contain it (0.0.0.0/2
// beside the others that leave 127.0.0.0/8 out) does not.
func (c policyCheck) peer(action string, sa engine.SockAddr, list func(*policyRule) []addrPattern) error {
	if (sa.Family == engine.FamilyInet || sa.Family == engine.FamilyInet6) && sa.Addr.Unmap().IsUnspecified() {
		if c.unrestricted() {
			return nil
		}
		if c.r == nil || !allowsUnspecified(list(c.r), sa) {
			return c.deny(action, addrTarget(sa))
		}
		return nil
	}
	return c.address(action, sa, list)
}

func (c policyCheck) address(action string, sa engine.SockAddr, list func(*policyRule) []addrPattern) error {
	if c.unrestricted() {
		return nil
	}
	if c.r == nil || !allowsAddr(list(c.r), sa) {
		return c.deny(action, addrTarget(sa))
	}
	// A rule that allows paths under a directory must not reach, through a
	// symbolic link planted there, any socket the daemon (or the user it
	// acts for) can reach.
	if sa.Family == engine.FamilyLocal && !allowsAnyLocal(list(c.r)) {
		if name, ok := localName(sa.Path); ok && !strings.HasPrefix(name, "@") && throughSymlink(name) {
			return c.deny(action, addrTarget(sa)+" (through a symbolic link)")
		}
	}
	return nil
}

// accepts reports whether a listener of p keeps a connection from peer.
func (c policyCheck) accepts(peer engine.SockAddr) bool {
	return c.unrestricted() || c.r != nil && allowsAddr(c.r.accept, peer)
}

// acceptFilter is the engine.AcceptFilter of inet listeners: it keeps the
// connections from peers that the rule of the principal who would own
// them accepts, under the policy in force at each accept; the engine
// closes the others unseen and accepts the next.
func (s *Service) acceptFilter(owner engine.Caller, peer engine.SockAddr) bool {
	sess, ok := owner.(*Session)
	if !ok {
		return false // no session would own it
	}
	if s.check(sess.principal).accepts(peer) {
		return true
	}
	s.denials.record(sess.principal, actionAccept, addrTarget(peer))
	return false
}

// setOpt decides a setopt: an option reserved to privileged callers (for
// the value given) needs the rule's permission.
func (c policyCheck) setOpt(sock *engine.Socket, o *options.Option, v any) error {
	if !needsPrivilege(sock, o, v) || c.unrestricted() || c.r != nil && (c.r.anyOption || c.r.options[o.Key]) {
		return nil
	}
	return c.deny(actionSetOpt, o.Key.String())
}

// native decides setopt_native and getopt_native: a raw level and name may
// be any option, privileged ones included, and some reads are privileged
// too (the host's iptables through IPT_SO_GET_ENTRIES).
func (c policyCheck) native(action string, level, name int) error {
	if c.unrestricted() || c.r != nil && c.r.native {
		return nil
	}
	return c.deny(action, fmt.Sprintf("native option level %d name %d", level, name))
}

// needsPrivilege reports whether setting o to v on sock is reserved to
// privileged callers (the options table marks those), where an unprivileged
// user could not do the same on a socket of its own: priority up to 6 and
// tos below precedence 6 (internet and network control) are open to anyone,
// and so are the congestion algorithms the host allows everyone, debug,
// transparent and hdrincl off, a busy_poll no longer than the socket's
// (Linux checks only a raise) and a first bindtodevice. The kernel
// lets a socket join only a reuseport group of its own uid's sockets: one
// that acts for a user of its own may, but one with the daemon's uid would
// join the groups of every principal without one.
func needsPrivilege(sock *engine.Socket, o *options.Option, v any) bool {
	if !o.Privileged {
		return false
	}
	switch o.Key {
	case options.Key{Level: options.LevelSocket, Name: "reuseport"}:
		on, ok := v.(bool)
		if ok && !on {
			return false
		}
		_, own := sock.ActsFor()
		return !ok || !own
	case options.Key{Level: options.LevelTCP, Name: "congestion"}:
		name, ok := v.(string)
		return !ok || !slices.Contains(allowedCongestion(), name)
	case options.Key{Level: options.LevelSocket, Name: "debug"}:
		n, ok := v.(int)
		return !ok || n != 0
	case options.Key{Level: options.LevelIP, Name: "transparent"}, options.Key{Level: options.LevelIP, Name: "hdrincl"}:
		on, ok := v.(bool)
		return !ok || on
	case options.Key{Level: options.LevelSocket, Name: "busy_poll"}:
		n, ok := v.(int)
		current, err := options.GetResolved(sock, o)
		was, known := current.(int)
		return !ok || err != nil || !known || n > was
	case options.Key{Level: options.LevelSocket, Name: "bindtodevice"}:
		// Since Linux 5.7 anyone may bind a socket bound to no device
		// yet; only changing a binding wants CAP_NET_RAW.
		if !unprivilegedBindToDevice() {
			return true
		}
		bound, err := options.GetResolved(sock, o)
		return err != nil || bound != ""
	case options.Key{Level: options.LevelSocket, Name: "priority"}:
		n, ok := v.(int)
		return !ok || n < 0 || n > 6
	case options.Key{Level: options.LevelIP, Name: "tos"}:
		t, ok := v.(options.TOS)
		return !ok || highTOS(int(t))
	case options.Key{Level: options.LevelIPv6, Name: "tclass"}:
		n, ok := v.(int)
		return !ok || highTOS(n) // the traffic class carries the same precedence bits
	}
	return true
}

// unprivilegedBindToDevice reports a kernel (5.7 or later) that lets anyone
// bind a socket to a device, once.
var unprivilegedBindToDevice = sync.OnceValue(func() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 7
})

// allowedCongestionFile lists the congestion control algorithms that
// unprivileged sockets may choose.
const allowedCongestionFile = "/proc/sys/net/ipv4/tcp_allowed_congestion_control"

// allowedCongestion reads allowedCongestionFile: it changes with the host's
// settings and modules, and a setopt of tcp congestion is rare. None when
// it cannot be read.
func allowedCongestion() []string {
	b, err := os.ReadFile(allowedCongestionFile)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// highTOS reports a tos of precedence 6 or 7, which routers treat as their
// own; -1, which an IPv6 traffic class takes for the route's default, is none.
func highTOS(tos int) bool { return tos != -1 && tos&0xe0 >= 0xc0 }

// forbiddenControlReason says why no principal may send m, or "": the
// daemon's own descriptors or identity would pass (SCM_RIGHTS,
// SCM_CREDENTIALS), or the kernel would map and write the daemon's memory
// where the message points (RDS's RDMA messages).
func forbiddenControlReason(m engine.ControlMessage) string {
	switch {
	case m.Level == unix.SOL_SOCKET && (m.Type == unix.SCM_RIGHTS || m.Type == unix.SCM_CREDENTIALS):
		return "would pass the daemon's own descriptors or identity"
	case m.Level == unix.SOL_RDS:
		return "carry addresses in the daemon's memory for the kernel to map and write"
	}
	return ""
}

// control decides the control messages of a sendmsg. Those
// forbiddenControlReason names are refused to everyone: SCM_RIGHTS and
// SCM_CREDENTIALS would pass descriptors of the daemon's own fd table
// (other principals' sockets among them), or credentials a privileged
// sender may forge. A restricted rule may send
// the types the daemon encodes (tos, ttl, hoplimit, tclass, pktinfo,
// timestamp), a tos or tclass of precedence 6 or 7 only with ip.tos or
// ipv6.tclass; any other
// level and type, decided by the daemon's privileges (SO_MARK, IPv6
// options headers, SCTP addresses), only with native.
func (c policyCheck) control(sock *engine.Socket, ctrl []engine.ControlMessage) error {
	for _, m := range ctrl {
		if why := forbiddenControlReason(m); why != "" {
			name := options.ControlKind{Level: m.Level, Type: m.Type}.TypeName()
			c.denials.record(c.p, actionSendMsg, "control message "+name)
			return forbiddenControl(c.p, name, why)
		}
	}
	if c.unrestricted() || c.r != nil && (c.r.native || c.r.anyOption) {
		return nil
	}
	for _, m := range ctrl {
		key := options.ControlKind{Level: m.Level, Type: m.Type}
		if !sendableControl[key] {
			return c.deny(actionSendMsg, fmt.Sprintf("control message level %d type %d", m.Level, m.Type))
		}
		if c.r == nil {
			return c.deny(actionSendMsg, "control message "+key.TypeName())
		}
		if opt, ok := precedenceOption[key]; ok && !c.r.options[opt] {
			tos, ok := controlInt(m)
			if !ok {
				return c.deny(actionSendMsg, fmt.Sprintf("control message %s of %d bytes, whose value the policy cannot read (a 4-byte int, or 1 byte for ip tos)", key.TypeName(), len(m.Data)))
			}
			if highTOS(tos) {
				return c.deny(actionSendMsg, "control message "+key.TypeName()+" of precedence 6 or 7")
			}
		}
		if err := c.pktinfo(sock, key, m); err != nil {
			return err
		}
	}
	return nil
}

// pktinfo decides a packet info control message: the source address it
// chooses is a bind's. The socket's own address, or any local one under a
// wildcard its rule let it bind, is its own already; another needs the
// bind rules, at the socket's port or at a port the kernel picks. The
// interface it may name is not decided: any user may name one (the
// kernel's rules, as for an unprivileged SO_BINDTODEVICE).
func (c policyCheck) pktinfo(sock *engine.Socket, key options.ControlKind, m engine.ControlMessage) error {
	var src netip.Addr
	switch v := engine.ControlValue(m).(type) {
	case engine.PktInfo:
		src = v.SpecDst
	case engine.PktInfo6:
		src = v.Addr
	default:
		if key.Type == unix.IP_PKTINFO && key.Level == unix.IPPROTO_IP || key.Type == unix.IPV6_PKTINFO && key.Level == unix.IPPROTO_IPV6 {
			return c.deny(actionSendMsg, "control message "+key.TypeName()+" that does not decode")
		}
		return nil
	}
	if !src.IsValid() || src.IsUnspecified() {
		return nil
	}
	name, _ := sock.SockName()
	if sock.Bound() && covers(sock, name.Addr, src) {
		return nil
	}
	from := engine.SockAddr{Family: engine.FamilyInet, Addr: src, Port: name.Port}
	if src.Is6() {
		from.Family = engine.FamilyInet6
	}
	picked := from
	picked.Port = 0
	// Port 0 rules cover a port the kernel picked, not one a Bind asked for.
	if !allowsAddr(c.r.bind, from) && !(sock.PortPicked() && allowsAddr(c.r.bind, picked)) {
		return c.deny(actionSendMsg, fmt.Sprintf("control message %s sending from %s (a bind)", key.TypeName(), addrTarget(from)))
	}
	return nil
}

// covers reports whether a socket bound to bound may send from src as it
// is: its own address, or any of the family its unspecified address
// takes: 0.0.0.0 (plain, or IPv4-mapped on an inet6 socket) IPv4 ones, [::]
// IPv6 ones, and IPv4 ones too when the socket is not v6only.
func covers(sock *engine.Socket, bound, src netip.Addr) bool {
	switch {
	case bound.Unmap() == src.Unmap():
		return true
	case !bound.Unmap().IsUnspecified() || nonlocalSources(sock, src):
		// A wildcard covers the host's own addresses: with freebind (or
		// transparent) the kernel takes any source, which the bind rules
		// must then allow.
		return false
	case bound.Unmap().Is4(): // 0.0.0.0 or ::ffff:0.0.0.0
		return src.Unmap().Is4()
	case src.Unmap().Is4(): // [::] and an IPv4 source
		return dualStack(sock)
	}
	return true // [::] and an IPv6 source
}

// nonlocalSources reports whether a socket may send from src when it is
// not one of the host's addresses: an IPv4 source with IP_TRANSPARENT on,
// an IPv6 one also with freebind (IP_FREEBIND or IPV6_FREEBIND). The kernel
// refuses any other (unknown counts as on).
func nonlocalSources(sock *engine.Socket, src netip.Addr) bool {
	flags := []sockFlag{{unix.SOL_IP, unix.IP_TRANSPARENT}}
	if !src.Unmap().Is4() {
		flags = append(flags, sockFlag{unix.IPPROTO_IPV6, unix.IPV6_TRANSPARENT},
			sockFlag{unix.SOL_IP, unix.IP_FREEBIND}, sockFlag{unix.IPPROTO_IPV6, unix.IPV6_FREEBIND})
	}
	on, known := anyFlagOn(sock, flags...)
	return on || !known
}

// precedenceOption maps the control messages that set a packet's
// precedence (IP_TOS, IPV6_TCLASS) to the option whose permission a high
// precedence needs.
var precedenceOption = map[options.ControlKind]options.Key{
	{Level: unix.IPPROTO_IP, Type: unix.IP_TOS}:        {Level: options.LevelIP, Name: "tos"},
	{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_TCLASS}: {Level: options.LevelIPv6, Name: "tclass"},
}

// sendableControl are the control messages a restricted rule may send; their
// names are options.ControlKind's.
var sendableControl = map[options.ControlKind]bool{
	{Level: unix.SOL_SOCKET, Type: unix.SCM_TIMESTAMP}:   true,
	{Level: unix.IPPROTO_IP, Type: unix.IP_TOS}:          true,
	{Level: unix.IPPROTO_IP, Type: unix.IP_TTL}:          true,
	{Level: unix.IPPROTO_IP, Type: unix.IP_PKTINFO}:      true,
	{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_PKTINFO}:  true,
	{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_HOPLIMIT}: true,
	{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_TCLASS}:   true,
}

// controlInt is the integer a control message carries, as a value or as
// its raw data: a native int, or for ip tos also one byte, which the kernel
// takes too and delivers received tos as (a client that sends back the raw
// data it received was refused).
func controlInt(m engine.ControlMessage) (int, bool) {
	if n, ok := m.Value.(int); ok {
		return n, true
	}
	switch {
	case len(m.Data) == 4:
		return int(int32(binary.NativeEndian.Uint32(m.Data))), true
	case len(m.Data) == 1 && m.Level == unix.IPPROTO_IP && m.Type == unix.IP_TOS:
		return int(m.Data[0]), true
	}
	return 0, false
}

// addrTarget renders an address as policies spell it.
func addrTarget(sa engine.SockAddr) string {
	switch sa.Family {
	case engine.FamilyInet, engine.FamilyInet6:
		return netip.AddrPortFrom(sa.Addr, sa.Port).String()
	case engine.FamilyLocal:
		if len(sa.Path) == 0 {
			return "local:@ (no path)" // as patterns match it: "local:@" allows it
		}
		name, _ := localName(sa.Path)
		return "local:" + name
	case engine.FamilyUnspec:
		return "an unspec address"
	}
	return "a native address"
}
