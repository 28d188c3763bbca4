package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// httpHeaderTimeout bounds how long the metrics and pprof listeners wait for
// a request's headers, so that idle or slow connections cannot pile up.
const httpHeaderTimeout = 10 * time.Second

// serveHTTP serves h on l in the background until the returned stop, and
// logs what, where, and why it stopped serving if not asked to.
func serveHTTP(l net.Listener, h http.Handler, what, url string, logger *slog.Logger) (stop func()) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: httpHeaderTimeout}
	go func() {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			logger.Error(what+" stopped serving", "err", err)
		}
	}()
	logger.Info(what+" listening", "address", url)
	return func() { srv.Close() }
}
