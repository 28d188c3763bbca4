package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/internal/inflight"
)

// Principal is who a caller is: a local user identified by the kernel
// (SO_PEERCRED on the unix listener), a client certificate's subject (mutual
// TLS), or a plain loopback TCP client.
type Principal struct {
	// Kind is "uid" for unix-socket peers, "x509" for TLS clients and "tcp"
	// for plain loopback TCP peers.
	Kind string
	// UID of a unix-socket peer.
	UID uint32
	// Name of a TLS client: its certificate's subject common name, else its
	// first URI or DNS name.
	Name string
}

// String renders the principal for logs and errors.
func (p Principal) String() string {
	switch p.Kind {
	case "uid":
		return fmt.Sprintf("uid:%d", p.UID)
	case "x509":
		return "x509:" + p.Name
	}
	return p.Kind
}

// Admin reports whether the principal is root on the unix listener, always
// an admin: it sees and touches every session and socket. A policy may make
// other principals admins too (Service.isAdmin).
func (p Principal) Admin() bool { return p.Kind == "uid" && p.UID == 0 }

// socketCreds are the local user the sockets a caller opens act for
// (engine.OpenOptions.Creds): its uid, which the kernel records as their
// owner so that per-uid rules (iptables --uid-owner, uid routing, reuseport
// groups) see the user who made them and not the daemon, and its uid and
// primary gid, with which their local paths are reached and which their
// local peers read. The user the caller's policy rule (r, from the same
// policy that allowed the open) names with act_as, if it names one; else a
// local caller's own, and nil (the daemon's) for root and for TLS and TCP
// principals. Nil too when the daemon is not root and could not switch
// anyway. The caller decides, not the session that will own the socket: an
// admin opening a socket in another principal's session makes it act for
// the admin's user.
func (s *Service) socketCreds(ctx context.Context, r *policyRule) *engine.Creds {
	auth, ok := peerAuthOf(ctx)
	if !ok || !s.root {
		return nil
	}
	if r != nil && r.actAs != nil {
		c := *r.actAs
		return &c
	}
	if auth.principal.Kind != "uid" || auth.principal.Admin() {
		return nil
	}
	return &engine.Creds{UID: auth.principal.UID, GID: auth.gid}
}

// peerAuth is the AuthInfo our transport credentials attach to a connection.
type peerAuth struct {
	credentials.CommonAuthInfo
	principal Principal
	gid       uint32 // a unix-socket peer's primary gid (SO_PEERCRED)
	// answers is the connection's account of the answers gRPC holds for
	// it; nil where the daemon bounds nothing.
	answers *answerAccount
	// streams are the budgets of its open streams, the principal's and
	// the daemon's (streamsRefusal); nil where the daemon bounds none.
	streams []*inflight.Budget
	// conn is the connection as its frames are followed: it says which
	// stream gRPC's tap is about (tapStream).
	conn *inflight.Conn
}

func (peerAuth) AuthType() string { return "sockd-peercred" }

// TLSListener makes l a TLS listener for the daemon's credentials (peerCreds): each connection's
// handshake runs with cfg, which must require and verify client
// certificates, and its principal is the certificate's subject.
func TLSListener(l net.Listener, cfg *tls.Config) net.Listener {
	cfg = cfg.Clone()
	// gRPC clients require HTTP/2 to be negotiated.
	cfg.NextProtos = []string{"h2"}
	return &tlsListener{Listener: l, cfg: cfg}
}

type tlsListener struct {
	net.Listener
	cfg *tls.Config
}

// Accept returns the connection before its handshake, which gRPC runs in
// ServerHandshake, off the accepting goroutine and under its deadline.
func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tlsPending{Conn: c, cfg: l.cfg}, nil
}

// tlsPending is an accepted connection of a TLS listener, handshake to come.
type tlsPending struct {
	net.Conn
	cfg *tls.Config
}

func (p *tlsPending) handshake() (net.Conn, peerAuth, error) {
	tc := tls.Server(p.Conn, p.cfg)
	if err := tc.Handshake(); err != nil {
		tc.Close()
		return nil, peerAuth{}, fmt.Errorf("TLS handshake: %w", err)
	}
	state := tc.ConnectionState()
	if len(state.PeerCertificates) == 0 {
		tc.Close()
		return nil, peerAuth{}, errors.New("TLS client sent no certificate")
	}
	name := certificateName(state.PeerCertificates[0])
	if name == "" {
		tc.Close()
		return nil, peerAuth{}, errors.New("TLS client certificate names no subject")
	}
	return tc, peerAuth{
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		principal:      Principal{Kind: "x509", Name: name},
	}, nil
}

// certificateName is who a client certificate names: its subject common
// name, else its first URI, else its first DNS name.
func certificateName(c *x509.Certificate) string {
	switch {
	case c.Subject.CommonName != "":
		return c.Subject.CommonName
	case len(c.URIs) > 0:
		return c.URIs[0].String()
	case len(c.DNSNames) > 0:
		return c.DNSNames[0]
	}
	return ""
}

// peerCreds are the daemon's transport credentials. They identify the peer
// of each listener in its own way: a unix socket's by SO_PEERCRED; a TLS
// listener's (TLSListener) by the client certificate its handshake
// verified; a plain loopback TCP connection's not at all (principal "tcp").
// A refused TLS client is logged (debug level): gRPC itself says nothing.
// What gRPC holds for each connection is bounded by budgets.
type peerCreds struct {
	log     *slog.Logger
	budgets *connectionBudgets
}

func (peerCreds) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, peerAuth{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (pc peerCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, auth, err := pc.handshake(c)
	if err != nil || pc.budgets == nil {
		return conn, auth, err
	}
	conn, auth.answers, auth.streams = pc.budgets.watch(conn, auth.principal)
	auth.conn, _ = conn.(*inflight.Conn)
	return conn, auth, nil
}

func (pc peerCreds) handshake(c net.Conn) (net.Conn, peerAuth, error) {
	if p, ok := c.(*tlsPending); ok {
		conn, auth, err := p.handshake()
		if err != nil {
			pc.log.Debug("TLS client refused", "remote", c.RemoteAddr().String(), "err", err)
		}
		return conn, auth, err
	}
	// A unix connection, perhaps wrapped (the daemon counts its
	// connections), reaches its descriptor for SO_PEERCRED.
	sc, ok := c.(syscall.Conn)
	if !ok || c.LocalAddr().Network() != "unix" {
		return c, peerAuth{
			CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity},
			principal:      Principal{Kind: "tcp"},
		}, nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, peerAuth{}, err
	}
	var (
		cred    *unix.Ucred
		credErr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, peerAuth{}, err
	}
	if credErr != nil {
		return nil, peerAuth{}, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return c, peerAuth{
		// A unix socket is private to this host: as safe as the file mode allows.
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		principal:      Principal{Kind: "uid", UID: cred.Uid},
		gid:            cred.Gid,
	}, nil
}

func (peerCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "sockd-peercred"}
}

func (p peerCreds) Clone() credentials.TransportCredentials { return p }

func (peerCreds) OverrideServerName(string) error { return nil }

// principalOf returns the principal of the calling connection.
func principalOf(ctx context.Context) (Principal, bool) {
	auth, ok := peerAuthOf(ctx)
	return auth.principal, ok
}

// peerAuthOf returns what our credentials attached to the calling connection.
func peerAuthOf(ctx context.Context) (peerAuth, bool) {
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return peerAuth{}, false
	}
	auth, ok := pr.AuthInfo.(peerAuth)
	return auth, ok
}
