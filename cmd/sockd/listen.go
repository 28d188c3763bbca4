package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockd/sockd/internal/daemonaddr"
	"github.com/sockd/sockd/server"
)

// listen opens one listener: unix:///path (or a bare path) or tcp://host:port
// on a loopback address, its connections counted in conns.
func listen(addr string, tlsConfig func() (*tls.Config, error), conns *connLimit) (net.Listener, error) {
	network, address, err := parseListenAddress(addr)
	if err != nil {
		return nil, err
	}
	switch network {
	case "tcp":
		l, err := net.Listen("tcp", address)
		if err != nil {
			return nil, err
		}
		return conns.listener(l), nil
	case "tls":
		cfg, err := tlsConfig()
		if err != nil {
			return nil, err
		}
		l, err := net.Listen("tcp", address)
		if err != nil {
			return nil, err
		}
		return server.TLSListener(conns.listener(l), cfg), nil
	}
	if err := prepareSocketPath(address); err != nil {
		return nil, err
	}
	l, err := listenUnix(address)
	if err != nil {
		return nil, err
	}
	return conns.listener(l), nil
}

// listenUnix listens on a unix socket at path, of mode 0660: peers are
// identified by SO_PEERCRED, and the mode decides who may connect. The mode
// is set between bind and listen, so that no one connects while the socket
// has the umask's mode (0777 under umask 0).
func listenUnix(path string) (net.Listener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	file := os.NewFile(uintptr(fd), path)
	defer file.Close() // the listener has a descriptor of its own
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		return nil, &net.OpError{Op: "listen", Net: "unix", Addr: &net.UnixAddr{Name: path, Net: "unix"}, Err: os.NewSyscallError("bind", err)}
	}
	if err := os.Chmod(path, 0o660); err != nil {
		os.Remove(path)
		return nil, err
	}
	if err := unix.Listen(fd, unix.SOMAXCONN); err != nil {
		os.Remove(path)
		return nil, os.NewSyscallError("listen", err)
	}
	l, err := net.FileListener(file)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	return l, nil
}

func parseListenAddress(addr string) (network, address string, err error) {
	network, address, err = daemonaddr.Split(addr)
	if err != nil {
		return "", "", fmt.Errorf("--listen: %w", err)
	}
	if network == "tcp" {
		if host, port, err := net.SplitHostPort(address); err == nil && host == "localhost" {
			// As clients take it (daemonaddr): the IPv4 loopback address,
			// which their dialer tries among localhost's addresses.
			address = net.JoinHostPort("127.0.0.1", port)
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return "", "", fmt.Errorf("--listen %q: want tcp://IP:PORT with a loopback IP address and a port of 0-65535: %w", addr, err)
		}
		if !ap.Addr().IsLoopback() {
			return "", "", fmt.Errorf("--listen %q: plain TCP is only allowed on a loopback IP address", addr)
		}
		address = ap.String()
	}
	return network, address, nil
}

// prepareSocketPath creates the socket's directory (private when it is ours)
// and removes a stale socket file left by a daemon that died, but never a live
// one or a file that is not a socket.
func prepareSocketPath(path string) error {
	// sun_path holds 108 bytes with the terminating NUL; say so before
	// making any directory, rather than bind's "invalid argument" after.
	if max := len(unix.RawSockaddrUnix{}.Path) - 1; len(path) > max {
		return fmt.Errorf("%s: a unix socket path is at most %d bytes, this one is %d", path, max, len(path))
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := checkSocketDir(dir); err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: another daemon is serving there", path)
	}
	return os.Remove(path)
}

// checkSocketDir refuses a directory in which someone else could replace
// the daemon's socket with their own and so receive its clients: one owned
// by another user than the daemon's or root (the default /tmp/sockd-UID
// made in advance by someone else), or one others may write to without the
// sticky bit that keeps them from renaming what is not theirs.
func checkSocketDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	if uid := uint32(os.Geteuid()); st.Uid != uid && st.Uid != 0 {
		return fmt.Errorf("%s is owned by uid %d, not by this daemon's user (uid %d) or root: another user could replace its socket", dir, st.Uid, uid)
	}
	if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return fmt.Errorf("%s is writable by others (mode %o) without the sticky bit: another user could replace its socket", dir, st.Mode&0o7777)
	}
	return nil
}
