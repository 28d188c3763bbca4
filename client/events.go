package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// ErrSessionEnded ends an EventStream whose session ended: the daemon sent
// every event the session still held and closed the stream; or the daemon
// was out of reach for longer than the session's grace, which it keeps a
// session without a stream for (the error says so); or the daemon no
// longer knows the session (it restarted, or the session had ended before
// the stream began): then the error wraps the daemon's status, whose
// ErrorReason is ReasonSessionNotFound.
var ErrSessionEnded = errors.New("session ended")

// errGraceLost is why a wait for the daemon ends once it has been out of
// reach for longer than the session's grace.
var errGraceLost = fmt.Errorf("%w: the daemon was out of reach for longer than the session's grace", ErrSessionEnded)

// Reconnect backoff: short at first (a daemon restarting its listener, a
// blip), then slower so an absent daemon is not hammered.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// EventStream delivers a session's events in sequence order. When the
// connection breaks it reconnects and resumes after the last event it
// delivered, so no event is delivered twice; events the daemon no longer
// holds by then are reported by a GapEvent rather than silently lost.
//
// The stream markers (GapEvent, and a CaughtUpEvent after every connect once
// the held events are replayed) are delivered too, with sequence 0.
type EventStream struct {
	// events is unbuffered, so that a send on it is a delivery and Last
	// can say what the caller has: what it has not taken waits in gRPC's
	// flow-control window, then in the daemon, which holds a session's
	// events (bounded) until a stream takes them.
	events chan *sockdv1.EventsResponse
	cancel context.CancelFunc
	done   chan struct{}
	last   atomic.Uint64 // the last sequence delivered on events (or skipped)

	mu  sync.Mutex
	err error
}

// Events starts streaming the session's events with a sequence greater than
// after (0: all that the daemon still holds). It runs until ctx ends, Close is
// called, the session ends (or the daemon is out of reach for longer than
// the session's grace, when the client knows it: ErrSessionEnded), or the
// daemon answers with an error that a retry cannot cure, such as ABORTED
// when another stream for the session replaced this one. The daemon
// delivers a session's events to one stream at a time.
func (s *Session) Events(ctx context.Context, after uint64) *EventStream {
	ctx, cancel := context.WithCancel(ctx)
	es := &EventStream{
		events: make(chan *sockdv1.EventsResponse),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	es.last.Store(after)
	s.noteTaken(after)
	s.follows.Store(true)
	go es.run(ctx, s)
	return es
}

// C returns the channel of events. It is closed when the stream ends; Err
// then says why.
func (es *EventStream) C() <-chan *sockdv1.EventsResponse { return es.events }

// Err returns why the stream ended, or nil while it runs: ctx's error,
// ErrSessionEnded, or the daemon's status error.
func (es *EventStream) Err() error {
	es.mu.Lock()
	defer es.mu.Unlock()
	return es.err
}

// Last returns the sequence number of the last event received from C, or
// the starting point if none was; a later Events(ctx, Last()) resumes from
// there. It never runs ahead of what was received, so a resume loses no
// event, but right after a receive it may still name the event before
// (until the stream's goroutine has run), and a resume from it then offers
// that event again: skip sequences already handled. After Close it is
// exact.
func (es *EventStream) Last() uint64 { return es.last.Load() }

// Close stops the stream and waits until its goroutine has finished. Events
// not yet received from C are not delivered, and Last stays before them: the
// daemon still holds them for a resume (or reports a GapEvent if it could
// not keep them).
func (es *EventStream) Close() {
	es.cancel()
	<-es.done
}

func (es *EventStream) run(ctx context.Context, s *Session) {
	defer close(es.done)
	defer close(es.events)
	backoff := minBackoff
	for {
		progressed, err := es.follow(ctx, s)
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		// Refused for a bound the principal's clients fill and empty (its
		// answers not yet taken, its open calls): tried again, as when out
		// of reach, rather than end the stream for good.
		if !outOfReach(err) && status.Code(err) != codes.ResourceExhausted {
			if ErrorReason(err) == ReasonSessionNotFound && ctx.Err() == nil {
				err = fmt.Errorf("%w: %w", ErrSessionEnded, err)
			}
			es.mu.Lock()
			es.err = err
			es.mu.Unlock()
			return
		}
		if progressed {
			backoff = minBackoff
		}
		// Full jitter, so that clients cut off together do not return together.
		wait := rand.N(backoff) + time.Millisecond
		select {
		case <-ctx.Done():
			es.mu.Lock()
			es.err = ctx.Err()
			es.mu.Unlock()
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// follow attaches once and delivers events until the stream breaks. It
// reports whether anything arrived, so that a connection that worked for a
// while restarts the backoff.
func (es *EventStream) follow(ctx context.Context, s *Session) (progressed bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// WaitForReady: while the daemon is unreachable, gRPC's own reconnect
	// backoff paces the retries, and the call proceeds once it is back,
	// unless the session's grace has passed meanwhile.
	attached := s.client.endIfOutOfReach(ctx, cancel, s.grace)
	stream, err := s.api().Events(s.OutgoingContext(ctx),
		&sockdv1.EventsRequest{SessionId: s.id, AfterSequence: es.last.Load()},
		grpc.WaitForReady(true))
	attached()
	if err != nil {
		if context.Cause(ctx) == errGraceLost {
			return false, errGraceLost
		}
		return false, err
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			// A following stream ends cleanly only when its session ended.
			return progressed, ErrSessionEnded
		}
		if err != nil {
			return progressed, err
		}
		progressed = true
		seq := ev.GetSequence()
		if seq != 0 && seq <= es.last.Load() {
			continue // already delivered before a reconnect
		}
		if !es.offer(ctx, &s.voided, ev, seq) {
			return progressed, ctx.Err()
		}
		if seq != 0 {
			es.last.Store(seq)
			s.noteTaken(seq)
			s.voided.passed(seq)
		}
		if g := ev.GetGap(); g != nil && g.GetFirstHeld() > 0 && g.GetFirstHeld()-1 > es.last.Load() {
			// What the gap skipped is gone: a reconnect resumes after it,
			// rather than hear of the same gap again.
			es.last.Store(g.GetFirstHeld() - 1)
			s.noteTaken(g.GetFirstHeld() - 1)
		}
	}
}

// testHookOffering, when set, runs between an offer's look at the voided
// selects and its offer on C: a test holds the offer there while it cancels.
var testHookOffering func()

// offer hands ev to the caller on C unless a cancel voids it, or ctx ends
// first (false). A select or an abort the stream has received but the
// caller not yet taken is dropped as one still on its way is: a cancel wakes the offer to
// look again, and Cancel returns only once it has (voidedSelects.caughtUp),
// so a caller that takes events on the goroutine that cancels never sees
// it once Cancel returns. So is a result the Cancel answered instead; one
// given to the caller is recorded before the offer ends, for a Cancel that
// answered it meanwhile to know (voidedSelects.tookResult).
func (es *EventStream) offer(ctx context.Context, voided *voidedSelects, ev *sockdv1.EventsResponse, seq uint64) bool {
	result := ev.GetCompletion() != nil || ev.GetAbort().GetPartial() != nil
	if ev.GetSelect() == nil && ev.GetAbort() == nil && !result {
		select {
		case es.events <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	o := voided.startOffer()
	defer voided.endOffer(o)
	for {
		changed := voided.look(o) // before drops looks: no cancel slips between
		if voided.drops(ev, seq) {
			return true
		}
		if testHookOffering != nil {
			testHookOffering()
		}
		select {
		case es.events <- ev:
			if result {
				voided.gave(seq)
			}
			return true
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// HeldEvents returns the events the daemon holds for the session with a
// sequence greater than after, without following new ones. The trailing
// CaughtUpEvent is left out; a GapEvent, if the daemon sent one, is included.
//
// While another stream follows the session it only reads, and that stream
// goes on; without one it attaches as Events does, and what it returns
// counts as delivered.
func (s *Session) HeldEvents(ctx context.Context, after uint64) ([]*sockdv1.EventsResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := s.api().Events(s.OutgoingContext(ctx),
		&sockdv1.EventsRequest{SessionId: s.id, AfterSequence: after, NoFollow: true})
	if err != nil {
		return nil, err
	}
	var events []*sockdv1.EventsResponse
	// What it returns the caller has read: said with the next calls (as
	// an EventStream's deliveries are), or a session that follows its
	// events too would count them unread, and be refused calls once half
	// its backlog seemed so (a reviewer).
	defer func() {
		for _, ev := range events {
			s.noteTaken(ev.GetSequence())
			if first := ev.GetGap().GetFirstHeld(); first > 0 {
				s.noteTaken(first - 1)
			}
		}
	}()
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		if ev.GetCaughtUp() == nil {
			events = append(events, ev)
		}
	}
}
