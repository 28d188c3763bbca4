package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sockd/sockd/bench/internal/proc"
	"github.com/sockd/sockd/bench/internal/stat"
)

// runAgainst measures two sockd builds at the same time, each with its own
// callers: a change's cost per call. Taking turns, as against the anchor,
// leaves each round to the machine's moment (single rounds of the same
// build differ by a third on a shared VM); side by side the moments fall
// on both alike, and two runs of one build agree within a percent or two.
// Two builds have the same threads to schedule, so neither is favoured by
// sharing the cores, which an anchor of another shape would be.
func runAgainst(sockdPath, againstPath string, sizes, callers []int, d time.Duration, rounds int) error {
	dir, err := os.MkdirTemp("", "recvbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var socks [2]string
	for i, bin := range []string{sockdPath, againstPath} {
		socks[i] = filepath.Join(dir, fmt.Sprintf("sockd%d.sock", i))
		daemon := exec.Command(bin, "--listen", "unix://"+socks[i], "--log-level", "warn")
		if err := proc.Start(daemon, "unix", socks[i]); err != nil {
			return err
		}
		defer proc.Stop(daemon)
	}

	fmt.Printf("%-5s %-7s %12s %12s %6s %10s %10s %6s  %s\n", "size", "callers", "sockd ops/s", "against", "ratio",
		"sockd p50", "against", "ratio", "ratios per round (rate/p50)")
	for _, size := range sizes {
		for _, n := range callers {
			var rates, p50s [2][]float64
			var rateRatio, p50Ratio []float64
			var perRound []string
			for range rounds {
				var res [2]result
				var errs [2]error
				var both sync.WaitGroup
				for i := range socks {
					both.Go(func() { res[i], errs[i] = measureSockd(socks[i], size, n, d) })
				}
				both.Wait()
				for i := range socks {
					if errs[i] != nil {
						return errs[i]
					}
					rates[i] = append(rates[i], res[i].rate)
					p50s[i] = append(p50s[i], float64(res[i].p50))
				}
				rateRatio = append(rateRatio, res[0].rate/res[1].rate)
				p50Ratio = append(p50Ratio, float64(res[0].p50)/float64(res[1].p50))
				perRound = append(perRound, fmt.Sprintf("%.3f/%.3f", rateRatio[len(rateRatio)-1], p50Ratio[len(p50Ratio)-1]))
			}
			us := func(ns float64) time.Duration { return time.Duration(ns).Round(time.Microsecond / 10) }
			fmt.Printf("%-5d %-7d %12.0f %12.0f %6.3f %10v %10v %6.3f  %s\n", size, n,
				stat.Median(rates[0]), stat.Median(rates[1]), stat.Median(rateRatio),
				us(stat.Median(p50s[0])), us(stat.Median(p50s[1])), stat.Median(p50Ratio), strings.Join(perRound, " "))
		}
	}
	return nil
}
