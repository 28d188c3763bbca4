package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// TestRelayJoinsTwoConnections: a relay between the daemon ends of two
// connections carries each client's bytes to the other, passes each
// shutdown on, reports the byte counts when both directions end, and counts
// them in Info.
func TestRelayJoinsTwoConnections(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{tcp4, tcpL} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			left, a := s.pair(t, v)
			right, b := s.pair(t, v)
			relayed := goCall(func() result[*sockdv1.RelayResponse] {
				ctx, cancel := s.ctx(callTimeout * 3)
				defer cancel()
				resp, err := s.api.Relay(ctx, &sockdv1.RelayRequest{SocketA: a, SocketB: b})
				return result[*sockdv1.RelayResponse]{resp, err}
			})
			up := payload("left->right", 3<<20)
			down := payload("right->left", 1<<20+3)
			drainTo := func(id string) []byte {
				var got []byte
				for {
					resp := s.recv(t, id, 0, millis(eventWait.Milliseconds()))
					got = append(got, resp.GetData()...)
					if resp.GetError() != nil {
						requireSockErr(t, "read to the end", resp.GetError(), sockdv1.SocketError_KIND_CLOSED, "closed")
						return got
					}
				}
			}
			// Both ends read while both write: the path holds less than
			// either payload.
			gotDown := goCall(func() []byte { return drainTo(left) })
			gotUp := goCall(func() []byte { return drainTo(right) })
			sentUp := goCall(func() struct{} { s.send(t, left, up); return struct{}{} })
			s.send(t, right, down)
			s.shutdown(t, right, sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE)
			await(t, "send up", sentUp)
			s.shutdown(t, left, sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE)
			if got := await(t, "right reads", gotUp); !bytes.Equal(got, up) {
				t.Fatalf("right got %d bytes, want %d in order", len(got), len(up))
			}
			if got := await(t, "left reads", gotDown); !bytes.Equal(got, down) {
				t.Fatalf("left got %d bytes, want %d in order", len(got), len(down))
			}
			r := await(t, "relay ends", relayed)
			if r.err != nil {
				t.Fatalf("relay: %v", r.err)
			}
			requireOK(t, "relay", r.resp.GetError())
			if r.resp.GetBytesAToB() != uint64(len(up)) || r.resp.GetBytesBToA() != uint64(len(down)) {
				t.Fatalf("relay counts %v, want %d and %d", r.resp, len(up), len(down))
			}
			if c := s.info(t, a).GetCounters(); c.GetReadByte() != uint64(len(up)) || c.GetWriteByte() != uint64(len(down)) {
				t.Fatalf("Info counters of a: read %d, write %d", c.GetReadByte(), c.GetWriteByte())
			}
			// Info reports what the relay moved out of each socket.
			if ia, ib := s.info(t, a).GetRelayByte(), s.info(t, b).GetRelayByte(); ia != uint64(len(up)) || ib != uint64(len(down)) {
				t.Fatalf("Info relay_byte: a %d, b %d; want %d and %d", ia, ib, len(up), len(down))
			}
		})
	}
}

// TestRelayEndsOnClose: closing one side ends the relay with closed.
func TestRelayEndsOnClose(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	_, a := s.pair(t, tcp4)
	_, b := s.pair(t, tcp4)
	relayed := goCall(func() result[*sockdv1.RelayResponse] {
		ctx, cancel := s.call()
		defer cancel()
		resp, err := s.api.Relay(ctx, &sockdv1.RelayRequest{SocketA: a, SocketB: b})
		return result[*sockdv1.RelayResponse]{resp, err}
	})
	s.waitReaders(t, b, 1)
	s.close(t, a)
	r := await(t, "relay ends", relayed)
	if r.err != nil {
		t.Fatalf("relay: %v", r.err)
	}
	requireSockErr(t, "relay after close", r.resp.GetError(), sockdv1.SocketError_KIND_CLOSED, "closed")
}

// TestRelayBadInput: only two distinct connected stream sockets relay.
func TestRelayBadInput(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	_, a := s.pair(t, tcp4)
	udp := s.open(t, udp4)
	unconnected := s.open(t, tcp4)
	relay := func(x, y string) error {
		ctx, cancel := s.call()
		defer cancel()
		_, err := s.api.Relay(ctx, &sockdv1.RelayRequest{SocketA: x, SocketB: y})
		return err
	}
	requireStatus(t, "datagram socket", relay(a, udp), codes.FailedPrecondition, "NOT_CONNECTED_STREAM")
	requireStatus(t, "unconnected socket", relay(unconnected, a), codes.FailedPrecondition, "NOT_CONNECTED_STREAM")
	requireStatus(t, "same socket twice", relay(a, a), codes.InvalidArgument, "INVALID_ARGUMENT")
	requireStatus(t, "missing socket", relay(a, ""), codes.InvalidArgument, "INVALID_ARGUMENT")
	requireStatus(t, "unknown socket", relay(a, "nope"), codes.NotFound, "SOCKET_NOT_FOUND")
}

// TestRelayAndPipeEndWithTheirSession: a Relay or a Pipe that a session
// started on another session's sockets ends when its session does, in-band
// (cancelled, with what it moved), rather than outlive it; the sockets stay
// open for their owner.
func TestRelayAndPipeEndWithTheirSession(t *testing.T) {
	t.Parallel()
	owner, runner := newSession(t), newSession(t)
	x1, a := owner.pair(t, tcp4)
	_, b := owner.pair(t, tcp4)
	c, peer := owner.pair(t, tcp4)
	relayed := goCall(func() result[*sockdv1.RelayResponse] {
		ctx, cancel := runner.call()
		defer cancel()
		resp, err := runner.api.Relay(ctx, &sockdv1.RelayRequest{SocketA: a, SocketB: b})
		return result[*sockdv1.RelayResponse]{resp, err}
	})
	owner.waitReaders(t, b, 1)
	p := runner.openPipe(t, c)
	if msg, err := p.Recv(); err != nil || !msg.GetReady() {
		t.Fatalf("pipe ready: %v %v", msg, err)
	}
	owner.send(t, x1, []byte("before")) // relayed a to b while the runner lives
	ctx, cancel := runner.call()
	defer cancel()
	if _, err := runner.api.CloseSession(ctx, &sockdv1.CloseSessionRequest{}); err != nil {
		t.Fatal(err)
	}
	r := await(t, "relay ends with its session", relayed)
	if r.err != nil {
		t.Fatalf("relay: %v", r.err)
	}
	requireSockErr(t, "relay of a dead session", r.resp.GetError(), sockdv1.SocketError_KIND_CANCELLED, "cancelled")
	piped := await(t, "pipe ends with its session", goCall(func() pipeResult { return pipeReadAll(p) }))
	if piped.end != nil {
		t.Fatalf("pipe stream failed: %v", piped.end)
	}
	requireSockErr(t, "pipe of a dead session", piped.err, sockdv1.SocketError_KIND_CANCELLED, "cancelled")
	// The owner's sockets are open and nobody reads them any more.
	owner.send(t, peer, []byte("still mine"))
	owner.recvExactly(t, c, []byte("still mine"))
	if n := owner.info(t, a).GetNumReaders(); n != 0 {
		t.Fatalf("%d readers left on a relayed socket", n)
	}
}

// TestStartRelay: the client's StartRelay returns once the daemon has
// admitted the relay, before it ends (the daemon's "sockd-relay" header),
// and Wait answers as Relay does; a refusal comes from StartRelay itself.
func TestStartRelay(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer cancel()
	a, left := connectedStream(ctx, t, s)
	b, right := connectedStream(ctx, t, s)
	running, err := s.StartRelay(ctx, a, b)
	if err != nil {
		t.Fatalf("StartRelay: %v", err)
	}
	// Nothing has moved and nothing has ended: StartRelay returned anyway.
	left.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(right, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("through the relay: %q %v", buf, err)
	}
	left.Close()
	right.Close()
	resp, err := running.Wait()
	var se *client.SocketError
	if err != nil && !errors.As(err, &se) {
		t.Fatalf("Wait: %v", err)
	}
	if resp.GetBytesAToB() != 4 {
		t.Errorf("Wait: %v, want 4 bytes a to b", resp)
	}
	if again, errAgain := running.Wait(); again != resp || fmt.Sprint(errAgain) != fmt.Sprint(err) {
		t.Errorf("Wait again: %v %v, want the same answer", again, errAgain)
	}

	unconnected, err := s.Open(ctx, client.Inet, client.Stream, client.TCP, client.OpenOpts{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := connectedStream(ctx, t, s)
	if r, err := s.StartRelay(ctx, unconnected.GetSocketId(), c); status.Code(err) != codes.FailedPrecondition || r != nil {
		t.Errorf("StartRelay of an unconnected socket: %v %v, want FAILED_PRECONDITION", r, err)
	}
}

// TestStartRelayRefusedAtTheDaemonsCap: a relay the daemon's own socket cap
// has no room for (its pipes count) is StartRelay's refusal, never a relay
// said to run and refused after.
func TestStartRelayRefusedAtTheDaemonsCap(t *testing.T) {
	t.Parallel()
	d := dedicatedDaemon(t, filepath.Join(t.TempDir(), "d"), "--max-sockets", "12")
	s := clientSessionOn(t, d.Addr, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer cancel()
	var ids []string
	for range 2 {
		id, _ := connectedStream(ctx, t, s)
		ids = append(ids, id)
	}
	var fillers []string
	for range 3 { // 5 sockets: the relay's 8 pipe descriptors do not fit in 12
		open, err := s.Open(ctx, client.Inet, client.Stream, client.TCP, client.OpenOpts{})
		if err != nil {
			t.Fatal(err)
		}
		fillers = append(fillers, open.GetSocketId())
	}
	if r, err := s.StartRelay(ctx, ids[0], ids[1]); status.Code(err) != codes.ResourceExhausted || r != nil {
		t.Fatalf("StartRelay past the daemon's cap: %v %v, want RESOURCE_EXHAUSTED", r, err)
	}
	for _, id := range fillers {
		s.CloseSocket(ctx, id)
	}
	relayCtx, stop := context.WithCancel(ctx)
	defer stop()
	if _, err := s.StartRelay(relayCtx, ids[0], ids[1]); err != nil {
		t.Fatalf("StartRelay with room for it: %v", err)
	}
}

// TestRelayCancelledCountsWhatItDropped: a relay whose call is cancelled
// gets no response, so what it read and could not write (its other side's
// peer took nothing for the flush's 2 s) is counted in Info instead: every
// byte read from a is relayed or dropped, and none unaccounted. (A
// reviewer's client could only guess the hole in its stream.)
func TestRelayCancelledCountsWhatItDropped(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*callTimeout)
	defer cancel()
	a, writer := connectedStream(ctx, t, s)
	b, stalled := connectedStream(ctx, t, s) // its peer reads nothing
	defer stalled.Close()
	relayCtx, stop := context.WithCancel(ctx)
	running, err := s.StartRelay(relayCtx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	go writer.Write(make([]byte, 16<<20)) // more than the sockets hold
	time.Sleep(300 * time.Millisecond)
	stop()
	if _, err := running.Wait(); status.Code(err) != codes.Canceled {
		t.Fatalf("the cancelled relay: %v", err)
	}
	var in *sockdv1.SocketInfo
	for deadline := time.Now().Add(eventWait); ; time.Sleep(50 * time.Millisecond) {
		if in, err = s.Info(ctx, a); err != nil {
			t.Fatal(err)
		}
		// Once the relay's flush has given up, and a is another
		// relay's to take (ClaimStream), its counts are final.
		if in.GetRelayDroppedByte() > 0 || time.Now().After(deadline) {
			break
		}
	}
	read := in.GetCounters().GetReadByte()
	if in.GetRelayDroppedByte() == 0 || in.GetRelayByte()+in.GetRelayDroppedByte() != read {
		t.Fatalf("read %d bytes from a, relayed %d, counted dropped %d: want every byte read relayed or dropped, some dropped",
			read, in.GetRelayByte(), in.GetRelayDroppedByte())
	}
	writer.Close()
}

// TestRelayEndsWhenAnEndedSideIsReset: once a's peer has closed (its end
// passed on to b), a is still written to, and its reset, when the bytes
// b's peer sends reach a peer that is gone, ends the relay with that
// error, rather than go unseen until b's peer closes too and end as if
// nothing was lost (a reviewer's).
func TestRelayEndsWhenAnEndedSideIsReset(t *testing.T) {
	t.Parallel()
	s := newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*callTimeout)
	defer cancel()
	a, pa := connectedStream(ctx, t, s)
	b, pb := connectedStream(ctx, t, s)
	defer pb.Close()
	relayed := goCall(func() result[*sockdv1.RelayResponse] {
		resp, err := s.Relay(ctx, a, b)
		return result[*sockdv1.RelayResponse]{resp, err}
	})
	pa.Write([]byte("req"))
	if _, err := io.ReadFull(pb, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	pa.Close() // gone: a's end goes on to b, and a reset answers what a gets next
	if n, err := pb.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("b's peer read %d, %v after a's peer closed, want the end of data", n, err)
	}
	pb.Write([]byte("late reply"))
	select {
	case r := <-relayed:
		var se *client.SocketError
		if r.err != nil && !errors.As(r.err, &se) {
			t.Fatalf("relay: %v", r.err)
		}
		if got := r.resp.GetError().GetReason(); got != "econnreset" && got != "epipe" {
			t.Fatalf("relay ended %v, %v; want econnreset (or epipe)", r.resp, r.err)
		}
	case <-time.After(eventWait):
		t.Fatal("the relay runs on after a was reset")
	}
}
