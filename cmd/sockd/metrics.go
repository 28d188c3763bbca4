package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/sockd/sockd/server"
)

// metrics is what --metrics-listen serves: gRPC's per-method counters and
// handling-time histograms, sockd's sessions, sockets, lanes and events
// (server.Service.Collector), and the Go runtime's and the process's own.
// Without the flag none of it exists, and calls pass no metrics interceptor.
type metrics struct {
	registry *prometheus.Registry
	grpc     *grpcprom.ServerMetrics
	// methods are the served methods ("/service/method"), set by register:
	// a call of any other is not counted, since each new name would be
	// series that stay (anyone may call any name).
	methods atomic.Pointer[map[string]bool]
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		grpc:     grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram()),
	}
	m.registry.MustRegister(m.grpc,
		collectors.NewBuildInfoCollector(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// interceptors count calls and streams, by method and status code.
func (m *metrics) interceptors() (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	unary, stream := m.grpc.UnaryServerInterceptor(), m.grpc.StreamServerInterceptor()
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if !m.served(info.FullMethod) {
				return handler(ctx, req)
			}
			return unary(ctx, req, info, handler)
		}, func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			if !m.served(info.FullMethod) {
				return handler(srv, ss)
			}
			return stream(srv, ss, info, handler)
		}
}

// served reports a method of a registered service.
func (m *metrics) served(fullMethod string) bool {
	methods := m.methods.Load()
	return methods != nil && (*methods)[fullMethod]
}

// register adds the service's collector and zeroes the per-method series of
// every service gs serves, so that they exist before the first call.
func (m *metrics) register(svc *server.Service, gs *grpc.Server) {
	m.registry.MustRegister(svc.Collector())
	m.grpc.InitializeMetrics(gs)
	methods := map[string]bool{}
	for service, info := range gs.GetServiceInfo() {
		for _, method := range info.Methods {
			methods["/"+service+"/"+method.Name] = true
		}
	}
	m.methods.Store(&methods)
}

// serve serves /metrics on addr (HOST:PORT) until the returned stop.
func (m *metrics) serve(addr string, logger *slog.Logger) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError)}))
	return serveHTTP(l, metricsConns, bodiless(mux), "metrics", "http://"+l.Addr().String()+"/metrics", logger), nil
}
