package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
	"github.com/sockd/sockd/registry"
	"github.com/sockd/sockd/server"
)

// streamsPerConnection bounds the streams of one connection, each a
// goroutine and its buffers in the daemon even before its request has come
// (gRPC's own default is no bound): the flag's value, or by default room for
// the Erlang way of serving, a blocking call on every socket the daemon may
// have, and then some for event streams and pipes.
func streamsPerConnection(flag uint32, maxSockets int) uint32 {
	if flag > 0 {
		return flag
	}
	return uint32(min(maxSockets, math.MaxUint32-1024)) + 1024
}

// streamWorkers is how many goroutines serve calls. Reused goroutines keep
// their grown stacks; a call that finds every worker busy runs on a fresh
// goroutine and grows its stack through gRPC and the engine again (11% of
// CPU at 32 callers in recvbench profiles with 4 per core). Idle workers
// cost their stacks only, a few MiB for all of them.
const streamWorkers = 64

// daemon is the wiring of one sockd process.
type daemon struct {
	opts    config
	log     *slog.Logger
	engine  *engine.Engine
	service *server.Service
	health  *health.Server
	grpc    *grpc.Server
	metrics *metrics // nil without --metrics-listen
	conns   *connLimit
}

func newDaemon(opts config, logger *slog.Logger) (*daemon, error) {
	policy, err := loadPolicy(opts.policy, logger)
	if err != nil {
		return nil, fmt.Errorf("--policy: %w", err)
	}
	useRegistry := registry.StartDefault(opts.registry, os.Getenv(registry.EnvVar))
	reg := registry.New(useRegistry)
	sockets := server.NewSocketCounter(reg)
	maxSockets, limit, mem := opts.maxSockets, descriptorLimit(), memoryLimit()
	setMemoryLimit(mem, logger)
	if maxSockets <= 0 {
		maxSockets = lowerBudget(socketBudget(limit), memorySocketBudget(mem))
	}
	if maxSockets == 0 { // neither limit known
		maxSockets = engine.DefaultMaxSockets
	}
	if limit > 0 && maxSockets > socketBudget(limit) {
		logger.Warn("--max-sockets leaves the listeners too few descriptors: at the limit a new client cannot connect",
			"max_sockets", maxSockets, "descriptor_limit", limit, "suggested", socketBudget(limit))
	}
	if mem > 0 && maxSockets > memorySocketBudget(mem) {
		logger.Warn("--max-sockets may not fit the memory limit: the daemon may be killed for memory before it refuses a socket",
			"max_sockets", maxSockets, "memory_limit", mem, "suggested", memorySocketBudget(mem))
	}
	maxConns := opts.maxConns
	if maxConns <= 0 {
		maxConns = lowerBudget(connectionBudget(limit, maxSockets), memoryConnectionBudget(mem))
	}
	tombstones := lowerBudget(memoryTombstones(mem), engine.DefaultMaxTombstones)
	// A principal may have as many calls open over all its connections as
	// one connection may: a blocking call on every socket, and then some.
	held := server.Limits{MaxPrincipalBytes: memoryPrincipalBytes(mem), MaxDaemonBytes: memoryDaemonBytes(mem),
		MaxStreams: int(streamsPerConnection(opts.maxStreams, maxSockets))}
	if opts.principalBytes > 0 {
		held.MaxPrincipalBytes = opts.principalBytes
	}
	if opts.daemonBytes > 0 {
		held.MaxDaemonBytes = opts.daemonBytes
	}
	logger.Info("socket cap", "max_sockets", maxSockets, "max_connections", maxConns, "descriptor_limit", limit, "memory_limit", mem,
		"tombstones", tombstones, "principal_bytes", lowerBudget(held.MaxPrincipalBytes, server.DefaultMaxPrincipalBytes),
		"daemon_bytes", lowerBudget(held.MaxDaemonBytes, server.DefaultMaxDaemonBytes))
	eng, err := engine.New(engine.Config{Loops: opts.loops, Logger: logger, DefaultUseRegistry: useRegistry, Observer: sockets,
		MaxSockets: maxSockets, MaxTombstones: tombstones})
	if err != nil {
		return nil, err // it says "engine: ..."
	}
	probeCtx, cancelProbe := context.WithTimeout(context.Background(), options.ProbeTimeout)
	host := options.Probe(probeCtx)
	if probeCtx.Err() != nil {
		// Probe reports the options it had no time for as unsupported.
		logger.Warn("option probe timed out: options not probed are reported unsupported", "timeout", options.ProbeTimeout)
	}
	cancelProbe()
	svc := server.New(server.Config{
		Engine:   eng,
		Registry: reg,
		Logger:   logger,
		Options:  host,
		Policy:   policy,
		Sockets:  sockets,
		Sessions: server.SessionLimits{
			DefaultGrace: opts.grace,
			MaxGrace:     opts.maxGrace,
			EventBacklog: opts.eventBacklog,
		},
		Limits: held,
	})
	var serverOpts []grpc.ServerOption
	var m *metrics
	if opts.metricsListen != "" {
		// Before the service's own interceptors: refused calls are counted.
		m = newMetrics()
		u, s := m.interceptors()
		serverOpts = append(serverOpts, grpc.ChainUnaryInterceptor(u), grpc.ChainStreamInterceptor(s))
	}
	serverOpts = append(serverOpts, svc.ServerOptions()...)
	gs := grpc.NewServer(append(serverOpts,
		grpc.NumStreamWorkers(streamWorkers),
		grpc.MaxConcurrentStreams(streamsPerConnection(opts.maxStreams, maxSockets)),
		// Event streams live long: ping idle clients so a dead one is noticed
		// and its sessions start their grace period, on the unix listener too.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: keepaliveTimeout}),
		// A connection that has not shaken hands by then gives its place
		// back (gRPC's default is two minutes).
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)...)
	svc.Register(gs)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	hs.SetServingStatus(sockdv1.SocketService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	reflection.Register(gs)
	if m != nil {
		m.register(svc, gs)
	}
	conns := &connLimit{max: maxConns, userTimeout: keepaliveTimeout, log: logger}
	return &daemon{opts: opts, log: logger, engine: eng, service: svc, health: hs, grpc: gs, metrics: m, conns: conns}, nil
}

const (
	// keepaliveTimeout is how long a client may leave a ping, or sent
	// data, unanswered before its connection is closed.
	keepaliveTimeout = 10 * time.Second
	// handshakeTimeout bounds a new connection's TLS and HTTP/2 handshake.
	handshakeTimeout = 10 * time.Second
)

// serve listens on every address and serves until ctx ends.
func (d *daemon) serve(ctx context.Context, addrs []string) error {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	// Read the TLS files once, and only if a tls:// listener needs them.
	tlsConfig := sync.OnceValues(func() (*tls.Config, error) { return serverTLSConfig(d.opts) })
	for _, addr := range addrs {
		l, err := listen(addr, tlsConfig, d.conns)
		if err != nil {
			d.engine.Close()
			return err
		}
		listeners = append(listeners, l)
		// The bound address: a port 0 asked for is the kernel's choice.
		d.log.Info("listening", "address", addr, "bound", l.Addr().String())
	}
	errs := make(chan error, len(listeners))
	for _, l := range listeners {
		go func() { errs <- d.grpc.Serve(l) }()
	}
	notifySystemd("READY=1", d.log) // the listeners take connections from here on
	var serveErr error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down", "reason", context.Cause(ctx))
	case serveErr = <-errs:
		d.log.Error("serve failed", "err", serveErr)
		serveErr = fmt.Errorf("serve: %w", serveErr)
	}
	notifySystemd("STOPPING=1", d.log)
	d.shutdown()
	return serveErr
}

// shutdown drains: health goes NOT_SERVING, new calls of the socket service
// get UNAVAILABLE, waiters are aborted, events flushed, sockets closed, then
// the other services' streams end, all within the stop timeout.
func (d *daemon) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.stopTimeout)
	defer cancel()
	d.health.Shutdown()
	// The socket service's streams end with their sessions, once they have
	// sent what they hold; then the other streams (a health Watch, which
	// heard NOT_SERVING, reflection) are ended, which would never end by
	// themselves, and the graceful stop waits for what is still being
	// written to the clients.
	d.service.Drain(ctx)
	if ctx.Err() != nil {
		d.log.Warn("stop timeout reached before every event stream took its session's events; the rest are dropped", "stop_timeout", d.opts.stopTimeout)
	}
	stopped := make(chan struct{})
	go func() {
		d.grpc.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		d.log.Warn("stop timeout reached: cutting off the calls still running", "stop_timeout", d.opts.stopTimeout)
		d.grpc.Stop()
	}
	d.engine.Close()
	d.log.Info("stopped")
}

// descriptorLimit is the process's descriptor limit (the runtime has
// raised the soft limit to the hard one), 0 if unknown. A limit past
// maxDescriptorLimit counts as that: such limits are the "unlimited" of
// their setup (systemd's infinity is 2^30-8), not a number to size the caps
// by (a socket per descriptor would take over 7 GB at 1M).
func descriptorLimit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return sizingLimit(rl.Cur)
}

// sizingLimit is a descriptor limit as the caps are sized by it.
func sizingLimit(cur uint64) int { return int(min(cur, maxDescriptorLimit)) }

// maxDescriptorLimit is fs.nr_open's default, the most descriptors a
// process has unless the host raised it.
const maxDescriptorLimit = 1 << 20

// socketBudget is how many sockets (and relay pipes, which the engine
// counts among them) clients may hold within a descriptor limit: a tenth of
// it, at least 256 but at most half, stays for the daemon's listeners and
// their connections, metrics and pprof. At the OS limit every
// accept of theirs would fail with emfile, and no client, an administrator
// come to close sockets included, could connect. 0 (unknown): the engine's
// default.
func socketBudget(limit int) int {
	if limit <= 0 {
		return 0
	}
	return max(limit-max(256, limit/10), limit/2)
}
