package server

import (
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/internal/pipewire"
	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// fakePipe is a Pipe stream driven by the test: what it puts in in is what
// the client sends; what the daemon sends other than data is in out.
type fakePipe struct {
	grpc.ServerStream
	ctx context.Context
	in  chan *sockdv1.PipeRequest
	out chan *sockdv1.PipeResponse
}

func newFakePipe(ctx context.Context) *fakePipe {
	return &fakePipe{ctx: ctx, in: make(chan *sockdv1.PipeRequest, 16), out: make(chan *sockdv1.PipeResponse, 16)}
}

func (f *fakePipe) Context() context.Context { return f.ctx }

func (f *fakePipe) Send(m *sockdv1.PipeResponse) error { return f.SendMsg(m) }

func (f *fakePipe) SendMsg(m any) error {
	if r, ok := m.(*sockdv1.PipeResponse); ok {
		f.out <- r
	}
	return nil // data (*pipewire.Outgoing) is dropped
}

func (f *fakePipe) Recv() (*sockdv1.PipeRequest, error) {
	r := new(sockdv1.PipeRequest)
	return r, f.RecvMsg(r)
}

func (f *fakePipe) RecvMsg(m any) error {
	var req *sockdv1.PipeRequest
	select {
	case r, ok := <-f.in:
		if !ok {
			return io.EOF
		}
		req = r
	case <-f.ctx.Done():
		return f.ctx.Err()
	}
	switch x := m.(type) {
	case *pipewire.Request:
		x.Msg = req
	case *sockdv1.PipeRequest:
		proto.Merge(x, req)
	}
	return nil
}

// What a pipe's uplink holds while the socket takes it counts among its
// principal's bytes, as a waiting Send's data does: given back once sent,
// and past the bound the upload waits for room.
func TestPipeUplinkCountsItsBytes(t *testing.T) {
	l := newLive(t, Limits{MaxPrincipalBytes: 4 << 20})
	sock, peer := l.connected(t)
	ctx, cancel := context.WithCancel(l.ctx)
	defer cancel()
	f := newFakePipe(ctx)
	ended := make(chan error, 1)
	go func() { ended <- l.svc.Pipe(f) }()
	f.in <- &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: sock.ID()}}
	if r := <-f.out; !r.GetReady() {
		t.Fatalf("first answer %v, want ready", r)
	}
	// More than the sockets buffer: the send waits for the peer to read.
	data := make([]byte, 3<<20)
	f.in <- &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: data}}
	eventually(t, "the waiting data counted", func() bool { return l.sess.load.bytes.Load() == int64(len(data)) })
	if _, err := io.CopyN(io.Discard, peer, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the sent data given back", func() bool { return l.sess.load.bytes.Load() == 0 })

	// Past the bound the upload waits for room, and loses nothing.
	l.sess.load.bytes.Add(4 << 20) // the principal holds its bound elsewhere
	f.in <- &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: []byte("more")}}
	peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _ := peer.Read(make([]byte, 8)); n != 0 {
		t.Fatalf("data past the principal's bytes reached the peer (%d bytes)", n)
	}
	select {
	case err := <-ended:
		t.Fatalf("a pipe past the principal's bytes ended: %v", err)
	default:
	}
	l.sess.load.bytes.Add(-4 << 20)
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 4)
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "more" {
		t.Fatalf("once there is room the peer read %q, %v", got, err)
	}
}

// A Pipe started on the condition of what its socket has read binds only
// when it has read that much, and otherwise leaves the socket as it was.
func TestPipeStartsOnlyWhenTheSocketReadWhatItSays(t *testing.T) {
	l := newLive(t, Limits{})
	sock, peer := l.connected(t)
	if _, err := peer.Write([]byte("taken")); err != nil {
		t.Fatal(err)
	}
	infinity := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}
	if r, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: sock.ID(), Length: 5, Timeout: infinity}); err != nil || string(r.GetData()) != "taken" {
		t.Fatalf("recv: %v %v", r, err)
	}
	start := func(read uint64) (*fakePipe, <-chan error) {
		return startPipe(t, l, &sockdv1.PipeStart{SocketId: sock.ID(), ReadBytes: &read})
	}
	_, ended := start(0)
	err := receiveWithin(t, "a pipe expecting 0 bytes read of a socket that read 5 did not end", ended)
	if status.Code(err) != codes.FailedPrecondition || reasonOf(err) != reasons.SocketReadDiffers {
		t.Fatalf("a pipe expecting 0 bytes read of a socket that read 5: %v, want FAILED_PRECONDITION %s", err, reasons.SocketReadDiffers)
	}
	f, ended := start(5)
	if r := <-f.out; !r.GetReady() {
		t.Fatalf("a pipe expecting the 5 bytes read: first answer %v, want ready", r)
	}
	f.in <- &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Close{Close: true}}
	if err := <-ended; err != nil {
		t.Fatalf("the pipe closing its socket ended %v", err)
	}
}

// A Pipe started with hold_reads reads nothing from its socket until its
// client says read: what the peer sent stays in the socket meanwhile.
func TestPipeHoldsItsReadsUntilTold(t *testing.T) {
	l := newLive(t, Limits{})
	sock, peer := l.connected(t)
	if _, err := peer.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	f, ended := startHeldPipe(t, l, sock.ID())
	time.Sleep(50 * time.Millisecond)
	if n := sock.BytesRead(); n != 0 {
		t.Fatalf("the pipe read %d bytes before its client said read", n)
	}
	f.in <- &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Read{Read: true}}
	eventually(t, "the pipe reading once told", func() bool { return sock.BytesRead() == 5 })
	f.in <- &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Read{Read: true}} // a second read changes nothing
	f.in <- &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Detach{Detach: true}}
	if err := receiveWithin(t, "the detached pipe did not end", ended); err != nil {
		t.Fatalf("the detached pipe ended %v", err)
	}
}

// A held pipe whose socket is closed meanwhile says so, though its client
// never said read.
func TestHeldPipeReportsItsSocketsClose(t *testing.T) {
	l := newLive(t, Limits{})
	sock, _ := l.connected(t)
	f, ended := startHeldPipe(t, l, sock.ID())
	sock.Close()
	if r := receiveWithin(t, "a held pipe whose socket closed said nothing", f.out); r.GetError().GetKind() != sockdv1.SocketError_KIND_CLOSED {
		t.Fatalf("a held pipe whose socket closed answered %v, want closed", r)
	}
	f.in <- &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Detach{Detach: true}}
	<-ended
}

// A held pipe whose client ends its side of the stream without saying read
// reads all the same: its peer's end is reported, as an unheld pipe's is.
func TestHeldPipeReadsOnceItsClientEndsSending(t *testing.T) {
	l := newLive(t, Limits{})
	sock, peer := l.connected(t)
	f, ended := startHeldPipe(t, l, sock.ID())
	peer.Close()
	close(f.in)
	if r := receiveWithin(t, "a held pipe whose client ended its side said nothing of its peer's end", f.out); !r.GetEof() {
		t.Fatalf("answer %v, want eof", r)
	}
	<-ended
}

// startPipe runs a Pipe of l's session whose first message is start, and
// returns its fake stream and its handler's end; the stream ends with the
// test.
func startPipe(t *testing.T, l *live, start *sockdv1.PipeStart) (*fakePipe, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(l.ctx)
	t.Cleanup(cancel)
	f := newFakePipe(ctx)
	ended := make(chan error, 1)
	go func() { ended <- l.svc.Pipe(f) }()
	f.in <- &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Start{Start: start}}
	return f, ended
}

// startHeldPipe is startPipe of a pipe that holds its reads, once ready.
func startHeldPipe(t *testing.T, l *live, sock string) (*fakePipe, <-chan error) {
	t.Helper()
	f, ended := startPipe(t, l, &sockdv1.PipeStart{SocketId: sock, HoldReads: true})
	if r := <-f.out; !r.GetReady() {
		t.Fatalf("first answer %v, want ready", r)
	}
	return f, ended
}

// receiveWithin receives from ch, or fails the test as what after 5 s.
func receiveWithin[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal(what)
		panic("unreachable")
	}
}
