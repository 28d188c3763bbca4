package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check-policy prints a good file's rules, and refuses a bad one with the
// reason, as --policy would.
func TestCheckPolicy(t *testing.T) {
	dir := t.TempDir()
	write := func(name, doc string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(doc), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return path
	}
	run := func(path string) (string, error) {
		cmd := newRootCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"check-policy", path})
		err := cmd.Execute()
		return out.String(), err
	}
	good := write("good.yaml", "version: 1\nrules:\n- principals: [\"uid:0\"]\n  unrestricted: true\n- principals: [\"*\"]\n  open: [\"inet stream\"]\n  quotas: {sockets: 8}\n", 0o600)
	out, err := run(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 rules", "rule 1 (uid:0): unrestricted\n", "rule 2 (*): open inet stream *; sockets quota 8\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "warning") {
		t.Errorf("a warning for a policy that grants no local sockets:\n%s", out)
	}
	out, err = run(write("local.yaml", "version: 1\nrules:\n- principals: [\"x509:app\"]\n  open: [\"local stream\"]\n", 0o600))
	if err != nil || !strings.Contains(out, "warning: rules[0]: x509:app may open local sockets and names no act_as") {
		t.Errorf("local sockets for a TLS principal without act_as: %v\n%s", err, out)
	}
	if _, err := run(write("bad.yaml", "version: 1\nrules:\n- principals: [\"*\"]\n  bind: [\"1.2.3.4:99999\"]\n", 0o600)); err == nil || !strings.Contains(err.Error(), "bad ports") {
		t.Errorf("a bad port range: %v", err)
	}
	if _, err := run(write("open.yaml", "version: 1\n", 0o666)); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("a world-writable file: %v", err)
	}
}
