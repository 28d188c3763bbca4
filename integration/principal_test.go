package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// nobody is the unprivileged local user the tests run sockctl as.
const nobody = 65534

// TestPrincipalsAreSeparated drives one daemon as two principals: root (an
// admin) over gRPC, and uid 65534 through the real sockctl binary. The
// unprivileged principal sees and touches only its own sockets; probing
// another principal's socket id answers as for an unknown id, and changes
// nothing; the admin sees everything.
func TestPrincipalsAreSeparated(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run sockctl as another uid")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := StartDaemon(filepath.Join(dir, "run"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	// Let uid 65534 reach the socket and the sockctl binary (test-only modes;
	// the daemon's own default is 0660).
	for _, p := range []string{filepath.Dir(dir), filepath.Join(dir, "run"), filepath.Dir(binDir), binDir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(d.Path, 0o666); err != nil {
		t.Fatal(err)
	}

	api := d.Dial(t)
	root := &rawSession{t: t, api: api}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	created, err := api.CreateSession(ctx, &sockdv1.CreateSessionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	root.id = created.SessionId
	rootSock := root.open(t, tcp4)

	asNobody := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(sockctlBin, append([]string{"--addr", d.Addr, "--session", "nobody"}, args...)...)
		cmd.Env = []string{"GORACE=atexit_sleep_ms=0", "PATH=/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		out, errOut, code := runCommand(t, cmd)
		return strings.TrimSpace(out), errOut, code
	}

	own, errOut, code := asNobody("open", "inet", "dgram")
	if code != 0 {
		t.Fatalf("open as nobody: exit %d: %s", code, errOut)
	}
	if _, _, code := asNobody("info", own); code != 0 {
		t.Fatalf("nobody cannot see its own socket: exit %d", code)
	}
	for _, verb := range [][]string{{"info", rootSock}, {"close", rootSock}, {"bind", rootSock, "127.0.0.1:0"}} {
		_, errOut, code := asNobody(verb...)
		if code != 1 || !strings.Contains(errOut, "not_found") {
			t.Errorf("sockctl %v as nobody: exit %d, %q; want 1 and not_found", verb, code, errOut)
		}
	}
	listed, _, code := asNobody("ls")
	if code != 0 || strings.Contains(listed, rootSock) || !strings.Contains(listed, own) {
		t.Errorf("ls as nobody (exit %d) = %q: want its own %s and not root's %s", code, listed, own, rootSock)
	}

	// Its global counts are of its own sockets too (only an admin's are of all).
	if gi, _, code := asNobody("-o", "json", "global-info"); code != 0 || !strings.Contains(gi, `"num_sockets":1,`) {
		t.Errorf("global-info as nobody (exit %d) = %q: want num_sockets 1, its own", code, gi)
	}

	// Root's socket is untouched, and root, an admin, sees nobody's.
	if info := root.info(t, rootSock); len(info.Wstates) != 0 || slices.Contains(info.Rstates, "closed") || info.Fd < 0 {
		t.Errorf("root's socket changed by nobody's calls: %+v", info)
	}
	ctx2, cancel2 := root.ctx(callTimeout)
	defer cancel2()
	if _, err := api.Info(ctx2, &sockdv1.InfoRequest{SocketId: own}); err != nil {
		t.Errorf("admin Info of nobody's socket: %v", err)
	}
}
