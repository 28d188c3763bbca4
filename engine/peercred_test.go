package engine

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The credentials a local peer reads of a socket acting for a user are the
// user's: SO_PEERCRED after its connect or of its listener, and
// SCM_CREDENTIALS with what it sends, by send, sendto, sendmsg and Relay.
// Made as the daemon, they would be root's, and a service that trusts its
// peer's uid (D-Bus, systemd, docker) would trust the user as root.

var peerUser = Creds{UID: 4242, GID: 4243}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("acting for another uid needs CAP_SETUID and CAP_SETGID")
	}
}

// abstractAddr is a fresh abstract local address.
func abstractAddr(t *testing.T) (SockAddr, *unix.SockaddrUnix) {
	name := fmt.Sprintf("sockd-peercred-%d-%s-%d", os.Getpid(), t.Name(), time.Now().UnixNano())
	// The engine spells an abstract name with its leading NUL, x/sys/unix
	// with "@".
	return SockAddr{Family: FamilyLocal, Path: []byte("\x00" + name)}, &unix.SockaddrUnix{Name: "@" + name}
}

// plainSocket is a socket of the test's own (the daemon's credentials).
func plainSocket(t *testing.T, typ int) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func plainListener(t *testing.T) (int, SockAddr) {
	t.Helper()
	fd := plainSocket(t, unix.SOCK_STREAM)
	addr, raw := abstractAddr(t)
	if err := unix.Bind(fd, raw); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 8); err != nil {
		t.Fatal(err)
	}
	return fd, addr
}

func plainAccept(t *testing.T, l int) int {
	t.Helper()
	fd, _, err := unix.Accept4(l, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func wantPeerCred(t *testing.T, fd int, what string) {
	t.Helper()
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Uid != peerUser.UID || cred.Gid != peerUser.GID {
		t.Errorf("%s: the peer reads uid %d gid %d, want %d %d", what, cred.Uid, cred.Gid, peerUser.UID, peerUser.GID)
	}
	if groups, err := unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_PEERGROUPS); err != nil || groups != "" {
		t.Errorf("%s: the peer reads supplementary groups (%d bytes, %v), want none", what, len(groups), err)
	}
}

// wantSentCreds reads one message from fd (SO_PASSCRED on) and checks the
// credentials it came with.
func wantSentCreds(t *testing.T, fd int, data, what string) {
	t.Helper()
	buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, 0)
	if err != nil {
		t.Fatal(what, err)
	}
	if string(buf[:n]) != data {
		t.Errorf("%s: got %q, want %q", what, buf[:n], data)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%s: control messages %v %v", what, msgs, err)
	}
	cred, err := unix.ParseUnixCredentials(&msgs[0])
	if err != nil {
		t.Fatal(what, err)
	}
	if cred.Uid != peerUser.UID || cred.Gid != peerUser.GID || int(cred.Pid) != os.Getpid() {
		t.Errorf("%s: sent as pid %d uid %d gid %d, want pid %d uid %d gid %d", what,
			cred.Pid, cred.Uid, cred.Gid, os.Getpid(), peerUser.UID, peerUser.GID)
	}
}

func passCred(t *testing.T, fd int) {
	t.Helper()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		t.Fatal(err)
	}
}

func TestLocalPeerSeesTheUser(t *testing.T) {
	needRoot(t)
	e := newEngine(t, Config{})
	c := newRecorder("c")
	open := func(typ int) *Socket {
		s, err := e.Open(c, unix.AF_UNIX, typ, 0, OpenOptions{Creds: &peerUser})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}

	// connect: the accepting end reads the user.
	l, addr := plainListener(t)
	client := open(unix.SOCK_STREAM)
	if r := client.Connect(bg, c, &addr, infinity); r.Err != nil {
		t.Fatal("connect:", r.Err)
	}
	server := plainAccept(t, l)
	wantPeerCred(t, server, "connect to an abstract address")

	// send on the connection: the receiver with SO_PASSCRED reads the user.
	passCred(t, server)
	if r := client.Send(bg, c, []byte("send"), 0, infinity); r.Err != nil {
		t.Fatal(r.Err)
	}
	wantSentCreds(t, server, "send", "send")
	if r := client.SendMsg(bg, c, [][]byte{[]byte("send"), []byte("msg")}, nil, nil, 0, infinity); r.Err != nil {
		t.Fatal(r.Err)
	}
	wantSentCreds(t, server, "sendmsg", "sendmsg")
	// The user's credentials are the daemon's to send, not the caller's.
	forged := ControlMessage{Level: unix.SOL_SOCKET, Type: unix.SCM_CREDENTIALS,
		Data: unix.UnixCredentials(&unix.Ucred{Pid: int32(os.Getpid())})[unix.CmsgLen(0):]}
	r0 := client.SendMsg(bg, c, [][]byte{[]byte("forged")}, nil, []ControlMessage{forged}, 0, infinity)
	wantInvalid(t, r0.Err, "msg")

	// listen: a connecting peer reads the user.
	listener := open(unix.SOCK_STREAM)
	laddr, _ := abstractAddr(t)
	if err := listener.Bind(laddr); err != nil {
		t.Fatal(err)
	}
	if err := listener.Listen(8); err != nil {
		t.Fatal(err)
	}
	dialer := plainSocket(t, unix.SOCK_STREAM)
	if err := unix.Connect(dialer, &unix.SockaddrUnix{Name: "@" + string(laddr.Path[1:])}); err != nil {
		t.Fatal(err)
	}
	wantPeerCred(t, dialer, "connect to a listener of the user's")
	// The connection it accepts acts for the user too.
	r := listener.Accept(bg, c, infinity)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	t.Cleanup(func() { r.Socket.Close() })
	passCred(t, dialer)
	if w := r.Socket.Send(bg, c, []byte("accepted"), 0, infinity); w.Err != nil {
		t.Fatal(w.Err)
	}
	wantSentCreds(t, dialer, "accepted", "send on an accepted connection")

	// sendto a datagram socket.
	sink := plainSocket(t, unix.SOCK_DGRAM)
	saddr, raw := abstractAddr(t)
	if err := unix.Bind(sink, raw); err != nil {
		t.Fatal(err)
	}
	passCred(t, sink)
	if w := open(unix.SOCK_DGRAM).SendTo(bg, c, []byte("sendto"), 0, saddr, infinity); w.Err != nil {
		t.Fatal(w.Err)
	}
	wantSentCreds(t, sink, "sendto", "sendto")

	everyThreadRoot(t, "the calls as uid 4242")
}

// Relay cannot splice into a local socket that acts for a user (the kernel
// would attach the daemon's credentials): that direction is copied, with
// the user's.
func TestRelayIntoLocalSocketSendsTheUser(t *testing.T) {
	needRoot(t)
	e := newEngine(t, Config{})
	c := newRecorder("c")
	dial := func(addr SockAddr) *Socket {
		s, err := e.Open(c, unix.AF_UNIX, unix.SOCK_STREAM, 0, OpenOptions{Creds: &peerUser})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if r := s.Connect(bg, c, &addr, infinity); r.Err != nil {
			t.Fatal(r.Err)
		}
		return s
	}
	l1, addr1 := plainListener(t)
	l2, addr2 := plainListener(t)
	a, b := dial(addr1), dial(addr2)
	far1, far2 := plainAccept(t, l1), plainAccept(t, l2)
	passCred(t, far1)

	ctx, cancel := context.WithTimeout(bg, 10*time.Second)
	defer cancel()
	done := make(chan RelayResult, 1)
	go func() { done <- Relay(ctx, a, b, nil) }()
	if _, err := unix.Write(far2, []byte("relayed")); err != nil {
		t.Fatal(err)
	}
	wantSentCreds(t, far1, "relayed", "relayed into a")
	unix.Shutdown(far1, unix.SHUT_WR)
	unix.Shutdown(far2, unix.SHUT_WR)
	if r := <-done; r.Err != nil || r.BToA != uint64(len("relayed")) {
		t.Fatalf("relay: %+v", r)
	}
}
