package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// counted is a call that answers its number of runs so far as a socket id,
// or fails with err.
func counted(runs *atomic.Int32, err error) func() (proto.Message, error) {
	return func() (proto.Message, error) {
		n := runs.Add(1)
		if err != nil {
			return nil, err
		}
		return &sockdv1.OpenResponse{SocketId: fmt.Sprint(n)}, nil
	}
}

var open1 = callTarget{method: "Open"}

func TestRequestLogAnswersACallMadeAgain(t *testing.T) {
	var l requestLog
	var runs atomic.Int32
	ctx := context.Background()
	first, err := l.once(ctx, "a", open1, counted(&runs, nil))
	if err != nil {
		t.Fatal(err)
	}
	again, err := l.once(ctx, "a", open1, counted(&runs, nil))
	if err != nil || !proto.Equal(again, first) || runs.Load() != 1 {
		t.Fatalf("made again: %v %v after %d runs, want %v after 1", again, err, runs.Load(), first)
	}
	if again == first {
		t.Error("made again: the logged answer itself, want a copy (gRPC encodes each answer on its own)")
	}
	other, err := l.once(ctx, "b", open1, counted(&runs, nil))
	if err != nil || other.(*sockdv1.OpenResponse).GetSocketId() != "2" {
		t.Fatalf("another id: %v %v, want a second run", other, err)
	}
	_, err = l.once(ctx, "a", callTarget{"Accept", "x"}, counted(&runs, nil))
	if status.Code(err) != codes.InvalidArgument || runs.Load() != 2 {
		t.Fatalf("an id of Open used for Accept: %v after %d runs, want INVALID_ARGUMENT, no run", err, runs.Load())
	}
	long := string(make([]byte, maxIDLen+1))
	if _, err := l.once(ctx, long, open1, counted(&runs, nil)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an id of %d bytes: %v, want INVALID_ARGUMENT", len(long), err)
	}
}

// A call that failed did nothing: made again, it runs (a panic is a
// failure too).
func TestRequestLogRunsAFailedCallAgain(t *testing.T) {
	var l requestLog
	var runs atomic.Int32
	ctx := context.Background()
	refused := status.Error(codes.ResourceExhausted, "quota")
	if _, err := l.once(ctx, "a", open1, counted(&runs, refused)); !errors.Is(err, refused) {
		t.Fatalf("first call: %v, want its refusal", err)
	}
	answer, err := l.once(ctx, "a", open1, counted(&runs, nil))
	if err != nil || answer.(*sockdv1.OpenResponse).GetSocketId() != "2" {
		t.Fatalf("made again after a failure: %v %v, want a second run", answer, err)
	}

	func() {
		defer func() { recover() }()
		l.once(ctx, "p", open1, func() (proto.Message, error) { panic("handler bug") })
	}()
	answer, err = l.once(ctx, "p", open1, counted(&runs, nil))
	if err != nil || answer.(*sockdv1.OpenResponse).GetSocketId() != "3" {
		t.Fatalf("made again after a panic: %v %v, want it run", answer, err)
	}
}

// A call made again while the first still runs waits for its answer; one
// whose own context ends first gives up without it.
func TestRequestLogWaitsForTheRunningCall(t *testing.T) {
	var l requestLog
	var runs atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := l.once(context.Background(), "a", open1, func() (proto.Message, error) {
			close(started)
			<-release
			return counted(&runs, nil)()
		})
		first <- err
	}()
	<-started
	impatient, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := l.once(impatient, "a", open1, counted(&runs, nil)); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("made again, until a deadline, while the first runs: %v, want DEADLINE_EXCEEDED", err)
	}
	again := make(chan proto.Message, 1)
	go func() {
		answer, _ := l.once(context.Background(), "a", open1, counted(&runs, nil))
		again <- answer
	}()
	time.Sleep(10 * time.Millisecond)
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if answer := <-again; answer.(*sockdv1.OpenResponse).GetSocketId() != "1" || runs.Load() != 1 {
		t.Fatalf("made again while the first ran: %v after %d runs, want the first's answer, one run", answer, runs.Load())
	}
}

// The log keeps the last maxLoggedAnswers answers; the ids of the
// maxForgottenIDs before them are refused, not run twice; older ones run.
func TestRequestLogForgetsOldAnswers(t *testing.T) {
	var l requestLog
	var runs atomic.Int32
	ctx := context.Background()
	total := maxLoggedAnswers + maxForgottenIDs + 1
	for i := range total {
		if _, err := l.once(ctx, fmt.Sprint(i), open1, counted(&runs, nil)); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.calls) != maxLoggedAnswers || len(l.answered) != maxLoggedAnswers {
		t.Fatalf("the log holds %d calls, %d answered, want %d", len(l.calls), len(l.answered), maxLoggedAnswers)
	}
	kept, err := l.once(ctx, fmt.Sprint(total-maxLoggedAnswers), open1, counted(&runs, nil))
	if err != nil || kept.(*sockdv1.OpenResponse).GetSocketId() != fmt.Sprint(total-maxLoggedAnswers+1) {
		t.Fatalf("the oldest kept answer: %v %v", kept, err)
	}
	_, err = l.once(ctx, fmt.Sprint(total-maxLoggedAnswers-1), open1, counted(&runs, nil))
	if status.Code(err) != codes.Aborted || reasonOf(err) != reasons.RequestForgotten {
		t.Fatalf("the newest forgotten id: %v, want ABORTED %s", err, reasons.RequestForgotten)
	}
	if _, err := l.once(ctx, "1", open1, counted(&runs, nil)); status.Code(err) != codes.Aborted {
		t.Fatalf("the oldest remembered forgotten id: %v, want ABORTED", err)
	}
	if runs.Load() != int32(total) {
		t.Fatalf("%d runs, want %d", runs.Load(), total)
	}
	if _, err := l.once(ctx, "0", open1, counted(&runs, nil)); err != nil {
		t.Fatalf("an id older than the log remembers: %v, want it run", err)
	}
}

// Accept made again with its request id, after its first call's client
// went (its connection to the daemon broke under the answer), answers the
// connection the first call accepted, and the next peer's connection is
// the next call's. Open made again answers the same socket.
func TestAcceptMadeAgainAnswersTheSameConnection(t *testing.T) {
	l := newLive(t, Limits{})
	infinity := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}
	req := &sockdv1.AcceptRequest{SocketId: l.ln.ID(), Timeout: infinity, RequestId: "accept-1"}
	gone, cancel := context.WithCancel(l.ctx)
	accepted := make(chan *sockdv1.AcceptResponse, 1)
	go func() {
		resp, _ := l.svc.Accept(gone, req)
		accepted <- resp
	}()
	peers := make([]net.Conn, 2)
	for i := range peers {
		c, err := net.Dial("unix", l.path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		peers[i] = c
	}
	first := <-accepted
	cancel()
	if first.GetSocketId() == "" {
		t.Fatalf("first accept: %v", first)
	}
	again, err := l.svc.Accept(l.ctx, req)
	if err != nil || again.GetSocketId() != first.GetSocketId() {
		t.Fatalf("made again: %v %v, want socket %s", again, err, first.GetSocketId())
	}
	if _, err := peers[0].Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	r, err := l.svc.Recv(l.ctx, &sockdv1.RecvRequest{SocketId: again.GetSocketId(), Length: 5, Timeout: infinity})
	if err != nil || string(r.GetData()) != "first" {
		t.Fatalf("recv on the answered socket: %v %v, want the first peer's bytes", r, err)
	}
	next, err := l.svc.Accept(l.ctx, &sockdv1.AcceptRequest{SocketId: l.ln.ID(), Timeout: infinity, RequestId: "accept-2"})
	if err != nil || next.GetSocketId() == "" || next.GetSocketId() == first.GetSocketId() {
		t.Fatalf("the next accept: %v %v, want the second peer's connection", next, err)
	}

	for _, id := range []string{first.GetSocketId(), next.GetSocketId()} {
		sock, ok := l.svc.engine.Lookup(id)
		if !ok || sock.Closed() {
			t.Fatalf("accepted socket %s: known %v, want it open", id, ok)
		}
		defer sock.Close()
	}

	open := &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM, RequestId: "open-1"}
	o1, err := l.svc.Open(l.ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	o2, err := l.svc.Open(l.ctx, open)
	if err != nil || o2.GetSocketId() != o1.GetSocketId() {
		t.Fatalf("Open made again: %v %v, want socket %s", o2, err, o1.GetSocketId())
	}
	if sock, ok := l.svc.engine.Lookup(o1.GetSocketId()); ok {
		defer sock.Close()
	}
	if n := l.svc.engine.NumOpen(); n != 4 {
		t.Errorf("%d open sockets, want 4 (the listener, two accepted, one opened)", n)
	}
}

// Send made again with its request id answers what the first call sent,
// and sends nothing again: also when the first was a blocking send its
// client cancelled after part of its data went, which answers that part
// and the error cancelled.
func TestSendMadeAgainSendsNothingTwice(t *testing.T) {
	l := newLive(t, Limits{})
	sock, peer := l.connected(t)
	infinity := &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}
	req := &sockdv1.SendRequest{SocketId: sock.ID(), Data: []byte("once"), Timeout: infinity, RequestId: "send-1"}
	for i := range 2 {
		resp, err := l.svc.Send(l.ctx, req)
		if err != nil || resp.GetBytesSent() != 4 {
			t.Fatalf("send %d: %v %v, want 4 bytes sent", i, resp, err)
		}
	}
	got := make([]byte, 16)
	peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _ := io.ReadAtLeast(peer, got, 4); string(got[:n]) != "once" {
		t.Fatalf("the peer read %q, want %q once", got[:n], "once")
	}

	// Blocking on a peer that reads nothing until the call is cancelled.
	big := &sockdv1.SendRequest{SocketId: sock.ID(), Data: make([]byte, 8<<20), Timeout: infinity, RequestId: "send-2"}
	gone, cancel := context.WithCancel(l.ctx)
	time.AfterFunc(100*time.Millisecond, cancel)
	first, err := l.svc.Send(gone, big)
	if err != nil || first.GetBytesSent() == 0 || first.GetError().GetKind() != sockdv1.SocketError_KIND_CANCELLED {
		t.Fatalf("a send cancelled after part of it went: %v %v, want that part and the error cancelled", first, err)
	}
	again, err := l.svc.Send(l.ctx, big)
	if err != nil || again.GetBytesSent() != first.GetBytesSent() || again.GetBytesUnsent() != first.GetBytesUnsent() {
		t.Fatalf("made again: %v %v, want the first call's answer %v", again, err, first)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.CopyN(io.Discard, peer, int64(first.GetBytesSent())); err != nil {
		t.Fatalf("the peer reading the %d bytes the first call sent: %v", first.GetBytesSent(), err)
	}
	peer.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _ := peer.Read(got); n != 0 {
		t.Fatalf("the peer read %d bytes more than the first call sent", n)
	}
}

// A call that failed after it did something (keptFailure) is kept: made
// again, it answers the same failure rather than run.
func TestRequestLogKeepsAFailureThatDidSomething(t *testing.T) {
	var l requestLog
	var runs atomic.Int32
	refused := status.Error(codes.PermissionDenied, "the bind the send made")
	fail := func() (proto.Message, error) { runs.Add(1); return nil, keptFailure{refused} }
	for i := range 2 {
		if _, err := l.once(context.Background(), "a", open1, fail); err != refused {
			t.Fatalf("call %d: %v, want the kept failure itself", i, err)
		}
	}
	if runs.Load() != 1 {
		t.Fatalf("%d runs, want 1", runs.Load())
	}
}
