package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sockd/sockd/server"
)

// loadPolicy reads --policy; without it the default policy applies.
func loadPolicy(path string, logger *slog.Logger) (*server.Policy, error) {
	if path == "" {
		logger.Info("policy: the default (root and the daemon's user unrestricted; others as unprivileged users)")
		return nil, nil
	}
	p, err := server.LoadPolicy(path)
	if err != nil {
		return nil, err
	}
	logger.Info("policy loaded", "file", path)
	warn(p, logger)
	return p, nil
}

// catchHUP takes SIGHUP from the start of the daemon's run, where its
// default action would kill the daemon without a drain (systemd's reload
// sends it; a unit of Type=notify counts as started only once the daemon
// says READY=1, after this): one that comes before reloadPolicyOnHUP runs
// waits in the channel, and reloads the policy then. The few milliseconds
// between exec and here (the runtime's start, the flags) stay uncovered.
func catchHUP() <-chan os.Signal {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	return hup
}

// reloadPolicyOnHUP reads the policy file again on each SIGHUP (from
// catchHUP) until ctx ends. A file that no longer parses leaves the policy
// in force as it was. Without a file (path "") a SIGHUP is only logged.
// Once ctx has ended (the drain began) SIGHUPs are taken and dropped until
// the process ends: signal.Ignore would race with one being delivered, and
// the runtime kills the process for a SIGHUP it finds no longer wanted
// (2 of 100 daemons sent SIGHUP, SIGTERM, SIGHUP ended with exit 129).
func reloadPolicyOnHUP(ctx context.Context, hup <-chan os.Signal, path string, svc *server.Service, logger *slog.Logger) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				for range hup {
				}
				return
			case <-hup:
				if path == "" {
					logger.Info("SIGHUP: no --policy file to reload; the default policy stays in force")
					continue
				}
				p, err := server.LoadPolicy(path)
				if err != nil {
					logger.Error("policy not reloaded; the previous one stays in force", "err", err)
					continue
				}
				svc.SetPolicy(p)
				logger.Info("policy reloaded", "file", path)
				warn(p, logger)
			}
		}
	}()
}

// warn logs what the policy allows but probably does not mean to.
func warn(p *server.Policy, logger *slog.Logger) {
	for _, w := range p.Warnings() {
		logger.Warn("policy: " + w)
	}
}
