package client

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/sockd/sockd/internal/pipewire"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestDeadline(t *testing.T) {
	var d deadline
	d.init()
	if isClosed(d.cancel) {
		t.Fatal("a fresh deadline has passed")
	}
	d.set(time.Now().Add(-time.Second))
	if !isClosed(d.wait()) {
		t.Fatal("a past deadline has not passed")
	}
	d.set(time.Now().Add(20 * time.Millisecond))
	select {
	case <-d.wait():
		t.Fatal("a future deadline passed at once")
	default:
	}
	select {
	case <-d.wait():
	case <-time.After(5 * time.Second):
		t.Fatal("the deadline never passed")
	}
	d.set(time.Time{})
	if isClosed(d.wait()) {
		t.Fatal("clearing the deadline left it passed")
	}
}

func TestNetAddrAndInetSockAddr(t *testing.T) {
	for _, tc := range []struct{ network, address string }{
		{"tcp", "127.0.0.1:80"}, {"tcp6", "[::1]:443"}, {"udp4", "127.0.0.1:53"},
	} {
		sa, _, err := inetSockAddr(tc.network, tc.address)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.network, tc.address, err)
		}
		if got := NetAddr(tc.network, sa).String(); got != tc.address {
			t.Errorf("%s %s: round trip gives %s", tc.network, tc.address, got)
		}
	}
	// As package net takes them: an empty host is the unspecified
	// address, a port may be a service's name.
	for _, tc := range []struct{ network, address, want string }{
		{"tcp", ":0", "0.0.0.0:0"}, {"udp4", ":8080", "0.0.0.0:8080"}, {"tcp6", ":0", "[::]:0"},
		{"udp6", ":53", "[::]:53"}, {"tcp", "127.0.0.1:http", "127.0.0.1:80"},
	} {
		sa, _, err := inetSockAddr(tc.network, tc.address)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.network, tc.address, err)
		}
		if got := NetAddr(tc.network, sa).String(); got != tc.want {
			t.Errorf("%s %s = %s, want %s", tc.network, tc.address, got, tc.want)
		}
	}
	for _, tc := range []struct{ network, address string }{
		{"tcp4", "[::1]:1"}, {"tcp6", "127.0.0.1:1"}, {"tcp", "localhost:80"}, {"tcp", "127.0.0.1"},
		{"tcp", "127.0.0.1:no-such-service"}, {"tcp", "127.0.0.1:70000"},
	} {
		if _, _, err := inetSockAddr(tc.network, tc.address); err == nil {
			t.Errorf("%s %s: accepted", tc.network, tc.address)
		}
	}
	local := &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: []byte("/run/x")}}}
	if a, ok := NetAddr("unix", local).(*net.UnixAddr); !ok || a.Name != "/run/x" {
		t.Errorf("local address: %v", NetAddr("unix", local))
	}
	if _, ok := NetAddr("udp", inetAddr(&sockdv1.InetAddr{Host: &sockdv1.InetAddr_Address{Address: "127.0.0.1"}})).(*net.UDPAddr); !ok {
		t.Error("udp network does not give a UDPAddr")
	}
}

// TestPacketConnWriteToNilAddr: a nil address is an error, as for a
// net.UDPConn, not a panic.
func TestPacketConnWriteToNilAddr(t *testing.T) {
	p := &PacketConn{network: "udp", closed: make(chan struct{}), sess: &Session{client: &Client{}}}
	for _, addr := range []net.Addr{nil, (*net.UDPAddr)(nil)} {
		n, err := p.WriteTo([]byte("x"), addr)
		if n != 0 || !errors.Is(err, errMissingAddress) {
			t.Errorf("WriteTo(%#v) = %d, %v; want 0 and a missing address error", addr, n, err)
		}
	}
}

// stuckPipe is a Pipe stream to a peer that never reads: a data Send blocks
// until the stream's context ends. It records whether two Sends overlapped.
type stuckPipe struct {
	ctx     context.Context
	inSend  atomic.Int32
	overlap atomic.Bool
}

func (p *stuckPipe) SendMsg(m any) error {
	if p.inSend.Add(1) > 1 {
		p.overlap.Store(true)
	}
	defer p.inSend.Add(-1)
	if _, data := m.(*pipewire.Outgoing); data {
		<-p.ctx.Done()
		return p.ctx.Err()
	}
	return nil
}

func (p *stuckPipe) RecvMsg(any) error {
	<-p.ctx.Done()
	return p.ctx.Err()
}

// closeCounter answers Close and counts the calls.
type closeCounter struct {
	sockdv1.SocketServiceClient // unused methods: nil
	closes                      atomic.Int32
}

func (c *closeCounter) Close(context.Context, *sockdv1.CloseRequest, ...grpc.CallOption) (*sockdv1.CloseResponse, error) {
	c.closes.Add(1)
	return &sockdv1.CloseResponse{}, nil
}

// TestConnCloseWithStuckWrite: Close after a write timed out and is still
// stuck in Send must not Send on the stream too; it closes the socket with
// a separate call instead.
func TestConnCloseWithStuckWrite(t *testing.T) {
	defer func(d time.Duration) { closeTimeout = d }(closeTimeout)
	closeTimeout = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	pipe := &stuckPipe{ctx: ctx}
	api := &closeCounter{}
	c := newConn(&Session{client: &Client{api: api}, id: "s"}, "x", "tcp", pipe, cancel)
	c.start()

	c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write to a stuck pipe: %v, want a deadline error", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	<-c.streamEnded // the background close has given up on the stream
	for deadline := time.Now().Add(5 * time.Second); api.closes.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if pipe.overlap.Load() {
		t.Error("Close sent on the stream while the timed-out write was still in Send")
	}
	if n := api.closes.Load(); n != 1 {
		t.Errorf("Close made %d Close calls, want 1", n)
	}
}

// NetAddr writes an abstract local name as package net does, with @.
func TestNetAddrAbstract(t *testing.T) {
	a := NetAddr("unix", &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: []byte("\x00name")}}})
	if a.String() != "@name" {
		t.Errorf("abstract address %q, want @name", a.String())
	}
}

// TestWriteRacingClose: a Write that Close (or, before it, its deadline)
// ends at any moment reports the bytes whose sending began, a whole number
// of messages, and the writer goroutine reads nothing of its slice once it
// has returned (the race detector sees the caller reuse it).
func TestWriteRacingClose(t *testing.T) {
	defer func(d time.Duration) { closeTimeout = d }(closeTimeout)
	closeTimeout = 10 * time.Millisecond
	for i := range 1000 {
		ctx, cancel := context.WithCancel(context.Background())
		c := newConn(&Session{client: &Client{api: &closeCounter{}}, id: "s"}, "x", "tcp", &tricklePipe{ctx: ctx}, cancel)
		go c.readLoop()
		writerDone := make(chan struct{})
		go func() {
			defer close(writerDone)
			c.writeLoop()
		}()
		if i%2 == 1 { // a Write its deadline ends first
			c.SetWriteDeadline(time.Now().Add(time.Duration(i%20) * time.Microsecond))
		}
		b := make([]byte, 3*maxPipeMessage+1)
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			n, err := c.Write(b)
			if err == nil && n != len(b) || n%maxPipeMessage != 0 && n != len(b) {
				t.Errorf("Write of %d bytes: %d, %v", len(b), n, err)
			}
			clear(b) // the caller's to reuse
		}()
		c.linger.Store(0) // SetLinger(0) without its call to the daemon
		for range i % 8 { // Close at staggered moments of the Write
			runtime.Gosched()
		}
		c.Close()
		<-wrote
		<-writerDone
	}
}

// tricklePipe takes data messages one scheduler turn apart until ctx ends.
type tricklePipe struct{ ctx context.Context }

func (p *tricklePipe) SendMsg(m any) error {
	if _, data := m.(*pipewire.Outgoing); data {
		runtime.Gosched()
	}
	return p.ctx.Err()
}

func (p *tricklePipe) RecvMsg(any) error {
	<-p.ctx.Done()
	return p.ctx.Err()
}

// A dial that runs out of time reports it as net.Dialer does (errors.Is
// context.DeadlineExceeded, a net.Error whose Timeout is true), and as this
// package's deadlines do (os.ErrDeadlineExceeded).
func TestDialTimeoutAsNetDialer(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now())
	defer cancel()
	<-ctx.Done()
	err := dialError(ctx, "tcp", nil, ctx.Err())
	var ne net.Error
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("a dial past its deadline: %v", err)
	}
}

// Dial and ListenTCP take package net's stream networks only: another
// name is net.UnknownNetworkError, before any call, as net.Dial answers.
func TestStreamNetworks(t *testing.T) {
	var s Session // no call reaches a daemon
	ctx := context.Background()
	for _, network := range []string{"udp", "unix", "", "bogus"} {
		_, err := s.Dial(ctx, network, "127.0.0.1:80")
		var unknown net.UnknownNetworkError
		if !errors.As(err, &unknown) {
			t.Errorf("Dial(%q): %v, want net.UnknownNetworkError", network, err)
		}
		if _, err := s.ListenTCP(ctx, network, "127.0.0.1:0", 1); !errors.As(err, &unknown) {
			t.Errorf("ListenTCP(%q): %v, want net.UnknownNetworkError", network, err)
		}
	}
	if a, err := streamAddr("tcp6", "[::1]:80"); err != nil || a.GetInet6() == nil {
		t.Errorf("tcp6 [::1]:80: %v %v", a, err)
	}
}

// fullPipe is a Pipe stream whose daemon sends data until told to end the
// stream, then ends it with err.
type fullPipe struct {
	ended chan struct{}
	err   error
}

func (p *fullPipe) SendMsg(any) error { <-p.ended; return io.EOF }

func (p *fullPipe) RecvMsg(m any) error {
	select {
	case <-p.ended:
		return p.err
	default:
	}
	resp := m.(*pipewire.Response)
	resp.Msg = &sockdv1.PipeResponse{Data: []byte("data")}
	return nil
}

// A Conn that nobody reads nor closes keeps no goroutine once its stream
// has ended (its session or its client closed): a reviewer's Conns kept
// two each for ever. What Read then finds is the data, then the end.
func TestConnEndedUnreadKeepsNoGoroutine(t *testing.T) {
	pipe := &fullPipe{ended: make(chan struct{}), err: errors.New("the client is closed")}
	cl := &Client{gone: make(chan struct{})}
	c := newConn(&Session{client: cl, id: "s"}, "x", "tcp", pipe, func() {})
	before := runtime.NumGoroutine()
	c.start()
	for len(c.incoming) < readAhead {
		time.Sleep(time.Millisecond)
	}
	close(cl.gone) // Client.Close has closed its connection, which ends the stream
	close(pipe.ended)
	select {
	case <-c.streamEnded:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader goroutine is still waiting for a Read after its client closed")
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the stream ended, %d before the Conn", runtime.NumGoroutine(), before)
		}
	}
	if _, err := c.Write([]byte("x")); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("Write after the stream ended: %v, want an error other than io.EOF", err)
	}
	b := make([]byte, 4)
	for range readAhead {
		if n, err := c.Read(b); err != nil || string(b[:n]) != "data" {
			t.Fatalf("Read = %q, %v; want the data read ahead", b[:n], err)
		}
	}
	if _, err := c.Read(b); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after the data: %v, want net.ErrClosed (the client is closed)", err)
	}
}

// A Conn's session closed through another of the client's handles of it
// (FindSession, ResumeSession) releases the Conn's reader too (a
// reviewer's stayed, with its read-ahead, until Client.Close).
func TestConnEndsWithItsSessionClosedThroughAnotherHandle(t *testing.T) {
	pipe := &fullPipe{ended: make(chan struct{}), err: errors.New("the session is closed")}
	cl := &Client{}
	s1, s2 := cl.ResumeSession("s"), cl.ResumeSession("s")
	c := newConn(s1, "x", "tcp", pipe, func() {})
	c.start()
	for len(c.incoming) < readAhead {
		time.Sleep(time.Millisecond)
	}
	cl.endSession(s2.ID()) // what s2.Close does once the daemon has ended the session
	close(pipe.ended)
	select {
	case <-c.streamEnded:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader goroutine still waits for a Read after its session was closed through another handle")
	}
}
