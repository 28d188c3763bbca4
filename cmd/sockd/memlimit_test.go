package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The memory limit is the lowest on the way up from the process's cgroup,
// in cgroup v2's files or v1's memory controller, and a container's own
// limit at its mount's root is found though /proc/self/cgroup names the
// host's path.
func TestCgroupMemoryLimit(t *testing.T) {
	write := func(root, file, content string) {
		t.Helper()
		path := filepath.Join(root, file)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name   string
		self   string
		files  map[string]string
		expect int64
	}{
		{"v2, the service's own", "0::/system.slice/sockd.service\n", map[string]string{
			"system.slice/memory.max":               "max\n",
			"system.slice/sockd.service/memory.max": "268435456\n",
		}, 256 << 20},
		{"v2, a parent's is lower", "0::/system.slice/sockd.service\n", map[string]string{
			"system.slice/memory.max":               "134217728\n",
			"system.slice/sockd.service/memory.max": "268435456\n",
		}, 128 << 20},
		{"v2, none", "0::/user.slice\n", map[string]string{"user.slice/memory.max": "max\n"}, 0},
		{"v2 in a container: its cgroup is the mount's root", "0::/kubepods/pod1/ctr\n", map[string]string{
			"memory.max": "536870912\n",
		}, 512 << 20},
		{"v1 memory controller", "12:pids:/docker/abc\n4:memory:/docker/abc\n0::/\n", map[string]string{
			"memory/memory.limit_in_bytes":            "9223372036854771712\n", // v1's unlimited
			"memory/docker/abc/memory.limit_in_bytes": "268435456\n",
		}, 256 << 20},
		{"v1, the controller named with others", "4:cpu,memory:/a\n", map[string]string{
			"memory/a/memory.limit_in_bytes": "1048576\n",
		}, 1 << 20},
		{"v1 unlimited", "4:memory:/\n", map[string]string{
			"memory/memory.limit_in_bytes": "9223372036854771712\n",
		}, 0},
		{"malformed files", "garbage\n4:memory\n0::/x\n", map[string]string{
			"x/memory.max": "lots\n",
		}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			mount := filepath.Join(dir, "cgroup")
			write(dir, "self", c.self)
			for f, content := range c.files {
				write(mount, f, content)
			}
			if got := cgroupMemoryLimit(filepath.Join(dir, "self"), mount); got != c.expect {
				t.Errorf("limit %d, want %d", got, c.expect)
			}
		})
	}
	if got := cgroupMemoryLimit(filepath.Join(t.TempDir(), "absent"), "/sys/fs/cgroup"); got != 0 {
		t.Errorf("without /proc/self/cgroup: %d, want 0", got)
	}
}

// Under a memory limit the caps are what fits it; without one, nothing
// changes.
func TestMemoryBudgets(t *testing.T) {
	for _, c := range []struct {
		limit                int64
		sockets, connections int
	}{
		{0, 0, 0},
		{256 << 20, 8192, 341},
		{512 << 20, 16384, 682},
		{1 << 20, 64, 16},
	} {
		if s, n := memorySocketBudget(c.limit), memoryConnectionBudget(c.limit); s != c.sockets || n != c.connections {
			t.Errorf("limit %d: %d sockets, %d connections; want %d and %d", c.limit, s, n, c.sockets, c.connections)
		}
	}
	for limit, want := range map[int64]int{0: 0, 256 << 20: 32 << 20, 512 << 20: 64 << 20, 1 << 30: 128 << 20, 2 << 30: 0, 4 << 30: 0, 8 << 20: 4 << 20} {
		if got := memoryPrincipalBytes(limit); got != want {
			t.Errorf("memoryPrincipalBytes(%d) = %d, want %d", limit, got, want)
		}
	}
	for limit, want := range map[int64]int{0: 0, 256 << 20: 64 << 20, 1 << 30: 256 << 20, 4 << 30: 0, 8 << 30: 0, 8 << 20: 4 << 20} {
		if got := memoryDaemonBytes(limit); got != want {
			t.Errorf("memoryDaemonBytes(%d) = %d, want %d", limit, got, want)
		}
	}
	for limit, want := range map[int64]int{0: 0, 256 << 20: 8192, 2 << 30: 0, 1 << 20: 256} {
		if got := memoryTombstones(limit); got != want {
			t.Errorf("memoryTombstones(%d) = %d, want %d", limit, got, want)
		}
	}
	for _, c := range []struct{ a, b, want int }{{0, 0, 0}, {0, 5, 5}, {5, 0, 5}, {5, 3, 3}, {3, 5, 3}} {
		if got := lowerBudget(c.a, c.b); got != c.want {
			t.Errorf("lowerBudget(%d, %d) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
