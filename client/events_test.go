package client

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// scriptedEvents stands in for the generated stubs' Events call: each call
// plays the next script, a list of events followed by the error that ends the
// stream. It records what each call asked for.
type scriptedEvents struct {
	sockdv1.SocketServiceClient // only Events is implemented

	mu       sync.Mutex
	scripts  []eventScript
	requests []*sockdv1.EventsRequest
}

type eventScript struct {
	events []*sockdv1.EventsResponse
	end    error
}

func (s *scriptedEvents) Events(ctx context.Context, req *sockdv1.EventsRequest, _ ...grpc.CallOption) (grpc.ServerStreamingClient[sockdv1.EventsResponse], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, req)
	if len(s.scripts) == 0 {
		// Out of script: behave like a daemon that stays away.
		return &scriptedStream{ctx: ctx, end: nil}, nil
	}
	next := s.scripts[0]
	s.scripts = s.scripts[1:]
	return &scriptedStream{ctx: ctx, events: next.events, end: next.end}, nil
}

func (s *scriptedEvents) afters() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var afters []uint64
	for _, r := range s.requests {
		afters = append(afters, r.GetAfterSequence())
	}
	return afters
}

type scriptedStream struct {
	grpc.ClientStream
	ctx    context.Context
	events []*sockdv1.EventsResponse
	end    error // nil: block until ctx ends
}

func (s *scriptedStream) Recv() (*sockdv1.EventsResponse, error) {
	if len(s.events) > 0 {
		ev := s.events[0]
		s.events = s.events[1:]
		return ev, nil
	}
	if s.end == nil {
		<-s.ctx.Done()
		return nil, status.FromContextError(s.ctx.Err()).Err()
	}
	return nil, s.end
}

func (s *scriptedStream) Header() (metadata.MD, error) { return nil, nil }

func selectEvent(seq, handle uint64) *sockdv1.EventsResponse {
	return &sockdv1.EventsResponse{Sequence: seq, SocketId: "s1",
		Event: &sockdv1.EventsResponse_Select{Select: &sockdv1.SelectEvent{Handle: handle}}}
}

var caughtUp = &sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_CaughtUp{CaughtUp: &sockdv1.CaughtUpEvent{}}}

func gap(first uint64) *sockdv1.EventsResponse {
	return &sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_Gap{Gap: &sockdv1.GapEvent{FirstHeld: first}}}
}

func newScriptedSession(scripts ...eventScript) (*Session, *scriptedEvents) {
	stub := &scriptedEvents{scripts: scripts}
	return (&Client{api: stub}).ResumeSession("sess"), stub
}

// collect reads the stream until it ends and describes each event by its
// sequence, or by its kind for the markers.
func collect(t *testing.T, es *EventStream) []string {
	t.Helper()
	var got []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-es.C():
			if !ok {
				return got
			}
			switch {
			case ev.GetCaughtUp() != nil:
				got = append(got, "caught_up")
			case ev.GetGap() != nil:
				got = append(got, "gap")
			default:
				got = append(got, strconv.FormatUint(ev.GetSequence(), 10))
			}
		case <-timeout:
			t.Fatalf("the stream did not end; got %v so far", got)
		}
	}
}

func TestEventsResumeAfterBreak(t *testing.T) {
	broken := status.Error(codes.Unavailable, "connection reset")
	s, stub := newScriptedSession(
		eventScript{events: []*sockdv1.EventsResponse{selectEvent(1, 10), selectEvent(2, 11), caughtUp, selectEvent(3, 12)}, end: broken},
		// The daemon did not answer at all the first time it was retried.
		eventScript{end: broken},
		// The resumed stream starts with an event already delivered; it must
		// not be delivered twice.
		eventScript{events: []*sockdv1.EventsResponse{selectEvent(3, 12), selectEvent(4, 13), caughtUp, selectEvent(5, 14)}, end: io.EOF},
	)
	es := s.Events(context.Background(), 0)
	got := collect(t, es)
	want := []string{"1", "2", "caught_up", "3", "4", "caught_up", "5"}
	if !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if afters, want := stub.afters(), []uint64{0, 3, 3}; !slices.Equal(afters, want) {
		t.Errorf("resumed after %v, want %v", afters, want)
	}
	if !errors.Is(es.Err(), ErrSessionEnded) {
		t.Errorf("Err() = %v, want ErrSessionEnded", es.Err())
	}
	if es.Last() != 5 {
		t.Errorf("Last() = %d, want 5", es.Last())
	}
	es.Close()
}

func TestEventsReportGap(t *testing.T) {
	s, stub := newScriptedSession(eventScript{events: []*sockdv1.EventsResponse{gap(7), selectEvent(7, 1), caughtUp}, end: io.EOF})
	es := s.Events(context.Background(), 2)
	if got, want := collect(t, es), []string{"gap", "7", "caught_up"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if afters := stub.afters(); !slices.Equal(afters, []uint64{2}) {
		t.Errorf("asked for events after %v, want [2]", afters)
	}
}

func TestEventsStopOnAnswer(t *testing.T) {
	replaced := status.Error(codes.Aborted, "event stream replaced")
	s, stub := newScriptedSession(eventScript{events: []*sockdv1.EventsResponse{selectEvent(1, 1)}, end: replaced})
	es := s.Events(context.Background(), 0)
	if got := collect(t, es); !slices.Equal(got, []string{"1"}) {
		t.Errorf("delivered %v, want [1]", got)
	}
	if status.Code(es.Err()) != codes.Aborted {
		t.Errorf("Err() = %v, want ABORTED", es.Err())
	}
	if n := len(stub.afters()); n != 1 {
		t.Errorf("attached %d times; a replaced stream must not reattach", n)
	}
}

// A stream refused for a bound its principal's clients fill and empty
// (answers not yet taken, open calls) attaches again, as one out of reach.
func TestEventsRetryWhenRefusedForABound(t *testing.T) {
	full := status.Error(codes.ResourceExhausted, "bytes of answers not yet taken by the principal's clients: limit of 16777216 reached")
	s, stub := newScriptedSession(
		eventScript{end: full},
		eventScript{events: []*sockdv1.EventsResponse{selectEvent(1, 1), caughtUp}, end: io.EOF},
	)
	es := s.Events(context.Background(), 0)
	if got, want := collect(t, es), []string{"1", "caught_up"}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if n := len(stub.afters()); n != 2 {
		t.Errorf("attached %d times, want 2: once refused, once again", n)
	}
}

func TestEventsClose(t *testing.T) {
	s, _ := newScriptedSession() // the daemon never answers
	es := s.Events(context.Background(), 0)
	es.Close()
	if _, ok := <-es.C(); ok {
		t.Error("C is open after Close")
	}
	if !errors.Is(es.Err(), context.Canceled) {
		t.Errorf("Err() = %v, want context.Canceled", es.Err())
	}
}

// A reader that takes 3 of 20 events and closes the stream resumes after
// the third: Last counts what it received, not what the stream took from
// the daemon.
func TestEventsCloseWhileBlockedOnReader(t *testing.T) {
	events := make([]*sockdv1.EventsResponse, 0, 20)
	for i := range 20 {
		events = append(events, selectEvent(uint64(i+1), 1))
	}
	s, _ := newScriptedSession(eventScript{events: events})
	es := s.Events(context.Background(), 0)
	for range 3 {
		<-es.C()
	}
	time.Sleep(10 * time.Millisecond) // the stream is ahead of the reader
	es.Close()
	if got := es.Last(); got != 3 {
		t.Errorf("Last() after reading 3 and Close = %d, want 3", got)
	}
}

func TestHeldEvents(t *testing.T) {
	s, stub := newScriptedSession(eventScript{events: []*sockdv1.EventsResponse{gap(4), selectEvent(4, 1), selectEvent(5, 2), caughtUp}, end: io.EOF})
	got, err := s.HeldEvents(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].GetGap() == nil || got[1].GetSequence() != 4 || got[2].GetSequence() != 5 {
		t.Errorf("HeldEvents = %v, want gap, 4, 5", got)
	}
	stub.mu.Lock()
	req := stub.requests[0]
	stub.mu.Unlock()
	if !req.GetNoFollow() || req.GetAfterSequence() != 1 || req.GetSessionId() != "sess" {
		t.Errorf("HeldEvents asked %v", req)
	}
	// What it returned the caller has read, and the next calls say so.
	if got := s.taken.Load(); got != 5 {
		t.Errorf("after HeldEvents through 5, taken %d, want 5", got)
	}
}

// Last never runs ahead of what the receiver has (a resume from it loses no
// event), and trails it by at most the event just received.
func TestEventsLastNeverAhead(t *testing.T) {
	events := make([]*sockdv1.EventsResponse, 0, 200)
	for i := range 200 {
		events = append(events, selectEvent(uint64(i+1), 1))
	}
	s, _ := newScriptedSession(eventScript{events: events})
	es := s.Events(context.Background(), 0)
	defer es.Close()
	for range 200 {
		ev := <-es.C()
		if got := es.Last(); got > ev.GetSequence() || got+1 < ev.GetSequence() {
			t.Fatalf("received %d, Last() = %d", ev.GetSequence(), got)
		}
	}
}

// quietDaemon holds every event stream open until it is stopped.
type quietDaemon struct {
	sockdv1.UnimplementedSocketServiceServer
}

func (quietDaemon) Events(_ *sockdv1.EventsRequest, stream grpc.ServerStreamingServer[sockdv1.EventsResponse]) error {
	<-stream.Context().Done()
	return stream.Context().Err()
}

// A daemon gone for longer than the session's grace (it crashed, or could
// not be reached meanwhile) keeps no session: the stream ends, rather than
// wait for ever for it to come back.
func TestEventsEndOnceTheDaemonIsGoneLongerThanTheGrace(t *testing.T) {
	c, stop := dialStoppableFake(t, quietDaemon{})
	s := &Session{client: c, id: "s", grace: 400 * time.Millisecond}
	es := s.Events(context.Background(), 0)
	defer es.Close()
	time.Sleep(100 * time.Millisecond)
	stop()
	awaitStreamEnd(t, es, "the event stream 5 s after the daemon went, with a grace of 400 ms")
	if !errors.Is(es.Err(), ErrSessionEnded) {
		t.Errorf("the stream ended with %v, want ErrSessionEnded", es.Err())
	}
}

// A resumed session's grace is the daemon's to know, not the client's: its
// stream does not give up on a guess.
func TestEventsOfAResumedSessionWaitForTheDaemon(t *testing.T) {
	c, stop := dialStoppableFake(t, quietDaemon{})
	s := c.ResumeSession("s")
	es := s.Events(context.Background(), 0)
	defer es.Close()
	time.Sleep(100 * time.Millisecond)
	stop()
	time.Sleep(100 * time.Millisecond)
	// Lost a minute ago, past any guess of the grace (a created session's
	// default is 30 s).
	c.lostAt.Store(time.Now().Add(-time.Minute).UnixNano())
	select {
	case <-es.C():
		t.Fatalf("a resumed session's stream ended (%v) while the daemon was away", es.Err())
	case <-time.After(2 * time.Second):
	}
}

// awaitStreamEnd requires es, whose daemon sends no event, to end within 5 s.
func awaitStreamEnd(t *testing.T, es *EventStream, what string) {
	t.Helper()
	select {
	case _, open := <-es.C():
		if open {
			t.Fatalf("%s: an event, want none", what)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: still running after 5 s, want it ended", what)
	}
}

// A daemon that no longer knows the session (it restarted) ends the stream
// with ErrSessionEnded, the daemon's status still in it.
func TestEventsEndWhenTheDaemonLostTheSession(t *testing.T) {
	st, err := status.New(codes.NotFound, "unknown session").WithDetails(&errdetails.ErrorInfo{Domain: reasons.Domain, Reason: ReasonSessionNotFound})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newScriptedSession(eventScript{events: []*sockdv1.EventsResponse{selectEvent(1, 1)}, end: st.Err()})
	es := s.Events(context.Background(), 0)
	collect(t, es)
	if !errors.Is(es.Err(), ErrSessionEnded) || ErrorReason(es.Err()) != ReasonSessionNotFound || status.Code(es.Err()) != codes.NotFound {
		t.Errorf("Err() = %v, want ErrSessionEnded with the daemon's SESSION_NOT_FOUND", es.Err())
	}
}
