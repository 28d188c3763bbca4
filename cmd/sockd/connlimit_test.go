package main

import (
	"log/slog"
	"net"
	"path/filepath"
	"testing"
)

func TestConnectionBudget(t *testing.T) {
	for _, tt := range []struct{ limit, sockets, want int }{
		{20000, socketBudget(20000), 1936},
		{1024, socketBudget(1024), 192},
		{0, 0, 1024},
		{100, 90, 16},
	} {
		if got := connectionBudget(tt.limit, tt.sockets); got != tt.want {
			t.Errorf("connectionBudget(%d, %d) = %d, want %d", tt.limit, tt.sockets, got, tt.want)
		}
	}
}

// A connection past the limit is closed at once; one closed (twice) gives
// its place back once.
func TestConnLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	raw, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	cl := &connLimit{max: 1, log: slog.New(slog.DiscardHandler)}
	l := cl.listener(raw)
	defer l.Close()
	accepted := make(chan net.Conn)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := dial()
	defer c1.Close()
	s1 := <-accepted
	c2 := dial() // refused: closed by the daemon's side at once
	defer c2.Close()
	if n, err := c2.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a connection past the limit read %d bytes", n)
	}
	s1.Close()
	s1.Close()
	if got := cl.open.Load(); got != 0 {
		t.Fatalf("%d connections counted after the only one closed", got)
	}
	c3 := dial()
	defer c3.Close()
	(<-accepted).Close()
}
