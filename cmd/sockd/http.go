package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// The metrics and pprof listeners' bounds, so that idle or slow connections
// cannot pile up: how long a request's headers may take, how long a
// connection may wait idle for its next request, and how many connections
// each keeps at once. Their descriptors come out of the 64 connectionBudget
// keeps for the daemon.
const (
	httpHeaderTimeout = 10 * time.Second
	httpIdleTimeout   = 30 * time.Second
	metricsConns      = 16
	pprofConns        = 4
)

// serveHTTP serves h on l, at most conns connections at once (connCap), in
// the background until the returned stop, and logs what, where, and why it
// stopped serving if not asked to.
func serveHTTP(l net.Listener, conns int, h http.Handler, what, url string, logger *slog.Logger) (stop func()) {
	capped := &connCap{Listener: l, max: conns, conns: map[net.Conn]connEntry{}}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: httpHeaderTimeout, IdleTimeout: httpIdleTimeout, ConnState: capped.track}
	go func() {
		if err := srv.Serve(capped); !errors.Is(err, http.ErrServerClosed) {
			logger.Error(what+" stopped serving", "err", err)
		}
	}()
	logger.Info(what+" listening", "address", url)
	return func() { srv.Close() }
}

// bodiless refuses requests that carry a body, which metrics never takes:
// the server would wait for the body, with no deadline, keeping the
// connection's request in progress and its place in connCap.
func bodiless(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasBody(r) {
			http.NewResponseController(w).SetReadDeadline(time.Now()) // the rest of the body is not waited for
			w.Header().Set("Connection", "close")
			http.Error(w, "no request here takes a body", http.StatusBadRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hasBody reports whether r says it carries a body.
func hasBody(r *http.Request) bool { return r.ContentLength != 0 || len(r.TransferEncoding) > 0 }

// bodyDeadline gives a request's body as long as its headers had to arrive
// (pprof's symbol lookup posts one): one never sent would otherwise keep
// its request in progress, and its place in connCap, without a deadline.
func bodyDeadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hasBody(r) {
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(httpHeaderTimeout))
		}
		h.ServeHTTP(w, r)
	})
}

// connCap keeps at most max of a listener's connections open. At the cap,
// a new connection takes the place of the oldest one without a request in
// progress (idle between requests, or silent since it connected), or is
// closed itself when every one has a request in progress: silent
// connections can neither take the daemon's descriptors nor keep a scrape
// waiting, as a cap that made new connections wait would let them.
type connCap struct {
	net.Listener
	max   int
	mu    sync.Mutex
	conns map[net.Conn]connEntry
}

type connEntry struct {
	busy  bool      // a request in progress
	since time.Time // of its state
}

func (c *connCap) Accept() (net.Conn, error) {
	for {
		conn, err := c.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c.admit(conn) {
			return conn, nil
		}
		conn.Close()
	}
}

// admit makes room for conn, if it can.
func (c *connCap) admit(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.conns) >= c.max {
		var oldest net.Conn
		for other, e := range c.conns {
			if !e.busy && (oldest == nil || e.since.Before(c.conns[oldest].since)) {
				oldest = other
			}
		}
		if oldest == nil {
			return false
		}
		oldest.Close()
		delete(c.conns, oldest)
	}
	c.conns[conn] = connEntry{since: time.Now()}
	return true
}

// track follows the server's connections (http.Server.ConnState).
func (c *connCap) track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.conns[conn]; !ok {
		return // displaced
	}
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(c.conns, conn)
	case http.StateActive:
		c.conns[conn] = connEntry{busy: true, since: time.Now()}
	case http.StateIdle:
		c.conns[conn] = connEntry{since: time.Now()}
	}
}
