package client

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A send that is one call refuses more than MaxCallData bytes before the
// call: a typed error, not gRPC's message about message sizes.
func TestOneCallSendsRefuseTooMuchData(t *testing.T) {
	if refused := tooLarge(MaxCallData, nil); refused != nil {
		t.Errorf("MaxCallData bytes: %v", refused)
	}
	s := &Session{} // refused before any call is made
	big := make([]byte, MaxCallData+1)
	ctx := context.Background()
	var tooLarge *DataTooLargeError
	if _, err := s.SendTo(ctx, "id", big, nil, Infinity); !errors.As(err, &tooLarge) || tooLarge.Len != len(big) {
		t.Errorf("SendTo: %v", err)
	}
	if _, err := s.SendMsg(ctx, "id", Msg{IOV: [][]byte{big[:MaxCallData], big[:1]}}, Infinity); !errors.As(err, &tooLarge) {
		t.Errorf("SendMsg: %v", err)
	}
	if _, err := s.Send(ctx, "id", big, Nowait(0)); !errors.As(err, &tooLarge) || !tooLarge.Streamable {
		t.Errorf("nowait Send: %v, want a DataTooLargeError that says a waiting send would do", err)
	}
	// Data within the bound in so many pieces that the request is not.
	var pieces [][]byte
	for range MaxCallData / 128 {
		pieces = append(pieces, big[:128])
	}
	if _, err := s.SendMsg(ctx, "id", Msg{IOV: pieces}, Infinity); !errors.As(err, &tooLarge) || tooLarge.Request <= MaxCallData || tooLarge.Streamable {
		t.Errorf("SendMsg of %d pieces of 128 bytes: %v", len(pieces), err)
	}
}

// A send Session.Send would cut into parts answers the error that keeps it
// from learning whether the socket is a stream, not a size refusal.
func TestLargeSendAnswersTheInfoError(t *testing.T) {
	s := &Session{client: dialFake(t, &partsDaemon{infoErr: status.Error(codes.NotFound, "unknown socket")}), id: "s"}
	if _, err := s.Send(context.Background(), "id", make([]byte, MaxSendData+1), Infinity); status.Code(err) != codes.NotFound {
		t.Fatalf("a large send on a socket Info does not find: %v, want NOT_FOUND", err)
	}
}

// partsDaemon answers a stream socket's Info, takes a send's first part
// (keeping the session the writer, as the daemon does for a part that
// continues), fails the second as a lost connection would, and records
// every Send and Cancel request.
type partsDaemon struct {
	sockdv1.UnimplementedSocketServiceServer
	mu      sync.Mutex
	sends   []*sockdv1.SendRequest
	cancels []*sockdv1.CancelRequest
	// outage, if set, is open while Cancel is refused UNAVAILABLE: until
	// the test closes it.
	outage    chan struct{}
	cancelled bool
	infoErr   error // Info's answer, if set
}

// refused reports whether a Cancel now would meet the outage.
func (d *partsDaemon) refused() bool {
	if d.outage == nil {
		return false
	}
	select {
	case <-d.outage:
		return false
	default:
		return true
	}
}

func (d *partsDaemon) Cancel(_ context.Context, r *sockdv1.CancelRequest) (*sockdv1.CancelResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cancels = append(d.cancels, r)
	if d.refused() {
		return nil, status.Error(codes.Unavailable, "out of reach")
	}
	d.cancelled = true
	return &sockdv1.CancelResponse{}, nil
}

func (d *partsDaemon) Info(context.Context, *sockdv1.InfoRequest) (*sockdv1.InfoResponse, error) {
	if d.infoErr != nil {
		return nil, d.infoErr
	}
	return &sockdv1.InfoResponse{Info: &sockdv1.SocketInfo{Type: sockdv1.Type_TYPE_STREAM}}, nil
}

func (d *partsDaemon) Send(_ context.Context, r *sockdv1.SendRequest) (*sockdv1.SendResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sends = append(d.sends, r)
	switch len(d.sends) {
	case 1:
		return &sockdv1.SendResponse{BytesSent: uint64(len(r.GetData())), Async: &sockdv1.AsyncInfo{Handle: 9}}, nil
	case 2:
		return nil, status.Error(codes.Unavailable, "connection lost")
	}
	return &sockdv1.SendResponse{}, nil
}

// A large send that stops after a part that continued it gives the
// writer's place back with a Cancel of the handle its parts named (the
// daemon may have kept the place for a part whose answer was lost), and
// touches nothing else on the socket.
func TestLargeSendGivesTheWriterBack(t *testing.T) {
	d := &partsDaemon{}
	s := &Session{client: dialFake(t, d), id: "s"}
	data := make([]byte, 2*MaxSendData+1)
	resp, err := s.Send(context.Background(), "id", data, Infinity)
	if status.Code(err) != codes.Unavailable || resp.GetBytesSent() != MaxSendData {
		t.Fatalf("a send failing at its second part: %v %v", resp, err)
	}
	// The release goes on in the background; Client.Close waits for it.
	for _, ch := range s.client.drained(releaseKey(s.id)) {
		<-ch
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.sends) != 2 || len(d.cancels) != 1 {
		t.Fatalf("%d Send and %d Cancel calls, want the two parts and a release", len(d.sends), len(d.cancels))
	}
	h := d.sends[0].GetContinueHandle()
	if !d.sends[0].GetContinues() || !d.sends[1].GetContinues() || h == 0 || d.sends[1].GetContinueHandle() != h {
		t.Errorf("the parts before the last do not continue the send under one handle: %v", d.sends)
	}
	if c := d.cancels[0].GetInfo(); c.GetHandle() != h || c.GetOperation() != sockdv1.Operation_OPERATION_SEND {
		t.Errorf("the release cancels %v, want the send's handle %d", c, h)
	}
}

// The release is the Send's no longer: it goes on in the background, and
// through a daemon out of reach (where the part's answer was most likely
// lost) until the daemon takes it.
func TestLargeSendReleasesThroughAnOutage(t *testing.T) {
	d := &partsDaemon{outage: make(chan struct{})}
	s := &Session{client: dialFake(t, d), id: "s", grace: 30 * time.Second}
	// Send returns while the outage lasts: it does not wait for its release.
	sent := make(chan error, 1)
	go func() {
		_, err := s.Send(context.Background(), "id", make([]byte, 2*MaxSendData+1), Infinity)
		sent <- err
	}()
	select {
	case err := <-sent:
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("a send failing at its second part: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Send waits for its release, which the outage holds back")
	}
	for refused := false; !refused; time.Sleep(time.Millisecond) {
		d.mu.Lock()
		refused = len(d.cancels) > 0
		d.mu.Unlock()
	}
	close(d.outage)
	for _, ch := range s.client.drained(releaseKey(s.id)) {
		<-ch
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.cancelled || len(d.cancels) < 2 {
		t.Errorf("the release ended after %d Cancel calls, taken: %v", len(d.cancels), d.cancelled)
	}
}

// onceDaemon answers Send calls as the daemon's request log does: a call
// made again with a request id gets the first call's answer. Each new call
// sends all its data, but the second fails UNAVAILABLE (its answer lost).
type onceDaemon struct {
	partsDaemon
	answers map[string]*sockdv1.SendResponse
	calls   int
}

func (d *onceDaemon) Send(_ context.Context, r *sockdv1.SendRequest) (*sockdv1.SendResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sends = append(d.sends, r)
	if a, ok := d.answers[r.GetRequestId()]; ok {
		return a, nil
	}
	d.calls++
	if d.calls == 2 {
		return nil, status.Error(codes.Unavailable, "connection lost")
	}
	a := &sockdv1.SendResponse{BytesSent: uint64(len(r.GetData()))}
	if r.GetContinues() {
		a.Async = &sockdv1.AsyncInfo{Handle: r.GetContinueHandle()}
	}
	d.answers[r.GetRequestId()] = a
	return a, nil
}

// SendOnce names each call of a send cut in parts with its request id and
// the part's number, under a writer's place handle its id derives, so that
// the send made again after the connection broke (here at its second
// part) has the daemon answer the parts that went rather than send them
// twice, and keeps the same place.
func TestSendOnceNamesItsParts(t *testing.T) {
	d := &onceDaemon{answers: make(map[string]*sockdv1.SendResponse)}
	s := &Session{client: dialFake(t, d), id: "s"}
	data := make([]byte, 2*MaxSendData+1)
	if _, err := s.SendOnce(context.Background(), "id", data, Infinity, "req"); status.Code(err) != codes.Unavailable {
		t.Fatalf("a send failing at its second part: %v", err)
	}
	resp, err := s.SendOnce(context.Background(), "id", data, Infinity, "req")
	if err != nil || resp.GetBytesSent() != uint64(len(data)) {
		t.Fatalf("made again: %v %v, want all %d bytes sent", resp, err, len(data))
	}
	for _, ch := range s.client.drained(releaseKey(s.id)) {
		<-ch
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for _, r := range d.sends {
		ids = append(ids, r.GetRequestId())
	}
	if want := []string{"req.0", "req.1", "req.1", "req.2"}; !slices.Equal(ids, want) {
		t.Fatalf("the calls' request ids %q, want %q: made again from the call whose answer was lost", ids, want)
	}
	if h := d.sends[0].GetContinueHandle(); h == 0 || d.sends[2].GetContinueHandle() == h {
		t.Errorf("the send made again keeps its place under the first try's handle %d, which that try's release may take back", h)
	}
	if d.calls != 4 {
		t.Errorf("%d calls did something, want 4: the first send's two parts, then the rest", d.calls)
	}
}

// A call made again whose first try was cut short with its connection
// (answered in part, cancelled) goes on with the rest in the next call.
func TestSendOnceGoesOnAfterAPartCutShort(t *testing.T) {
	d := &onceDaemon{answers: map[string]*sockdv1.SendResponse{
		"cut.0": {BytesSent: 100, BytesUnsent: 900, Error: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_CANCELLED, Reason: "cancelled"}},
	}}
	s := &Session{client: dialFake(t, d), id: "s"}
	resp, err := s.SendOnce(context.Background(), "id", make([]byte, 1000), Infinity, "cut")
	if err != nil || resp.GetBytesSent() != 1000 {
		t.Fatalf("a send whose first call was cut short: %v %v, want all 1000 bytes sent", resp, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.sends) != 2 || d.sends[1].GetRequestId() != "cut.1" || len(d.sends[1].GetData()) != 900 {
		t.Fatalf("calls %v, want the cut one and one of the 900 bytes left as cut.1", d.sends)
	}
}

// SendOnce of no data is one call, as Send's is: a zero-length datagram,
// and the daemon's answer for a socket that cannot send.
func TestSendOnceOfNoDataIsOneCall(t *testing.T) {
	d := &onceDaemon{answers: make(map[string]*sockdv1.SendResponse)}
	s := &Session{client: dialFake(t, d), id: "s"}
	if _, err := s.SendOnce(context.Background(), "id", nil, Infinity, "empty"); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.sends) != 1 || d.sends[0].GetRequestId() != "empty" {
		t.Fatalf("calls %v, want one, with the request id", d.sends)
	}
}
