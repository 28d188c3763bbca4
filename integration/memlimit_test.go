package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A daemon in a memory-limited cgroup caps its sockets and connections to
// fit the limit (a socket per 16 KiB of half of it, a connection per 64
// KiB of a quarter), so that at the cap it refuses, where it would be
// killed for memory first: the real binary in a real cgroup v1 memory
// controller, which this kind of machine has.
func TestSocketCapFitsTheMemoryLimit(t *testing.T) {
	requireRoot(t, "it makes a cgroup")
	cgroup := memoryCgroupV1(t)
	if err := os.WriteFile(filepath.Join(cgroup, "memory.limit_in_bytes"), []byte(fmt.Sprint(256<<20)), 0); err != nil {
		t.Skipf("no memory limit can be set here: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	// The shell joins the cgroup, then becomes the daemon.
	cmd := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && shift && exec "$@"`,
		"sh", cgroup, sockdBin, "--listen", "unix://"+path)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	logFile, err := os.Create(filepath.Join(dir, "sockd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var log string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log, "socket cap"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no socket cap logged:\n%s", log)
		}
		b, _ := os.ReadFile(logFile.Name())
		log = string(b)
	}
	for _, want := range []string{"max_sockets=8192", "max_connections=1024", "memory_limit=268435456"} {
		if !strings.Contains(log, want) {
			t.Errorf("the daemon in a 256 MiB cgroup logged\n%s\nwant %s", log, want)
		}
	}
}

// memoryCgroupV1 makes a cgroup below the test's own in a cgroup v1 memory
// hierarchy, removed at the end (once its processes have ended), or skips
// where there is none.
func memoryCgroupV1(t *testing.T) string {
	t.Helper()
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("no /proc/self/cgroup: %v", err)
	}
	for line := range strings.Lines(string(self)) {
		fields := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(fields) != 3 || fields[1] != "memory" {
			continue
		}
		dir := filepath.Join("/sys/fs/cgroup/memory", fields[2], fmt.Sprintf("sockd-test-%d", os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Skipf("no cgroup can be made in the memory hierarchy: %v", err)
		}
		t.Cleanup(func() {
			for deadline := time.Now().Add(5 * time.Second); os.Remove(dir) != nil && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
		})
		return dir
	}
	t.Skip("no cgroup v1 memory hierarchy (cgroup v2 keeps processes out of a cgroup with children: the unit tests read its files)")
	return ""
}
