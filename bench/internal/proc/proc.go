// Package proc starts and stops the processes a benchmark measures: sockd
// and its anchors, each in its own process so that they are measured alike.
package proc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
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
