// Package proc starts and stops the processes a benchmark measures: sockd
// and its anchors, each in its own process so that they are measured alike.
package proc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Start starts cmd with its stderr on ours and, when network is set, waits
// until addr accepts a connection (at most 5 s; then cmd is killed).
func Start(cmd *exec.Cmd, network, addr string) error {
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	if network == "" {
		return nil
	}
	c, err := Dial(network, addr)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("%s did not start serving on %s: %w", cmd.Path, addr, err)
	}
	c.Close()
	return nil
}

// Dial connects to a server that may still be starting: it retries for up
// to five seconds.
func Dial(network, addr string) (net.Conn, error) {
	var err error
	for range 500 {
		var c net.Conn
		if c, err = net.Dial(network, addr); err == nil {
			return c, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, err
}

// Stop interrupts cmd and waits for it to exit.
func Stop(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
}

// CPUTime is the user and system CPU time a process has used so far, read
// from /proc (clock ticks of 10 ms), so a server's cost can be told apart
// from its callers'.
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// AnchorBinary returns the path of a copy of the running executable in dir,
// for starting an anchor server. The copy is a file of its own, so its code
// lives in pages of its own, as sockd's does: an anchor started from the
// client's own executable shares its code's page-cache pages, and the CPU
// caches holding them, with the client, which sockd, another program,
// cannot (one A/B run measured the shared anchor's one-caller p50 about 5%
// lower; BENCHMARKS.md).
func AnchorBinary(dir string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(self)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "anchor-")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o755)
	}
	return f.Name(), err
}

// Switches is the number of context switches, voluntary and not, that the
// threads a process has now have made so far (read from /proc): on a small
// VM a cross-thread wakeup costs more than most of a call's work, so the
// switches a call makes tell where its latency goes.
func Switches(pid int) int64 {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0
	}
	var n int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && (k == "voluntary_ctxt_switches" || k == "nonvoluntary_ctxt_switches") {
				c, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += c
			}
		}
	}
	return n
}
