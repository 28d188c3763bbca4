package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
)

// servePprof serves the profiling endpoints on a loopback address; they
// expose internals, so nothing else is accepted.
func servePprof(addr string, logger *slog.Logger) (func(), error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("--pprof-listen %q: want a loopback HOST:PORT", addr)
	}
	l, err := net.Listen("tcp", ap.String())
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return serveHTTP(l, pprofConns, bodyDeadline(mux), "pprof", l.Addr().String(), logger), nil
}
