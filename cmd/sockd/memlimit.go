package main

import (
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/server"
)

// What a socket and a client connection cost the daemon's cgroup, for the
// caps a memory limit sets: an idle TCP socket was measured at 3.2 KB of
// the daemon's heap and 3.6 KB of kernel slab (charged to the cgroup too),
// an idle client connection at 10 KB of heap and 30 KB resident in all
// (its goroutines' stacks); one that is reading holds a read buffer of
// pipewire.TransportBuffer, 128 KiB (for Pipe's throughput), while it has
// bytes, and the rest is for the events, buffers and queues that busy ones
// hold.
const (
	socketMemory     = 16 << 10
	connectionMemory = 192 << 10
)

// memoryLimit is the most memory the daemon's cgroup lets it use, in bytes,
// or 0 when no limit is set or none can be read.
func memoryLimit() int64 {
	return cgroupMemoryLimit("/proc/self/cgroup", "/sys/fs/cgroup")
}

// cgroupMemoryLimit reads the lowest memory limit on the way from the
// process's cgroups (selfCgroup, as /proc/self/cgroup lists them) up to
// their hierarchy's root under mount: cgroup v2's memory.max, v1's
// memory.limit_in_bytes. Every ancestor's limit binds too, and a container
// may see its own cgroup mounted as the root while /proc/self/cgroup names
// the host's path for it: the walk up finds the container's limit there.
func cgroupMemoryLimit(selfCgroup, mount string) int64 {
	b, err := os.ReadFile(selfCgroup)
	if err != nil {
		return 0
	}
	var lowest int64
	for line := range strings.Lines(string(b)) {
		// hierarchy-ID:controller-list:path
		fields := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(fields) != 3 || !strings.HasPrefix(fields[2], "/") {
			continue
		}
		var dir, file string
		switch {
		case fields[0] == "0" && fields[1] == "":
			dir, file = mount, "memory.max"
		case slices.Contains(strings.Split(fields[1], ","), "memory"):
			dir, file = filepath.Join(mount, "memory"), "memory.limit_in_bytes"
		default:
			continue
		}
		for p := path.Clean(fields[2]); ; p = path.Dir(p) {
			if n := readMemoryLimit(filepath.Join(dir, p, file)); n > 0 && (lowest == 0 || n < lowest) {
				lowest = n
			}
			if p == "/" {
				break
			}
		}
	}
	return lowest
}

// readMemoryLimit reads one limit file: 0 for none ("max", v1's huge
// "unlimited", a file missing or malformed).
func readMemoryLimit(file string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0
	}
	return n
}

// memorySocketBudget is how many sockets fit in half of a memory limit
// (0: no limit, no budget), at least 64.
func memorySocketBudget(limit int64) int {
	if limit <= 0 {
		return 0
	}
	return int(max(limit/2/socketMemory, 64))
}

// memoryConnectionBudget is how many client connections fit in a quarter
// of a memory limit (0: no limit, no budget), at least 16.
func memoryConnectionBudget(limit int64) int {
	if limit <= 0 {
		return 0
	}
	return int(max(limit/4/connectionMemory, 16))
}

// memoryPrincipalBytes bounds the bytes one principal's calls and events
// may hold in the daemon (server.Limits.MaxPrincipalBytes: what a waiting
// recv gathers, a waiting send's data, undelivered events) to an eighth of
// a memory limit, half of what all may hold (memoryDaemonBytes), where its
// default would not fit; 0 leaves the default. At a quarter, one
// principal could take the daemon's whole bound.
func memoryPrincipalBytes(limit int64) int {
	return belowDefault(limit, limit/8, minHeldBytes, server.DefaultMaxPrincipalBytes)
}

// memoryDaemonBytes bounds the same bytes over all principals together
// (server.Limits.MaxDaemonBytes) to a quarter of a memory limit, where its
// default would not fit; 0 leaves the default. Without it each principal
// busy at once adds its own quarter.
func memoryDaemonBytes(limit int64) int {
	return belowDefault(limit, limit/4, minHeldBytes, server.DefaultMaxDaemonBytes)
}

// tombstoneMemory is what a closed socket kept for lookup costs (measured:
// 80,000 closed sockets of one client held some 88 MB), with room.
const tombstoneMemory = 2 << 10

// memoryTombstones bounds the closed sockets the engine keeps for lookup
// (engine.Config.MaxTombstones) to a sixteenth of a
// memory limit, where the default would not fit; 0 leaves the default.
// Past it the oldest go: a call on one answers an unknown socket, where it
// would have answered closed.
func memoryTombstones(limit int64) int {
	return belowDefault(limit, limit/16/tombstoneMemory, 256, engine.DefaultMaxTombstones)
}

// belowDefault is share, the part of a memory limit a bound may have, at
// least floor, where it is below the bound's default; 0 (the default) where
// no limit is known or the default fits.
func belowDefault(limit, share int64, floor, def int) int {
	if limit <= 0 || share >= int64(def) {
		return 0
	}
	return int(max(share, int64(floor)))
}

// lowerBudget is the lower of two budgets, where 0 is none.
func lowerBudget(a, b int) int {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// setMemoryLimit gives the Go runtime a soft limit of three quarters of the
// cgroup's, unless the operator set GOMEMLIMIT: near it the collector runs
// before the heap grows to the five times its live data that sockd's GOGC
// allows, and the quarter left is for the kernel's socket buffers, which
// the cgroup counts too.
func setMemoryLimit(limit int64, logger *slog.Logger) {
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		logger.Debug("GOMEMLIMIT from the environment", "GOMEMLIMIT", v)
		return
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit / 4 * 3)
	}
}
