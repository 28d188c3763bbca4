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
	for range 500 {
		if c, err := net.Dial(network, addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	return fmt.Errorf("%s did not start serving on %s", cmd.Path, addr)
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
