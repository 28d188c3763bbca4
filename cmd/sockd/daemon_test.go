package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
)

// TestServeFailureIsReported: when serving fails (here: the gRPC server was
// already stopped), serve shuts down and returns the error, so sockd exits 1
// rather than 0.
func TestServeFailureIsReported(t *testing.T) {
	opts := config{registry: true, stopTimeout: 5 * time.Second}
	d, err := newDaemon(opts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	d.grpc.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = d.serve(ctx, []string{"unix://" + filepath.Join(t.TempDir(), "sockd.sock")})
	if !errors.Is(err, grpc.ErrServerStopped) {
		t.Errorf("serve = %v, want the Serve error", err)
	}
}

// A tenth of the descriptor limit, at least 256, stays out of the clients'
// reach, so that the listeners can still accept when they hold the rest.
func TestSocketBudget(t *testing.T) {
	for _, c := range []struct{ limit, want int }{
		{0, 0},
		{20000, 18000},
		{1024, 768},
		{300, 150},
		{1 << 20, 1<<20 - (1<<20)/10},
	} {
		if got := socketBudget(c.limit); got != c.want {
			t.Errorf("socketBudget(%d) = %d, want %d", c.limit, got, c.want)
		}
	}
	// Limits past fs.nr_open's default are the unlimited of their setup:
	// systemd's infinity (2^30-8) sizes the caps as 1M does.
	for cur, want := range map[uint64]int{20000: 20000, 1 << 20: 1 << 20, 1<<30 - 8: 1 << 20, unix.RLIM_INFINITY: 1 << 20} {
		if got := sizingLimit(cur); got != want {
			t.Errorf("sizingLimit(%d) = %d, want %d", cur, got, want)
		}
	}
	if limit := descriptorLimit(); limit > 0 && socketBudget(limit) >= limit {
		t.Errorf("budget %d for this process's limit %d leaves nothing", socketBudget(limit), limit)
	}
}

// Flag values the help gives no meaning to are refused before anything
// starts, rather than taken as the defaults.
func TestFlagValuesValidated(t *testing.T) {
	for _, args := range [][]string{
		{"--session-grace", "-1s"},
		{"--session-grace", "0s"},
		{"--session-grace", "50ms"},
		{"--max-session-grace", "10s", "--session-grace", "1m"},
		{"--event-backlog", "0"},
		{"--event-backlog", "15"},
		{"--loops", "-1"},
		{"--max-sockets", "-1"},
		{"--max-connections", "-7"},
		{"--stop-timeout", "-1s"},
		{"--tls-cert", "server.crt"}, // no tls:// listener to use it
	} {
		cmd := newRootCommand()
		cmd.SetArgs(append([]string{"--listen", "unix://" + filepath.Join(t.TempDir(), "s.sock")}, args...))
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("sockd %v: %v, want a refusal naming %s", args, err, args[0])
		}
	}
}

func TestStreamsPerConnection(t *testing.T) {
	if got := streamsPerConnection(0, 18000); got != 19024 {
		t.Errorf("default with a cap of 18000 sockets: %d, want room for a call on each and 1024 more", got)
	}
	if got := streamsPerConnection(7, 18000); got != 7 {
		t.Errorf("--max-streams 7: %d", got)
	}
}
