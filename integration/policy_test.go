package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A daemon started with --policy holds root's own sessions to root's rule;
// SIGHUP reloads the file, and a file that no longer parses leaves the
// policy in force.
func TestPolicyFileThroughSockctl(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`# only TCP on loopback, ephemeral ports
version: 1
rules:
  - principals: ["uid:0"]
    open: ["inet stream"]
    bind: ["127.0.0.1:0"]
    connect: ["127.0.0.1"]
`)
	d := dedicatedDaemon(t, filepath.Join(dir, "d"), "--policy", file)
	c := &sockctl{addr: d.Addr, session: uniqueName(t)}
	t.Cleanup(func() { c.run(t, "session", "close") })

	denied := func(args ...string) {
		t.Helper()
		out, errOut, code := c.run(t, args...)
		if code != 1 || !strings.Contains(errOut, "permission_denied") || !strings.Contains(errOut, "policy") {
			t.Fatalf("sockctl %s: exit %d, stdout %q, stderr %q; want exit 1 and a policy refusal", strings.Join(args, " "), code, out, errOut)
		}
	}
	info := c.ok(t, "global-info")
	for _, want := range []string{"principal: uid:0", "policy: " + file + " (restricted)", "policy.open: inet stream *", "policy.bind: 127.0.0.1:0", "policy.connect: 127.0.0.1"} {
		if !strings.Contains(info+"\n", want+"\n") {
			t.Errorf("global-info lacks %q:\n%s", want, info)
		}
	}
	denied("open", "inet", "dgram")
	id := c.ok(t, "open", "inet", "stream")
	denied("bind", id, "127.0.0.1:80")
	if got := c.ok(t, "sockname", id); !strings.Contains(got, ":0") {
		t.Fatalf("a refused bind changed the socket: sockname %q", got)
	}
	c.ok(t, "bind", id, "127.0.0.1:0")

	write("version: 1\nrules:\n  - principals: [\"uid:0\"]\n    open: [\"inet stream\", \"inet dgram\"]\n")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloaded := func() bool { _, _, code := c.run(t, "open", "inet", "dgram"); return code == 0 }
	for deadline := time.Now().Add(5 * time.Second); !reloaded(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the policy was not reloaded on SIGHUP")
		}
	}

	write("version: 1\nrules: [ {principals: [\"uid:0\"], open: [\"inet strem\"]} ]\n")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logged := func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "d", "sockd.log"))
		return strings.Contains(string(b), "policy not reloaded")
	}
	for deadline := time.Now().Add(5 * time.Second); !logged(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a broken policy file on SIGHUP was not logged")
		}
	}
	// The previous policy stays in force: not the default, under which root
	// could open anything.
	c.ok(t, "open", "inet", "dgram")
	denied("open", "local", "stream")
}

// A policy file that does not parse stops the daemon at start, saying where.
func TestPolicyFileRefusedAtStart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte("version: 1\nrules:\n  - principals: [\"uid:0\"]\n    bind: [\"127.0.0.1:99999\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sockdBin, "--listen", "unix://"+filepath.Join(t.TempDir(), "s.sock"), "--policy", file)
	_, errOut, code := runCommand(t, cmd)
	if code == 0 || !strings.Contains(errOut, "rules[0]: bind") || !strings.Contains(errOut, "bad ports") {
		t.Fatalf("exit %d, stderr %q: want a failure naming the bad entry", code, errOut)
	}
}
