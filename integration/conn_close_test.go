package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
)

// dialPeer returns a daemon Conn connected to a plain loopback listener,
// and the listener's end.
func dialPeer(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	return dialPeerFor(t, newClientSession(t))
}

// dialPeerFor is dialPeer for a Conn of session s.
func dialPeerFor(t *testing.T, s *client.Session) (net.Conn, net.Conn) {
	t.Helper()
	l := tcpListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	c, err := s.Dial(ctx, "tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return c, peer
}

// TestConnSetLingerZeroResets: as with net.TCPConn, SetLinger(0) makes
// Close abort the connection: the peer reads a reset, not an end of data.
func TestConnSetLingerZeroResets(t *testing.T) {
	t.Parallel()
	for _, sec := range []int{0, -1} {
		c, peer := dialPeer(t)
		if err := c.(interface{ SetLinger(int) error }).SetLinger(sec); err != nil {
			t.Fatal(err)
		}
		c.Close()
		peer.SetReadDeadline(time.Now().Add(callTimeout))
		_, err := peer.Read(make([]byte, 1))
		if reset := errors.Is(err, syscall.ECONNRESET); reset != (sec == 0) {
			t.Errorf("SetLinger(%d), then Close: the peer read %v", sec, err)
		}
	}
}

// TestConnCloseAfterAReset: a pipe the socket's error ended (the peer
// reset the connection) did not close the socket, so Close closes it with
// a call of its own: the session does not keep a dead socket open.
func TestConnCloseAfterAReset(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	c, peer := dialPeerFor(t, s)
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close()
	c.SetReadDeadline(time.Now().Add(callTimeout))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a Read after the peer's reset: %v, want ECONNRESET", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	id := c.(*client.Conn).SocketID()
	if info, err := s.Info(ctx, id); err != nil || slices.Contains(info.GetRstates(), "closed") {
		t.Fatalf("the socket after the reset: %v %v, want it open until Close", info.GetRstates(), err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after a reset: %v", err)
	}
	if info, err := s.Info(ctx, id); err != nil || !slices.Contains(info.GetRstates(), "closed") {
		t.Errorf("the socket after Close: %v %v, want it closed", info.GetRstates(), err)
	}
}

// TestConnWriteAfterAResetFails: once the peer has reset the connection,
// Writes fail with the socket's error, as net's do, though data the Conn
// has not read waits before the error; and Read still returns that data,
// then the error. (A reviewer's writes went on "succeeding" at 300 MB a
// second, dropped by the daemon, behind 1 MiB nobody read; a write that
// found the pipe ended said io.EOF.)
func TestConnWriteAfterAResetFails(t *testing.T) {
	t.Parallel()
	for _, reset := range []bool{true, false} {
		c, peer := dialPeer(t)
		sent := 1 << 20
		if _, err := peer.Write(make([]byte, sent)); err != nil {
			t.Fatal(err)
		}
		if reset {
			peer.(*net.TCPConn).SetLinger(0)
		}
		peer.Close()
		c.SetWriteDeadline(time.Now().Add(callTimeout))
		var written int
		var err error
		for err == nil && written < 1<<30 {
			var n int
			n, err = c.Write(make([]byte, 32<<10))
			written += n
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("reset %v: Writes after the peer's end: %v after %d bytes, want ECONNRESET or EPIPE", reset, err, written)
		}
		if written > 8<<20 {
			t.Errorf("reset %v: %d bytes written after the peer's end before the error", reset, written)
		}
		c.SetReadDeadline(time.Now().Add(callTimeout))
		got, rerr := io.Copy(io.Discard, c)
		if got > int64(sent) || rerr == nil && got == 0 {
			t.Errorf("reset %v: read %d bytes then %v", reset, got, rerr)
		}
		t.Logf("reset %v: wrote %d bytes, then %v; read %d bytes, then %v", reset, written, err, got, rerr)
	}
}

// TestConnReadsWhileItsSessionCloses: while Session.Close waits for other
// Conns' bytes to drain, a Conn still being read loses nothing, and its
// end is no clean end of data (a reviewer's reads had gaps of megabytes,
// then io.EOF, once the reader dropped what did not fit when Close began).
func TestConnReadsWhileItsSessionCloses(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	a, _ := dialPeerFor(t, s) // its peer reads nothing
	a.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	a.Write(make([]byte, 16<<20))
	a.Close() // leaves its bytes to drain, which Session.Close waits for
	b, peer := dialPeerFor(t, s)
	go func() {
		var word [4]byte
		for i := uint32(0); ; i++ {
			binary.BigEndian.PutUint32(word[:], i)
			if _, err := peer.Write(word[:]); err != nil {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	go s.Close(ctx)
	b.SetReadDeadline(time.Now().Add(callTimeout))
	var want uint32
	var word [4]byte
	for {
		if _, err := io.ReadFull(b, word[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("the read ended with %v after %d words: want the session's end, not a peer's", err, want)
			}
			break
		}
		if got := binary.BigEndian.Uint32(word[:]); got != want {
			t.Fatalf("read word %d, want %d: data lost", got, want)
		}
		want++
		if want%4096 == 0 {
			time.Sleep(time.Millisecond) // a reader slower than the peer
		}
	}
}

// TestConnSetLingerBoundsClose: with SetLinger(sec) and a peer that reads
// nothing, Close returns after about sec, as net.TCPConn's does: the time
// the close message waits in the pipe and the daemon socket's own linger
// are one linger, not two.
func TestConnSetLingerBoundsClose(t *testing.T) {
	t.Parallel()
	c, _ := dialPeer(t)
	if err := c.(interface{ SetLinger(int) error }).SetLinger(3); err != nil {
		t.Fatal(err)
	}
	c.SetWriteDeadline(time.Now().Add(time.Second))
	for chunk := make([]byte, 1<<20); ; {
		if _, err := c.Write(chunk); err != nil {
			break // the peer's buffers and the pipe's are full
		}
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Errorf("Close after the linger: %v, want nil (the socket is closed)", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close with a linger of 3 s took %v", took)
	}
}

// TestConnCloseUnblocksAStuckWrite: as net.Conn requires, Close unblocks a
// Write stuck behind a peer that does not read, at once; Close itself
// lingers for the bytes written before, up to SetLinger's time, then closes
// the socket all the same.
func TestConnCloseUnblocksAStuckWrite(t *testing.T) {
	t.Parallel()
	for _, timedOut := range []bool{false, true} {
		c, _ := dialPeer(t)
		// A linger well past the time the stuck write is given to end, so
		// that a loaded machine cannot pass the linger's end for Close's.
		c.(interface{ SetLinger(int) error }).SetLinger(3)
		wrote := make(chan error, 1)
		if timedOut {
			c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		}
		go func() {
			_, err := c.Write(make([]byte, 64<<20))
			wrote <- err
		}()
		if timedOut {
			if err := <-wrote; !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("write past its deadline: %v", err)
			}
		} else {
			time.Sleep(300 * time.Millisecond) // the peer's buffers fill; the write blocks
		}
		start := time.Now()
		closed := make(chan error, 1)
		go func() { closed <- c.Close() }()
		if !timedOut {
			select {
			case err := <-wrote:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("the stuck write: %v, want net.ErrClosed", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Close did not unblock the stuck write")
			}
		}
		select {
		case <-closed:
		case <-time.After(8 * time.Second):
			t.Fatalf("timed out %v: Close still blocked after 8 s with a linger of 3 s", timedOut)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("timed out %v: Close took %v", timedOut, d)
		}
	}
}

// TestConnCloseKeepsWrittenBytes: bytes a Write reported written reach the
// peer though Close comes while the next Write is still sending.
func TestConnCloseKeepsWrittenBytes(t *testing.T) {
	t.Parallel()
	for range 5 {
		c, peer := dialPeer(t)
		received := make(chan int64, 1)
		go func() {
			n, _ := io.Copy(io.Discard, peer)
			received <- n
		}()
		var reported atomic.Int64
		writing := make(chan struct{})
		go func() {
			defer close(writing)
			chunk := make([]byte, 256<<10)
			for {
				n, err := c.Write(chunk)
				reported.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
		time.Sleep(100 * time.Millisecond)
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		<-writing
		if got, want := <-received, reported.Load(); got < want {
			t.Fatalf("the peer received %d bytes of the %d Write reported written", got, want)
		}
	}
}

// TestConnReadChecksBeforeData: a Read fails on a passed deadline or a
// closed Conn even when data is waiting, as net's reads do; a Write after
// the peer reset the connection answers the socket's error, not EOF.
func TestConnReadChecksBeforeData(t *testing.T) {
	t.Parallel()
	c, peer := dialPeer(t)
	peer.Write([]byte("ab"))
	buf := make([]byte, 1)
	if n, err := c.Read(buf); n != 1 || err != nil {
		t.Fatalf("first read: %d %v", n, err)
	}
	c.SetReadDeadline(time.Now().Add(-time.Second))
	if n, err := c.Read(buf); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with a passed deadline and data waiting: %d %v", n, err)
	}
	c.SetReadDeadline(time.Time{})

	// The peer resets: SO_LINGER 0 and close.
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close()
	var err error
	deadline := time.Now().Add(callTimeout)
	for err == nil && time.Now().Before(deadline) {
		_, err = c.Write([]byte("x"))
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write after the peer's reset: %v, want econnreset or epipe", err)
	}

	c.Close()
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close with data waiting: %v", err)
	}
}

// listenPacket opens a PacketConn of a new session; both end with the test.
func listenPacket(t *testing.T, network, address string) *client.PacketConn {
	t.Helper()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	p, err := s.ListenPacket(ctx, network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestPacketConnDeadlineMovesAWaitingRead: a deadline set while ReadFrom
// waits takes effect at once (net.PacketConn's contract), and one moved
// later lets the read go on to the next datagram.
func TestPacketConnDeadlineMovesAWaitingRead(t *testing.T) {
	t.Parallel()
	p := listenPacket(t, "udp4", "127.0.0.1:0")
	read := func() chan error {
		done := make(chan error, 1)
		go func() {
			_, _, err := p.ReadFrom(make([]byte, 16))
			done <- err
		}()
		return done
	}
	waiting := read()
	time.Sleep(100 * time.Millisecond)
	p.SetReadDeadline(time.Now())
	select {
	case err := <-waiting:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("waiting read after SetReadDeadline(now): %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("SetReadDeadline(now) did not end the waiting read")
	}

	p.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	waiting = read()
	p.SetReadDeadline(time.Now().Add(callTimeout)) // moved later while it waits
	time.Sleep(300 * time.Millisecond)
	peer, err := net.Dial("udp4", p.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	peer.Write([]byte("late"))
	if err := <-waiting; err != nil {
		t.Fatalf("read under a deadline moved later: %v", err)
	}
}

// TestPacketConnDeadlineLosesNoDatagram: the wake-up of a waiting ReadFrom
// by SetReadDeadline(now), racing a datagram's arrival, loses no datagram:
// the daemon may have read it for the call cut short, and the next ReadFrom
// returns it (a cancelled call lost it: 114 of 200 on a local socket).
func TestPacketConnDeadlineLosesNoDatagram(t *testing.T) {
	t.Parallel()
	p := listenPacket(t, "unixgram", localPath(t))
	sender, err := net.ListenPacket("unixgram", localPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	woken := 0
	for i := range 50 {
		p.SetReadDeadline(time.Time{})
		first := goCall(func() error { _, _, err := p.ReadFrom(make([]byte, 16)); return err })
		time.Sleep(2 * time.Millisecond)
		if _, err := sender.WriteTo([]byte{byte(i)}, p.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		p.SetReadDeadline(time.Now())
		if err := await(t, "the woken read", first); err == nil {
			continue
		} else if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("woken read: %v", err)
		}
		woken++
		p.SetReadDeadline(time.Now().Add(callTimeout))
		b := make([]byte, 16)
		n, _, err := p.ReadFrom(b)
		if err != nil || n != 1 || b[0] != byte(i) {
			t.Fatalf("round %d: the read after the wake-up = %d %v (% x), want datagram %d", i, n, err, b[:n], i)
		}
	}
	t.Logf("%d of 50 reads woken before their datagram", woken)
}

// TestPacketConnDeadlineMovesAWaitingWrite: a write deadline set while
// WriteTo waits (the receiver's queue full) takes effect at once, and one
// moved later lets it wait on, as net's.
func TestPacketConnDeadlineMovesAWaitingWrite(t *testing.T) {
	t.Parallel()
	p := listenPacket(t, "unixgram", localPath(t))
	full, err := net.ListenPacket("unixgram", localPath(t)) // never read
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	for {
		p.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := p.WriteTo(make([]byte, 1000), full.LocalAddr()); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("filling the receiver: %v", err)
			}
			break
		}
	}
	p.SetWriteDeadline(time.Time{})
	blocked := goCall(func() error { _, err := p.WriteTo(make([]byte, 1000), full.LocalAddr()); return err })
	time.Sleep(100 * time.Millisecond)
	p.SetWriteDeadline(time.Now())
	if err := await(t, "the write woken by SetWriteDeadline(now)", blocked); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("woken write: %v, want a timeout", err)
	}

	start := time.Now()
	p.SetWriteDeadline(start.Add(200 * time.Millisecond))
	blocked = goCall(func() error { _, err := p.WriteTo(make([]byte, 1000), full.LocalAddr()); return err })
	time.Sleep(100 * time.Millisecond)
	p.SetWriteDeadline(start.Add(time.Second)) // moved later while it waits
	err = await(t, "the write under a deadline moved later", blocked)
	if took := time.Since(start); !errors.Is(err, os.ErrDeadlineExceeded) || took < 900*time.Millisecond {
		t.Fatalf("write under a deadline moved from 200 ms to 1 s: %v after %v", err, took)
	}
}

// TestPacketConnWriteDeadlineMovesSendOnce: write deadlines moved earlier
// again and again while WriteTo waits, none passing, send each datagram
// once (a cancelled call sent again sent 869 of 2,000 twice).
func TestPacketConnWriteDeadlineMovesSendOnce(t *testing.T) {
	t.Parallel()
	p := listenPacket(t, "udp4", "127.0.0.1:0")
	rx, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	stop := make(chan struct{})
	mover := goCall(func() struct{} {
		for {
			select {
			case <-stop:
				return struct{}{}
			case <-time.After(time.Millisecond):
			}
			now := time.Now()
			p.SetWriteDeadline(now.Add(2 * time.Hour))
			p.SetWriteDeadline(now.Add(time.Hour))
		}
	})
	received := goCall(func() map[string]int { // read as they come: a full receive queue drops
		seen := make(map[string]int)
		buf := make([]byte, 16)
		for {
			rx.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			k, _, err := rx.ReadFrom(buf)
			if err != nil {
				return seen
			}
			seen[string(buf[:k])]++
		}
	})
	const n = 300
	for i := range n {
		if _, err := p.WriteTo([]byte(strconv.Itoa(i)), rx.LocalAddr()); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	close(stop)
	<-mover
	seen := await(t, "the receiver", received)
	for i := range n {
		if c := seen[strconv.Itoa(i)]; c != 1 {
			t.Errorf("datagram %d received %d times, want once", i, c)
		}
	}
}

// TestPacketConnConcurrentReadsOwnBuffers: concurrent ReadFroms each read
// into their own buffer's size (one once took another's smaller call).
func TestPacketConnConcurrentReadsOwnBuffers(t *testing.T) {
	t.Parallel()
	p := listenPacket(t, "udp4", "127.0.0.1:0")
	peer, err := net.Dial("udp4", p.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	read := func(size int) <-chan int {
		return goCall(func() int {
			n, _, err := p.ReadFrom(make([]byte, size))
			if err != nil {
				t.Errorf("ReadFrom into %d bytes: %v", size, err)
			}
			return n
		})
	}
	for range 5 {
		small := read(1)
		time.Sleep(20 * time.Millisecond)
		big := read(100)
		time.Sleep(20 * time.Millisecond)
		peer.Write([]byte("hello"))
		peer.Write([]byte("world"))
		if s, b := await(t, "the small read", small), await(t, "the big read", big); s != 1 || b != 5 {
			t.Fatalf("reads into 1 and 100 bytes of two 5-byte datagrams: %d and %d bytes", s, b)
		}
	}
}

// TestAdaptersTakeFamiliesAsNetDoes: as package net's, a tcp6 Listener and
// a udp6 PacketConn on [::] take IPv6 only, tcp and udp on [::] both
// families; an address with an empty host (":port") is the unspecified
// address, both families' for a tcp listen, and a Dial to ":port" reaches
// the daemon's host.
func TestAdaptersTakeFamiliesAsNetDoes(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	for _, tc := range []struct {
		network string
		takes4  bool
	}{{"tcp6", false}, {"tcp", true}} {
		l, err := s.ListenTCP(ctx, tc.network, "[::]:0", 4)
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), callTimeout)
		if c != nil {
			c.Close()
		}
		if took := err == nil; took != tc.takes4 {
			t.Errorf("%s Listener on [::]: an IPv4 dial: %v, want it taken: %v", tc.network, err, tc.takes4)
		}
		l.Close()
	}
	for _, tc := range []struct {
		network string
		takes4  bool
	}{{"udp6", false}, {"udp", true}} {
		p := listenPacket(t, tc.network, "[::]:0")
		port := p.LocalAddr().(*net.UDPAddr).Port
		peer, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		peer.Write([]byte("v4"))
		peer.Close()
		p.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, _, err = p.ReadFrom(make([]byte, 8))
		if took := err == nil; took != tc.takes4 {
			t.Errorf("%s PacketConn on [::]: an IPv4 datagram: %v, want it taken: %v", tc.network, err, tc.takes4)
		}
	}

	l, err := s.ListenTCP(ctx, "tcp", ":0", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if ip := l.Addr().(*net.TCPAddr).IP; !ip.IsUnspecified() {
		t.Errorf("a Listener on :0 is at %v, want the unspecified address", l.Addr())
	}
	port := l.Addr().(*net.TCPAddr).Port
	six, err := net.DialTimeout("tcp6", fmt.Sprintf("[::1]:%d", port), callTimeout)
	if err != nil {
		t.Fatalf("an IPv6 dial of a Listener on :0: %v", err)
	}
	six.Close()
	if c, err := l.Accept(); err != nil {
		t.Fatal(err)
	} else {
		c.Close()
	}
	accepted := goCall(func() error {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		return err
	})
	c, err := s.Dial(ctx, "tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatalf("Dial of :%d: %v", port, err)
	}
	c.Close()
	if err := await(t, "the accept", accepted); err != nil {
		t.Fatal(err)
	}
}

// TestPacketConnDualStackReply: a PacketConn on [::] answers an IPv4 peer
// at the address ReadFrom reported.
func TestPacketConnDualStackReply(t *testing.T) {
	t.Parallel()
	p := listenPacket(t, "udp", "[::]:0")
	port := p.LocalAddr().(*net.UDPAddr).Port
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.WriteTo([]byte("ping"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	p.SetReadDeadline(time.Now().Add(callTimeout))
	_, from, err := p.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteTo([]byte("pong"), from); err != nil {
		t.Fatalf("reply to %v: %v", from, err)
	}
	peer.SetReadDeadline(time.Now().Add(callTimeout))
	n, _, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "pong" {
		t.Fatalf("the IPv4 peer read %q, %v", buf[:n], err)
	}
}

// TestNewConnAnswersARefusal: a pipe the daemon refuses (a connected
// datagram socket has a peer but is no stream) fails NewConn itself, not
// the first Read or Write.
func TestNewConnAnswersARefusal(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	p, err := s.ListenPacket(ctx, "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	peer, _ := client.ParseAddr("127.0.0.1:9")
	if _, err := s.Connect(ctx, p.SocketID(), peer, client.Infinity); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NewConn(ctx, "tcp4", p.SocketID()); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("NewConn on a connected datagram socket: %v, want FAILED_PRECONDITION", err)
	}
}

// TestPacketConnFarDeadline: a read deadline further out than one call may
// wait (2^32-1 ms) is a long wait, not an error.
func TestPacketConnFarDeadline(t *testing.T) {
	t.Parallel()
	p := listenPacket(t, "udp4", "127.0.0.1:0")
	p.SetReadDeadline(time.Now().Add(60 * 24 * time.Hour))
	sendDatagram(t, p.LocalAddr(), "far")
	buf := make([]byte, 8)
	if n, _, err := p.ReadFrom(buf); err != nil || string(buf[:n]) != "far" {
		t.Fatalf("read under a deadline 60 days out: %q %v", buf[:n], err)
	}
}

// TestConnCloseWaitsForWrittenBytes: by default Close returns once the
// bytes earlier Writes handed over have reached the daemon and the socket
// is closed, so that a program that closes its Client (or exits) right
// after loses nothing, and the peer sees the end.
func TestConnCloseWaitsForWrittenBytes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cl, err := client.Dial(ctx, daemon.Addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cl.CreateSession(ctx, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l := tcpListener(t)
	c, err := s.Dial(ctx, "tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	received := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, peer)
		received <- n
	}()
	const total = 8 << 20
	if _, err := c.Write(make([]byte, total)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	cl.Close() // as a deferred Close in the usual order does; the session lives on
	select {
	case n := <-received:
		if n != total {
			t.Fatalf("the peer received %d of %d bytes", n, total)
		}
	case <-time.After(callTimeout):
		t.Fatal("no end of data after Close returned")
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), callTimeout)
	defer cancel2()
	if cl2, err := client.Dial(ctx2, daemon.Addr); err == nil {
		cl2.ResumeSession(s.ID()).Close(ctx2)
		cl2.Close()
	}
}

// TestConnWriteReportsWhatGoesOut: a Write its deadline or CloseWrite cuts
// short reports the bytes whose sending began, which the peer receives
// (as bytes in a kernel's send buffer), and no others: a caller that
// writes the rest again duplicates nothing. CloseWrite does not wait for a
// peer that does not read; the end of data follows the bytes.
func TestConnWriteReportsWhatGoesOut(t *testing.T) {
	t.Parallel()
	for _, cut := range []string{"deadline", "closewrite"} {
		t.Run(cut, func(t *testing.T) {
			c, peer := dialPeer(t)
			cw := c.(interface{ CloseWrite() error })
			chunk := make([]byte, 64<<10)
			var reported int64
			if cut == "deadline" {
				c.SetWriteDeadline(time.Now().Add(time.Second))
			}
			wrote := make(chan error, 1)
			go func() {
				for {
					n, err := c.Write(chunk)
					reported += int64(n)
					if err != nil {
						wrote <- err
						return
					}
				}
			}()
			if cut == "closewrite" {
				time.Sleep(time.Second) // the peer's buffers fill; a write waits
				done := make(chan error, 1)
				go func() { done <- cw.CloseWrite() }()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("CloseWrite: %v", err)
					}
				case <-time.After(2 * time.Second):
					t.Fatal("CloseWrite waits for a peer that does not read")
				}
			}
			select {
			case err := <-wrote:
				want := os.ErrDeadlineExceeded
				if cut == "closewrite" {
					want = syscall.EPIPE
				}
				if !errors.Is(err, want) {
					t.Fatalf("the cut write: %v, want %v", err, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the write was not cut short")
			}
			if cut == "deadline" {
				c.SetWriteDeadline(time.Time{})
				if err := cw.CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			peer.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.Copy(io.Discard, peer) // to the end of data
			if err != nil {
				t.Fatal(err)
			}
			if got != reported {
				t.Fatalf("the peer received %d bytes; the writes reported %d", got, reported)
			}
		})
	}
}

// TestConnClosePromptWithAStuckPeer: with the default linger, Close does
// not wait for a peer that does not read (http.Server.Close closes its
// connections one after another): it returns at once and leaves the bytes
// to drain, as a TCP close does; the Conn is closed all the same.
func TestConnClosePromptWithAStuckPeer(t *testing.T) {
	t.Parallel()
	c, peer := dialPeer(t)
	c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		if _, err := c.Write(make([]byte, 1<<20)); err != nil {
			break
		}
	}
	start := time.Now()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close with a peer that does not read took %v", d)
	}
	if err := c.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetDeadline on a closed Conn: %v, want net.ErrClosed", err)
	}
	peer.Close() // ends the drain
}

// TestPacketConnLargeBuffer: ReadFrom takes any buffer, as net's does; one
// larger than a datagram can be reads the datagram.
func TestPacketConnLargeBuffer(t *testing.T) {
	t.Parallel()
	p := listenPacket(t, "udp4", "127.0.0.1:0")
	sendDatagram(t, p.LocalAddr(), "big")
	p.SetReadDeadline(time.Now().Add(callTimeout))
	buf := make([]byte, 16<<20)
	if n, _, err := p.ReadFrom(buf); err != nil || string(buf[:n]) != "big" {
		t.Fatalf("ReadFrom into 16 MiB: %q %v", buf[:n], err)
	}
}

// TestConnDrainAndSessions: a Conn left draining (its peer does not read)
// holds up the Close of its own session only, and only while ctx allows;
// the session is closed all the same. Calls on the closed Conn answer
// net.ErrClosed, whatever its deadline or half-close.
func TestConnDrainAndSessions(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cl, err := client.Dial(ctx, daemon.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s, err := cl.CreateSession(ctx, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, err := cl.CreateSession(ctx, "", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	l := tcpListener(t)
	c, err := s.Dial(ctx, "tcp4", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		if _, err := c.Write(make([]byte, 1<<20)); err != nil {
			break
		}
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil { // leaves the bytes draining
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write on a closed Conn past its deadline: %v, want net.ErrClosed", err)
	}
	if err := c.CloseWrite(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("CloseWrite on a closed Conn: %v, want net.ErrClosed", err)
	}

	start := time.Now()
	if err := other.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("closing another session waited %v for this one's drain", d)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelShort()
	s.Close(short)
	if _, err := s.Open(ctx, client.Inet, client.Dgram, client.DefaultProtocol, client.OpenOpts{}); client.ErrorReason(err) != client.ReasonSessionNotFound {
		t.Errorf("a call in a session whose Close gave up waiting for a drain: %v, want the session gone", err)
	}
}

// sendDatagram sends data to addr from a plain UDP socket.
func sendDatagram(t *testing.T, addr net.Addr, data string) {
	t.Helper()
	peer, err := net.Dial("udp4", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
}

// TestAdaptersAfterClientClose: once its Client is closed, a Conn's and a
// PacketConn's calls fail with net.ErrClosed, and their Close answers nil,
// as a net.Conn's after the connection is gone: the sockets are left to
// their session's end.
func TestAdaptersAfterClientClose(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	c, _ := dialPeerFor(t, s)
	p, err := s.ListenPacket(ctx, "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Client().Close()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Conn.Read after Client.Close: %v, want net.ErrClosed", err)
	}
	if _, _, err := p.ReadFrom(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("PacketConn.ReadFrom after Client.Close: %v, want net.ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Conn.Close after Client.Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("PacketConn.Close after Client.Close: %v", err)
	}
	// The session, resumed by another client, ends with its sockets.
	other, err := client.Dial(ctx, daemon.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.ResumeSession(s.ID()).Close(ctx); err != nil {
		t.Fatal(err)
	}
}
