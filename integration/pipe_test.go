package integration

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// openPipe starts a Pipe bound to id; the stream ends with the test.
func (s *rawSession) openPipe(t testing.TB, id string) sockdv1.SocketService_PipeClient {
	t.Helper()
	ctx, cancel := s.ctx(callTimeout * 3)
	t.Cleanup(cancel)
	p, err := s.api.Pipe(ctx)
	if err != nil {
		t.Fatalf("pipe: %v", err)
	}
	if err := p.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: id}}); err != nil {
		t.Fatalf("pipe: naming the socket: %v", err)
	}
	return p
}

// pipeReadAll collects the pipe's data until eof, an in-band error or the
// stream's end.
type pipeResult struct {
	data []byte
	eof  bool
	err  *sockdv1.SocketError
	end  error
}

func pipeReadAll(p sockdv1.SocketService_PipeClient) pipeResult {
	var r pipeResult
	for {
		msg, err := p.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.end = err
			}
			return r
		}
		r.data = append(r.data, msg.GetData()...)
		if msg.GetEof() {
			r.eof = true
		}
		if msg.GetError() != nil {
			r.err = msg.GetError()
		}
	}
}

// TestPipeBothWays: what the client sends arrives at the peer in order,
// close_write is the peer's end of data, what the peer sends streams back,
// the peer's shutdown is eof, and the socket stays usable afterwards.
func TestPipeBothWays(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			c, srv := s.pair(t, v)
			p := s.openPipe(t, c)
			got := goCall(func() pipeResult { return pipeReadAll(p) })

			up := payload("uplink", 3<<20+17)
			sent := goCall(func() error {
				for rest := up; len(rest) > 0; {
					n := min(len(rest), 100_000)
					if err := p.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: rest[:n]}}); err != nil {
						return err
					}
					rest = rest[n:]
				}
				return p.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_CloseWrite{CloseWrite: true}})
			})
			var received []byte
			for {
				resp := s.recv(t, srv, 0, millis(eventWait.Milliseconds()))
				received = append(received, resp.GetData()...)
				if resp.GetError() != nil {
					requireSockErr(t, "peer reads past close_write", resp.GetError(), sockdv1.SocketError_KIND_CLOSED, "closed")
					break
				}
			}
			if err := await(t, "pipe send", sent); err != nil {
				t.Fatalf("pipe send: %v", err)
			}
			if !bytes.Equal(received, up) {
				t.Fatalf("peer got %d bytes, want %d in order", len(received), len(up))
			}

			down := payload("downlink", 2<<20+5)
			s.send(t, srv, down)
			s.shutdown(t, srv, sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE)
			if err := p.CloseSend(); err != nil {
				t.Fatal(err)
			}
			r := await(t, "pipe output", got)
			if r.end != nil || r.err != nil || !r.eof {
				t.Fatalf("pipe ended with %v / %v, eof %v; want a clean eof", r.end, r.err, r.eof)
			}
			if !bytes.Equal(r.data, down) {
				t.Fatalf("pipe got %d bytes, want %d in order", len(r.data), len(down))
			}
			// The socket outlives its pipe.
			info := s.info(t, c)
			if info.GetFd() < 0 {
				t.Fatal("socket closed by the pipe")
			}
			if n := info.GetNumReaders() + info.GetNumWriters(); n != 0 {
				t.Fatalf("pipe left %d requestors", n)
			}
		})
	}
}

// TestPipeEndsWithSocketError: closing the socket under a pipe ends the
// stream with the socket error, after what the pipe had already read.
func TestPipeEndsWithSocketError(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	c, srv := s.pair(t, tcp4)
	p := s.openPipe(t, c)
	s.send(t, srv, []byte("before"))
	// Close only once the pipe has read the data: bytes still in the socket
	// when it closes are discarded with it, as in Erlang.
	var before []byte
	for len(before) < len("before") {
		msg, err := p.Recv()
		if err != nil || msg.GetError() != nil {
			t.Fatalf("pipe ended before the data: %v %v", err, msg.GetError())
		}
		before = append(before, msg.GetData()...)
	}
	if string(before) != "before" {
		t.Fatalf("pipe got %q, want before", before)
	}
	got := goCall(func() pipeResult { return pipeReadAll(p) })
	s.close(t, c)
	r := await(t, "pipe output", got)
	if r.end != nil {
		t.Fatalf("pipe stream failed: %v", r.end)
	}
	requireSockErr(t, "pipe on a closed socket", r.err, sockdv1.SocketError_KIND_CLOSED, "closed")
	if len(r.data) != 0 {
		t.Fatalf("pipe got %q after the data sent, want nothing", r.data)
	}
}

// TestPipeBadInput: a pipe on anything but a connected stream socket of the
// caller is refused with a clear status.
func TestPipeBadInput(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	udp := s.open(t, udp4)
	unconnected := s.open(t, tcp4)
	_, connected := s.pair(t, tcp4)

	refuse := func(name string, by *rawSession, first *sockdv1.PipeRequest, code codes.Code, reason string) {
		t.Helper()
		ctx, cancel := by.ctx(callTimeout)
		defer cancel()
		p, err := by.api.Pipe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Send(first); err != nil {
			t.Fatal(err)
		}
		_, err = p.Recv()
		requireStatus(t, name, err, code, reason)
	}
	named := func(id string) *sockdv1.PipeRequest {
		return &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: id}}
	}
	refuse("datagram socket", s, named(udp), codes.FailedPrecondition, "NOT_CONNECTED_STREAM")
	refuse("unconnected stream", s, named(unconnected), codes.FailedPrecondition, "NOT_CONNECTED_STREAM")
	refuse("no socket named", s, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: []byte("x")}}, codes.InvalidArgument, "INVALID_ARGUMENT")
	refuse("unknown socket", s, named("nope"), codes.NotFound, "SOCKET_NOT_FOUND")

	// A second socket_id mid-stream is malformed.
	p := s.openPipe(t, connected)
	if err := p.Send(named(connected)); err != nil {
		t.Fatal(err)
	}
	r := pipeReadAll(p)
	requireStatus(t, "socket_id twice", r.end, codes.InvalidArgument, "INVALID_ARGUMENT")
}

// TestPipeDetach: detach ends the pipe with OK after everything sent was
// written and everything read was delivered, and leaves the socket open
// with what arrives later still in it.
func TestPipeDetach(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	c, srv := s.pair(t, streamVariants[0])
	p := s.openPipe(t, c)
	got := goCall(func() pipeResult { return pipeReadAll(p) })

	s.send(t, srv, []byte("before"))
	if err := p.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: []byte("up")}}); err != nil {
		t.Fatal(err)
	}
	if resp := s.recv(t, srv, 2, millis(eventWait.Milliseconds())); string(resp.GetData()) != "up" {
		t.Fatalf("peer read %q", resp.GetData())
	}
	if err := p.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Detach{Detach: true}}); err != nil {
		t.Fatal(err)
	}
	r := await(t, "pipe output", got)
	if r.end != nil || r.err != nil || r.eof {
		t.Fatalf("detached pipe: end %v, err %v, eof %v; want a clean end", r.end, r.err, r.eof)
	}
	// What the pipe did not read (if it had not got to "before" yet) is
	// still in the socket, followed by what comes later: nothing is lost.
	s.send(t, srv, []byte("after"))
	want := "beforeafter"
	rest := s.recv(t, c, int64(len(want)-len(r.data)), millis(eventWait.Milliseconds()))
	if got := string(r.data) + string(rest.GetData()); got != want {
		t.Fatalf("the pipe delivered %q and the socket then held %q (%v); want %q in all", r.data, rest.GetData(), rest.GetError(), want)
	}
}

// TestPipeUplinkFailureWithUnreadDownlink: a client that sends everything
// before it reads is not deadlocked when its socket refuses the uplink while
// the downlink waits for the client to read. The daemon drops what the client
// sends after the failure (the socket could not take it), and the client,
// once it reads, gets what the socket had received and then the error.
func TestPipeUplinkFailureWithUnreadDownlink(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	c, srv := s.pair(t, tcp4)
	p := s.openPipe(t, c)
	// More than the sockets and the stream's flow-control window hold: the
	// downlink ends up waiting in its send to the client.
	down := payload("downlink", 32<<20)
	var sentDown int
	for chunk := 4 << 20; sentDown < len(down); sentDown += chunk {
		if r := s.sendT(t, srv, down[sentDown:sentDown+chunk], millis(500)); r.GetBytesUnsent() != 0 {
			break
		}
	}
	if sentDown == len(down) {
		t.Fatal("the peer's 32 MiB all went out: the downlink never waited")
	}
	if err := p.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_CloseWrite{CloseWrite: true}}); err != nil {
		t.Fatal(err)
	}
	// Data after close_write: the socket answers epipe.
	up := payload("uplink", 1<<20)
	sent := goCall(func() error {
		for range 32 {
			if err := p.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: up}}); err != nil {
				return err
			}
		}
		return p.CloseSend()
	})
	if err := await(t, "client sends after the uplink failed", sent); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("client send: %v", err)
	}
	r := await(t, "pipe output", goCall(func() pipeResult { return pipeReadAll(p) }))
	if r.end != nil {
		t.Fatalf("pipe stream failed: %v", r.end)
	}
	requireSockErr(t, "pipe send after close_write", r.err, sockdv1.SocketError_KIND_POSIX, "epipe")
	if len(r.data) == 0 || !bytes.Equal(r.data, down[:len(r.data)]) {
		t.Fatalf("pipe got %d bytes, want a prefix of the peer's bytes in order", len(r.data))
	}
}

// TestStreamStartsAgainAfterACancel: a Pipe or Relay started at once after
// the client cancelled the last one on the socket waits for that one to
// finish, rather than being refused SOCKET_STREAMED (80 in 200 pipes, 293
// in 306 relays were).
func TestStreamStartsAgainAfterACancel(t *testing.T) {
	t.Parallel()
	s := newSession(t)
	_, sv := s.pair(t, tcp4)
	for i := range 20 {
		ctx, cancel := s.ctx(callTimeout)
		p, err := s.api.Pipe(ctx)
		if err == nil {
			err = p.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: sv}})
		}
		if err != nil {
			t.Fatal(err)
		}
		msg, err := p.Recv()
		cancel()
		if err != nil || !msg.GetReady() {
			t.Fatalf("pipe %d after the last one's cancel: %v %v, want ready", i, msg, err)
		}
	}
	other, _ := s.pair(t, tcp4)
	for i := range 5 {
		ctx, cancel := s.ctx(callTimeout)
		done := goCall(func() error {
			_, err := s.api.Relay(ctx, &sockdv1.RelayRequest{SocketA: sv, SocketB: other})
			return err
		})
		time.Sleep(20 * time.Millisecond) // it runs
		cancel()
		if err := await(t, "the cancelled relay", done); status.Code(err) != codes.Canceled {
			t.Fatalf("relay %d: %v, want it cancelled (not refused)", i, err)
		}
	}
}

// TestPipeEdges: a stream that ends before naming its socket is malformed;
// a second Pipe, or a Relay, on a socket a Pipe carries is refused (they
// would split its bytes); the client's own close ends the pipe cleanly,
// with no in-band error; close_write after the connection is gone both
// ways is no error.
func TestPipeEdges(t *testing.T) {
	t.Parallel()
	s := newSession(t)

	ctx, cancel := s.ctx(callTimeout)
	defer cancel()
	p, err := s.api.Pipe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p.CloseSend()
	_, err = p.Recv()
	requireStatus(t, "a pipe that names no socket before it ends", err, codes.InvalidArgument, "INVALID_ARGUMENT")

	_, sv := s.pair(t, tcp4)
	first := s.openPipe(t, sv)
	if msg, err := first.Recv(); err != nil || !msg.GetReady() {
		t.Fatalf("first pipe: %v %v, want ready", msg, err)
	}
	second := s.openPipe(t, sv)
	_, err = second.Recv()
	requireStatus(t, "a second pipe on the socket", err, codes.FailedPrecondition, "SOCKET_STREAMED")
	other, _ := s.pair(t, tcp4)
	rctx, rcancel := s.ctx(callTimeout)
	_, err = s.api.Relay(rctx, &sockdv1.RelayRequest{SocketA: sv, SocketB: other})
	rcancel()
	requireStatus(t, "a relay of a socket a pipe carries", err, codes.FailedPrecondition, "SOCKET_STREAMED")

	if err := first.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Close{Close: true}}); err != nil {
		t.Fatal(err)
	}
	if r := pipeReadAll(first); r.err != nil || r.end != nil {
		t.Fatalf("the client's own close: in-band %v, end %v; want a clean end", r.err, r.end)
	}

	// Both directions shut, then close_write again.
	cl2, sv2 := s.pair(t, tcp4)
	p2 := s.openPipe(t, sv2)
	if msg, err := p2.Recv(); err != nil || !msg.GetReady() {
		t.Fatalf("pipe: %v %v, want ready", msg, err)
	}
	closeWrite := &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_CloseWrite{CloseWrite: true}}
	if err := p2.Send(closeWrite); err != nil {
		t.Fatal(err)
	}
	s.close(t, cl2) // the peer goes: eof
	if msg, err := p2.Recv(); err != nil || !msg.GetEof() {
		t.Fatalf("after the peer's close: %v %v, want eof", msg, err)
	}
	if err := p2.Send(closeWrite); err != nil {
		t.Fatal(err)
	}
	p2.CloseSend()
	if r := pipeReadAll(p2); r.err != nil || r.end != nil {
		t.Fatalf("close_write again after the connection ended: in-band %v, end %v; want a clean end", r.err, r.end)
	}
}

// TestPipeAfterEofEndsWithItsSocketAndSession: a pipe whose downlink has
// reached eof, and whose client still may send, ends when its socket is
// closed (in-band closed) or its session ends (in-band cancelled), as it
// does before eof: it outlives neither.
func TestPipeAfterEofEndsWithItsSocketAndSession(t *testing.T) {
	t.Parallel()
	for _, end := range []string{"close", "session"} {
		t.Run(end, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			c, srv := s.pair(t, tcp4)
			p := s.openPipe(t, c)
			got := goCall(func() pipeResult { return pipeReadAll(p) })
			s.shutdown(t, srv, sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE)
			for deadline := time.Now().Add(eventWait); s.info(t, c).GetNumReaders() != 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the pipe's downlink did not reach eof")
				}
			}
			want := sockdv1.SocketError_KIND_CLOSED
			if end == "close" {
				s.close(t, c)
			} else {
				closeSession(t, s)
				want = sockdv1.SocketError_KIND_CANCELLED
			}
			r := await(t, "pipe output", got)
			if !r.eof || r.end != nil || r.err.GetKind() != want {
				t.Fatalf("pipe after eof and %s: eof %v, error %v, end %v; want eof, then %v in-band", end, r.eof, r.err, r.end, want)
			}
		})
	}
}
