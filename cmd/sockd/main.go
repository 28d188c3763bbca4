// Binary sockd is the socket daemon: it owns real OS sockets and serves the
// sockd.v1 API (Erlang/OTP socket semantics over gRPC) on a unix socket by
// default, or on loopback TCP.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/internal/daemonaddr"
	"github.com/sockd/sockd/internal/version"
	"github.com/sockd/sockd/registry"
	"github.com/sockd/sockd/server"
)

// config is what the flags say.
type config struct {
	listen         []string
	logLevel       string
	grace          time.Duration
	maxGrace       time.Duration
	eventBacklog   int
	maxStreams     uint32
	loops          int
	maxSockets     int
	maxConns       int
	principalBytes int
	daemonBytes    int
	stopTimeout    time.Duration
	pprofListen    string
	metricsListen  string
	tlsCert        string
	tlsKey         string
	tlsClientCA    string
	gcPercent      int
	registry       bool
	policy         string
}

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "sockd:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	var opts config
	cmd := &cobra.Command{
		Use:     "sockd",
		Version: version.String(),
		Short:   "Serve real OS sockets over gRPC with Erlang socket semantics",
		Long: `sockd owns real operating-system sockets and lets clients drive them over
gRPC (package sockd.v1), with the semantics of Erlang/OTP's socket module.

With no flags it listens on $SOCKD_ADDR if set (any --listen form), else on
the unix socket $XDG_RUNTIME_DIR/sockd.sock, else /tmp/sockd-<uid>/sockd.sock.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			go func() {
				<-ctx.Done()
				stop() // the first signal drains; a second one kills at once
			}()
			return run(ctx, opts)
		},
	}
	cmd.AddCommand(newCheckPolicyCommand())
	f := cmd.Flags()
	f.StringArrayVar(&opts.listen, "listen", nil, "address to serve on: unix:///path, tls://HOST:PORT (mutual TLS) or tcp://127.0.0.1:PORT (plain, loopback only) (repeatable; default: the unix socket above)")
	f.StringVar(&opts.tlsCert, "tls-cert", "", "the daemon's certificate (PEM) for tls:// listeners")
	f.StringVar(&opts.tlsKey, "tls-key", "", "the key of --tls-cert (PEM)")
	f.StringVar(&opts.tlsClientCA, "tls-client-ca", "", "CA certificates (PEM) that clients' certificates must chain to; a client's principal is its certificate's subject")
	f.StringVar(&opts.logLevel, "log-level", "info", "log level: debug (also every call, session, policy refusal and refused TLS client), info, warn, error")
	f.DurationVar(&opts.grace, "session-grace", 30*time.Second, "how long a session outlives its event stream (or its last call) when the client asks for no grace; at least 100ms")
	f.DurationVar(&opts.maxGrace, "max-session-grace", 24*time.Hour, "the longest grace a client may ask for")
	f.IntVar(&opts.eventBacklog, "event-backlog", 4096, "events held per session for delivery and replay, at least 16; calls that will owe an event are refused once half of it is not yet taken by the session's stream, or, for a client that says what it read (metadata sockd-events-taken, as sockctl and the Go client do), not yet read")
	f.Uint32Var(&opts.maxStreams, "max-streams", 0, "calls and streams in progress at once on one client connection (HTTP/2 MAX_CONCURRENT_STREAMS); a client's further calls wait for one to end. Also the most one principal may have open over all its connections: one more is refused, RESOURCE_EXHAUSTED (0: the socket cap plus 1024)")
	f.IntVar(&opts.loops, "loops", 0, "epoll loops (0: one per CPU)")
	f.IntVar(&opts.maxSockets, "max-sockets", 0, "the most sockets open at once, of all clients, a running relay's pipes counted as 8; the last sixteenth is kept for root, the daemon's user and the policy's admins (0: the descriptor limit less a tenth of it, at least 256 but at most half, kept for the listeners and their connections; under a cgroup memory limit at most one socket per 16 KiB of half of it)")
	f.IntVar(&opts.maxConns, "max-connections", 0, "the most client connections open at once, over all listeners; one past it is closed at once. A sixteenth is kept for root and the daemon's user on a unix listener; no other uid, nor a TCP or TLS listener's clients together (counted before the handshake), hold more than half the rest (0: the descriptors --max-sockets leaves, less 64; under a cgroup memory limit at most one per 192 KiB of a quarter of it)")
	f.IntVar(&opts.principalBytes, "principal-bytes", 0, "the most bytes one principal's sessions may make the daemon hold (what waiting calls keep, undelivered events and completions), and, apart, what its connections sent that is still arriving or not yet read, and answers its clients have not taken yet; past it such calls are refused, and a connection whose request would pass it is closed (0: 256 MiB, under a cgroup memory limit at most an eighth of it)")
	f.IntVar(&opts.daemonBytes, "daemon-bytes", 0, "the same bound over all principals together (0: 1 GiB, under a cgroup memory limit at most a quarter of it)")
	f.DurationVar(&opts.stopTimeout, "stop-timeout", 10*time.Second, "how long a graceful shutdown may take")
	f.BoolVar(&opts.registry, "socket-registry", true, "register new sockets in the socket registry by default; $"+registry.EnvVar+"=true|false overrides it, the UseRegistry call overrides both")
	f.StringVar(&opts.metricsListen, "metrics-listen", "", "serve Prometheus metrics at http://HOST:PORT/metrics (off when empty)")
	f.StringVar(&opts.pprofListen, "pprof-listen", "", "serve net/http/pprof on this loopback HOST:PORT (off when empty)")
	f.StringVar(&opts.policy, "policy", "", "the policy file (YAML or JSON) saying what each principal may do; SIGHUP reloads it (default: root and the daemon's user unrestricted, others as unprivileged users)")
	f.IntVar(&opts.gcPercent, "gc-percent", defaultGCPercent, "the Go GC target percentage (GOGC), unless the GOGC environment variable is set")
	return cmd
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func listenAddresses(opts config) []string {
	if len(opts.listen) > 0 {
		return opts.listen
	}
	return []string{daemonaddr.Default()}
}

// validate refuses values the flags' help does not give a meaning to.
func (o config) validate() error {
	switch {
	case o.grace < server.MinGrace:
		return fmt.Errorf("--session-grace %v: want at least %v", o.grace, server.MinGrace)
	case o.maxGrace < o.grace:
		return fmt.Errorf("--max-session-grace %v: want at least --session-grace (%v)", o.maxGrace, o.grace)
	case o.eventBacklog < minEventBacklog:
		return fmt.Errorf("--event-backlog %d: want at least %d", o.eventBacklog, minEventBacklog)
	case o.loops < 0:
		return fmt.Errorf("--loops %d: want 0 (one per CPU) or more", o.loops)
	case o.maxSockets < 0:
		return fmt.Errorf("--max-sockets %d: want 0 (from the descriptor limit) or more", o.maxSockets)
	case o.maxConns < 0:
		return fmt.Errorf("--max-connections %d: want 0 (what --max-sockets leaves) or more", o.maxConns)
	case o.principalBytes != 0 && o.principalBytes < minHeldBytes:
		return fmt.Errorf("--principal-bytes %d: want 0 (the default) or at least %d", o.principalBytes, minHeldBytes)
	case o.daemonBytes != 0 && o.daemonBytes < minHeldBytes:
		return fmt.Errorf("--daemon-bytes %d: want 0 (the default) or at least %d", o.daemonBytes, minHeldBytes)
	case o.stopTimeout < 0:
		return fmt.Errorf("--stop-timeout %v: want a duration of 0 or more", o.stopTimeout)
	case (o.tlsCert != "" || o.tlsKey != "" || o.tlsClientCA != "") && !o.listensTLS():
		return errors.New("--tls-cert, --tls-key and --tls-client-ca are for tls:// listeners, and no --listen names one")
	}
	return nil
}

func (o config) listensTLS() bool {
	for _, addr := range listenAddresses(o) {
		if network, _, err := daemonaddr.Split(addr); err == nil && network == "tls" {
			return true
		}
	}
	return false
}

// minHeldBytes is the smallest --principal-bytes and --daemon-bytes, as a
// memory limit's share of them: room for a few calls' data.
const minHeldBytes = 4 << 20

// minEventBacklog is the smallest --event-backlog, as a policy file's
// event_backlog: a session needs room for the events of a few operations.
const minEventBacklog = 16

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, opts config) error {
	if err := opts.validate(); err != nil {
		return err
	}
	logger, err := newLogger(opts.logLevel)
	if err != nil {
		return err
	}
	hup := catchHUP()
	logger.Info("sockd starting", "version", version.String())
	setGCPercent(opts.gcPercent, logger)
	if opts.pprofListen != "" {
		stop, err := servePprof(opts.pprofListen, logger)
		if err != nil {
			return err
		}
		defer stop()
	}
	d, err := newDaemon(opts, logger)
	if err != nil {
		return err
	}
	if d.metrics != nil {
		stop, err := d.metrics.serve(opts.metricsListen, logger)
		if err != nil {
			d.engine.Close()
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		defer stop()
	}
	reloadPolicyOnHUP(ctx, hup, opts.policy, d.service, logger)
	return d.serve(ctx, listenAddresses(opts))
}
