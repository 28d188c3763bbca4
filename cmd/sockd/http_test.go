package main

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The metrics and pprof listeners keep a bounded number of connections:
// past it, a new client takes the place of the oldest connection without a
// request in progress (silent since it connected, or idle between
// requests), so that such connections neither take more of the daemon's
// descriptors nor keep a scrape waiting.
func TestHTTPListenerBoundsConnections(t *testing.T) {
	l := serveOK(t, 2, nil)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	get := func(c net.Conn) error {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	closedByServer := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF
	}
	idle := dial() // kept alive, idle after one request
	if err := get(idle); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	silent := dial() // sends nothing
	time.Sleep(10 * time.Millisecond)
	scrape := dial()
	start := time.Now()
	if err := get(scrape); err != nil || time.Since(start) > 2*time.Second {
		t.Fatalf("a scrape past the cap: %v after %v", err, time.Since(start))
	}
	// The next client takes the place of the other (which goes first
	// depends on when the server saw the idle one's request end).
	if err := get(dial()); err != nil {
		t.Fatal(err)
	}
	if !closedByServer(idle) || !closedByServer(silent) {
		t.Error("connections without a request in progress kept their places past the cap")
	}
}

// A request that declares a body it never sends is refused at once and its
// connection closed: waiting for the body, it would keep its place in the
// cap for as long as its client liked.
func TestHTTPListenerRefusesBodies(t *testing.T) {
	l := serveOK(t, 2, bodiless) // 2: the next client may come before the server has seen this one end
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a request with a body it never sends: %v %v, want 400", resp, err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("its connection after the answer: %v, want closed", err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	scrape, err := client.Get("http://" + l.Addr().String() + "/")
	if err != nil || scrape.StatusCode != http.StatusOK {
		t.Fatalf("a scrape after it: %v %v", scrape, err)
	}
	scrape.Body.Close()
}

// serveOK serves "ok" on a loopback listener, at most conns connections at
// once, through wrap if not nil, until the test ends.
func serveOK(t *testing.T, conns int, wrap func(http.Handler) http.Handler) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	if wrap != nil {
		h = wrap(h)
	}
	stop := serveHTTP(l, conns, h, "test", l.Addr().String(), slog.New(slog.DiscardHandler))
	t.Cleanup(stop)
	return l
}

// pprof takes bodies (its symbol lookup posts addresses), but one that never
// comes ends its connection once the body's time is up.
func TestHTTPListenerBoundsBodies(t *testing.T) {
	l := serveOK(t, 2, bodyDeadline) // 2: the POST's connection may not be idle yet when the next comes
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	posted, err := client.Post("http://"+l.Addr().String()+"/", "text/plain", strings.NewReader("0x1234"))
	if err != nil || posted.StatusCode != http.StatusOK {
		t.Fatalf("a request with its body: %v %v", posted, err)
	}
	posted.Body.Close()
	if testing.Short() {
		t.Skip("the body's deadline is the header timeout, 10 s")
	}
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(httpHeaderTimeout + 5*time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("a request whose body never comes: its connection %v, want closed once the body's time is up", err)
	}
}
