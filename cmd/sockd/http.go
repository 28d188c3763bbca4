package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// The metrics and pprof listeners' bounds, so that idle or slow connections
// cannot pile up: how long a request's headers may take, how long a
// connection may wait idle for its next request, and how many connections
// each serves at once (a further one waits in the listen backlog). Their
// descriptors come out of the 64 connectionBudget keeps for the daemon.
const (
	httpHeaderTimeout = 10 * time.Second
	httpIdleTimeout   = 30 * time.Second
	metricsConns      = 16
	pprofConns        = 4
)

// serveHTTP serves h on l, at most conns connections at once, in the
// background until the returned stop, and logs what, where, and why it
// stopped serving if not asked to.
func serveHTTP(l net.Listener, conns int, h http.Handler, what, url string, logger *slog.Logger) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: httpHeaderTimeout, IdleTimeout: httpIdleTimeout}
	go func() {
		if err := srv.Serve(netutil.LimitListener(l, conns)); !errors.Is(err, http.ErrServerClosed) {
			logger.Error(what+" stopped serving", "err", err)
		}
	}()
	logger.Info(what+" listening", "address", url)
	return func() { srv.Close() }
}
