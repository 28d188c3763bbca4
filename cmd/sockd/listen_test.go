package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseListenAddress(t *testing.T) {
	good := []struct{ in, network, address string }{
		{"unix:///run/sockd.sock", "unix", "/run/sockd.sock"},
		{"unix:/run/sockd.sock", "unix", "/run/sockd.sock"},
		{"/run/sockd.sock", "unix", "/run/sockd.sock"},
		{"tcp://127.0.0.1:7000", "tcp", "127.0.0.1:7000"},
		{"tcp://[::1]:7000", "tcp", "[::1]:7000"},
		// localhost as clients take it: the IPv4 loopback address, not
		// whatever a resolver says.
		{"tcp://localhost:7000", "tcp", "127.0.0.1:7000"},
		// TLS on any address.
		{"tls://0.0.0.0:7443", "tls", "0.0.0.0:7443"},
		{"tls://sockd.example:7443", "tls", "sockd.example:7443"},
	}
	for _, tt := range good {
		network, address, err := parseListenAddress(tt.in)
		if err != nil || network != tt.network || address != tt.address {
			t.Errorf("parseListenAddress(%q) = %q, %q, %v; want %q, %q", tt.in, network, address, err, tt.network, tt.address)
		}
	}
	// Plain TCP only on loopback; malformed addresses are refused.
	for _, in := range []string{"tcp://0.0.0.0:7000", "tcp://10.0.0.1:7000", "tcp://example.com:7000", "tcp://127.0.0.1:99999", "unix:relative", "", "http://x"} {
		if _, _, err := parseListenAddress(in); err == nil {
			t.Errorf("parseListenAddress(%q) accepted", in)
		}
	}
	if _, _, err := parseListenAddress("tcp://127.0.0.1:99999"); err == nil || !strings.Contains(err.Error(), "port") {
		t.Errorf("a bad port: %v, want an error about the port", err)
	}
}

// A unix socket path longer than sun_path holds is refused before any
// directory is made for it.
func TestLongSocketPathRefusedFirst(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 120))
	err := prepareSocketPath(filepath.Join(dir, "s.sock"))
	if err == nil || !strings.Contains(err.Error(), "at most 107 bytes") {
		t.Fatalf("prepareSocketPath of a long path: %v, want a refusal naming the limit", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the directory was made anyway: %v", err)
	}
}

// A socket directory someone else could replace the socket in is refused:
// another user's (made in advance where the default path would be), or one
// others may write without the sticky bit; the daemon's own and a sticky
// shared one are fine.
func TestCheckSocketDir(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, mode os.FileMode, uid int) string {
		t.Helper()
		d := filepath.Join(base, name)
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		if uid >= 0 {
			if err := os.Chown(d, uid, -1); err != nil {
				t.Skipf("chown needs root: %v", err)
			}
		}
		return d
	}
	for _, c := range []struct {
		dir string
		ok  bool
	}{
		{mk("own", 0o700, -1), true},
		{mk("own-readable", 0o755, -1), true},
		{mk("shared-sticky", os.ModeSticky|0o777, -1), true},
		{mk("shared", 0o777, -1), false},
		{mk("group-writable", 0o770, -1), false},
	} {
		if err := checkSocketDir(c.dir); (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok %v", filepath.Base(c.dir), err, c.ok)
		}
	}
	if os.Geteuid() == 0 {
		if err := checkSocketDir(mk("someone-elses", 0o700, 65534)); err == nil {
			t.Error("a directory owned by uid 65534 was accepted")
		}
	}
}

// The daemon's unix socket has mode 0660 whatever the umask (set before it
// listens), serves, and is removed when its listener closes.
func TestListenUnixMode(t *testing.T) {
	defer unix.Umask(unix.Umask(0))
	path := filepath.Join(t.TempDir(), "sockd.sock")
	l, err := listenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("the socket: %v, %v; want a socket of mode 0660", fi.Mode(), err)
	}
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.Close()
	l.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close the socket file: %v, want it gone", err)
	}
	if _, err := listenUnix(filepath.Join(t.TempDir(), "no", "such", "dir")); err == nil {
		t.Error("listenUnix in a missing directory succeeded")
	}
}
