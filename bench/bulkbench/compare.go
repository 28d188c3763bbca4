package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/sockd/sockd/bench/internal/proc"
	"github.com/sockd/sockd/bench/internal/stat"
)

// path is one way a throughput comparison moves its bytes. run returns MB/s
// and the CPU time the relaying process used (unless noCPU: there is none).
type path struct {
	label string // in the medians: "sockd Pipe", "socat -b 65536"
	ratio string // in the ratios: "Pipe" (the first path), "bare"
	round string // in the rounds and CPU lines: "sockd", "bare"
	cpu   string // in the CPU line, if different from round
	noCPU bool
	run   func() (float64, time.Duration, error)
}

// throughDaemon measures run as a path through the daemon, whose CPU time is
// read before and after.
func (b *bench) throughDaemon(label, ratio string, run func() (float64, error)) path {
	return path{label: label, ratio: ratio, round: "sockd", run: func() (float64, time.Duration, error) {
		before := proc.CPUTime(b.sockdPid)
		rate, err := run()
		return rate, proc.CPUTime(b.sockdPid) - before, err
	}}
}

// compare runs the paths in turn, round after round, so that a slow moment
// of the machine falls on all of them alike, and prints the medians of
// their rates, the first path's ratio to each other path, every round, and
// the CPU per GiB of the paths that measure it (title says of what).
func (b *bench) compare(heading, cpuTitle string, total int64, paths []path) error {
	rates := make([][]float64, len(paths))
	cpus := make([][]float64, len(paths))
	gib := float64(total) / (1 << 30)
	for range b.rounds {
		for i, p := range paths {
			rate, cpu, err := p.run()
			if err != nil {
				return fmt.Errorf("%s: %s: %w", heading, p.label, err)
			}
			rates[i] = append(rates[i], rate)
			if !p.noCPU {
				cpus[i] = append(cpus[i], cpu.Seconds()/gib)
			}
		}
	}
	var medians, ratios, rounds, cpuParts []string
	for i, p := range paths {
		medians = append(medians, fmt.Sprintf("%s %.0f", p.label, stat.Median(rates[i])))
		if i > 0 {
			ratios = append(ratios, fmt.Sprintf("%s/%s %.2f", paths[0].ratio, p.ratio, stat.Median(rates[0])/stat.Median(rates[i])))
		}
		rounds = append(rounds, p.round+" "+list(rates[i], 0))
		if len(cpus[i]) > 0 {
			cpuParts = append(cpuParts, fmt.Sprintf("%s %.2fs", firstOf(p.cpu, p.round), stat.Median(cpus[i])))
		}
	}
	fmt.Printf("%s, MB/s (median of %d rounds): %s; %s\n", heading, b.rounds, strings.Join(medians, ", "), strings.Join(ratios, ", "))
	fmt.Printf("  rounds, MB/s: %s\n", strings.Join(rounds, "; "))
	if len(cpuParts) > 0 {
		fmt.Printf("%s per GiB (median): %s\n", cpuTitle, strings.Join(cpuParts, ", "))
	}
	return nil
}

// firstOf is the first of its arguments that is not empty.
func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
