package server

import (
	"context"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// Principal is who a caller is: a local user identified by the kernel
// (SO_PEERCRED on the unix listener), or a loopback TCP client.
type Principal struct {
	// Kind is "uid" for unix-socket peers and "tcp" for loopback TCP peers.
	Kind string
	// UID of a unix-socket peer.
	UID uint32
}

// String renders the principal for logs and errors.
func (p Principal) String() string {
	if p.Kind == "uid" {
		return fmt.Sprintf("uid:%d", p.UID)
	}
	return p.Kind
}

// Admin reports whether the principal sees and touches every session and
// socket: root on the unix listener.
func (p Principal) Admin() bool { return p.Kind == "uid" && p.UID == 0 }

// peerAuth is the AuthInfo our transport credentials attach to a connection.
type peerAuth struct {
	credentials.CommonAuthInfo
	principal Principal
}

func (peerAuth) AuthType() string { return "sockd-peercred" }

// PeerCredentials are transport credentials that do no handshake on the wire
// (the listener is a local unix socket or loopback TCP) but identify the peer:
// on a unix socket by SO_PEERCRED.
func PeerCredentials() credentials.TransportCredentials { return peerCreds{} }

type peerCreds struct{}

func (peerCreds) ClientHandshake(_ context.Context, _ string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return c, peerAuth{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (peerCreds) ServerHandshake(c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return c, peerAuth{
			CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity},
			principal:      Principal{Kind: "tcp"},
		}, nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	var (
		cred    *unix.Ucred
		credErr error
	)
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, nil, err
	}
	if credErr != nil {
		return nil, nil, fmt.Errorf("SO_PEERCRED: %w", credErr)
	}
	return c, peerAuth{
		// A unix socket is private to this host: as safe as the file mode allows.
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity},
		principal:      Principal{Kind: "uid", UID: cred.Uid},
	}, nil
}

func (peerCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "sockd-peercred"}
}

func (p peerCreds) Clone() credentials.TransportCredentials { return p }

func (peerCreds) OverrideServerName(string) error { return nil }

// principalOf returns the principal of the calling connection.
func principalOf(ctx context.Context) (Principal, bool) {
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return Principal{}, false
	}
	auth, ok := pr.AuthInfo.(peerAuth)
	if !ok {
		return Principal{}, false
	}
	return auth.principal, true
}
