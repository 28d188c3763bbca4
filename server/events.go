package server

import (
	"context"
	"errors"
	"time"

	"github.com/sockd/sockd/internal/pipewire"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// replayBatch is how many held events one pass of the stream copies out under
// the session lock.
const replayBatch = 256

// Events implements sockdv1.SocketServiceServer: held events after the
// requested sequence, a caught_up marker, then live events until the client
// goes away, another stream replaces this one, or the session ends.
func (s *Service) Events(r *sockdv1.EventsRequest, stream sockdv1.SocketService_EventsServer) error {
	ctx := stream.Context()
	sess, err := s.session(ctx, r.GetSessionId(), false)
	if err != nil {
		return err
	}
	if auth, ok := peerAuthOf(ctx); ok && auth.answers != nil {
		stream = accountedEvents{SocketService_EventsServer: stream, answers: newStreamAccount(auth.answers),
			admin: func() bool { return s.isAdmin(auth.principal) }}
	}
	cursor := r.GetAfterSequence()
	sess.mu.Lock()
	last := sess.events.last()
	sess.mu.Unlock()
	if cursor > last {
		// Resuming after events that do not exist yet would silently skip them.
		return invalidArgument("after_sequence", "the session's last event is %d, got %d", last, cursor)
	}
	att := newAttachment()
	// A no-follow read while another stream follows only reads: decided
	// under the lock that attaches, or a follower attaching meanwhile was
	// replaced by it (a reviewer: 4 in 3000).
	following, err := sess.attachUnlessFollowed(ctx, att, r.GetNoFollow())
	if err != nil {
		if errors.Is(err, errSessionEnded) {
			return sessionNotFound(sess.id)
		}
		return rpcError(err)
	}
	if following {
		return peekHeld(sess, stream, cursor)
	}
	defer sess.detach(att)

	// The events go out from a goroutine of their own: a Send blocks while
	// the client does not read (HTTP/2 flow control), and only the
	// handler's return ends the stream and so unblocks it. The handler
	// returns when the stream is replaced, when its client goes away, or
	// once the events of an ended session are flushed (as long as the
	// client keeps taking them): a client that stops reading cannot keep a
	// replaced stream, or a dead session and everything its log holds,
	// alive.
	snd := newEventSender()
	att.sending.Store(true)
	go func() {
		err := s.streamEvents(sess, att, stream, cursor, r.GetNoFollow(), snd)
		att.sending.Store(false)
		snd.result <- err
	}()
	select {
	case err := <-snd.result:
		return senderEnd(att, err)
	case <-ctx.Done():
		return snd.abandon(ctx)
	case <-att.done:
	}
	if errors.Is(att.reason, errStreamReplaced) {
		close(snd.stop) // it may be blocked in a Send that only this return ends
		return replaced(att)
	}
	// The session ended: the sender flushes what its log still holds, which
	// its principal's bytes count until then (Session.detach).
	idle := time.NewTimer(endFlushTimeout)
	defer idle.Stop()
	whole := time.NewTimer(endFlushLimit)
	defer whole.Stop()
	for {
		select {
		case err := <-snd.result:
			return senderEnd(att, err)
		case <-snd.progress:
			idle.Reset(endFlushTimeout)
		case <-ctx.Done():
			return snd.abandon(ctx)
		case <-idle.C:
			close(snd.stop)
			return flushTimedOut(endFlushTimeout)
		case <-whole.C:
			close(snd.stop)
			return flushTookTooLong(endFlushLimit)
		}
	}
}

// accountedEvents is an Events stream whose events stay on its
// connection's answer account while gRPC holds them, and which waits to
// send while that account is saturated (streamAccount.waitRoom).
type accountedEvents struct {
	sockdv1.SocketService_EventsServer
	answers *streamAccount
	admin   func() bool // whether its principal is an admin (waitRoom)
}

func (s accountedEvents) Send(ev *sockdv1.EventsResponse) error {
	if err := s.answers.waitRoom(s.Context(), s.admin); err != nil {
		return err
	}
	return s.SendMsg(&pipewire.Accounted{Msg: ev, Account: s.answers})
}

// eventSender is what an Events handler shares with its sender goroutine.
type eventSender struct {
	stop     chan struct{} // closed by the handler: send no more
	progress chan struct{} // an event went out (capacity 1: signals coalesce)
	result   chan error    // the sender's end
}

func newEventSender() *eventSender {
	return &eventSender{stop: make(chan struct{}), progress: make(chan struct{}, 1), result: make(chan error, 1)}
}

// stopped reports whether the handler told the sender to stop.
func (snd *eventSender) stopped() bool {
	select {
	case <-snd.stop:
		return true
	default:
		return false
	}
}

// sentOne signals that an event went out.
func (snd *eventSender) sentOne() {
	select {
	case snd.progress <- struct{}{}:
	default:
	}
}

// abandon ends the handler of a stream whose client went away. The stream
// is over, so a Send blocked in it returns now: the handler waits for its
// sender (for a bounded time), so that what went out is marked sent before
// detach lets a Cancel take back, and answer itself, what did not (a
// sender still running then keeps detach from letting it).
func (snd *eventSender) abandon(ctx context.Context) error {
	close(snd.stop)
	select {
	case <-snd.result:
	case <-time.After(time.Second):
	}
	return rpcError(ctx.Err())
}

// senderEnd is the handler's answer when its sender ended by itself: a
// sender stops (errStopped) when it sees its stream replaced, which the
// handler answers as it would have had it seen the replacement first.
func senderEnd(att *attachment, err error) error {
	if errors.Is(err, errStopped) && errors.Is(att.reason, errStreamReplaced) {
		return replaced(att)
	}
	return err
}

// replaced is the status that ends a stream another one replaced.
func replaced(att *attachment) error {
	return streamReplaced(att.reason)
}

// endFlushTimeout bounds how long a stream may take to receive the events
// its session held when it ended (a variable for tests).
var endFlushTimeout = 10 * time.Second

// endFlushLimit bounds the whole flush of an ended session's events: a
// client that takes one event every few seconds would otherwise keep a
// dead session's log for hours (a variable for tests).
var endFlushLimit = time.Minute

// errStopped ends a sender whose handler has returned.
var errStopped = errors.New("events stream ended")

// streamEvents is an Events stream's sender: held events after cursor, the
// caught_up marker, then live events, until the session ends (after a last
// flush), the stream is replaced, or stop is closed. Its result is the
// handler's when the handler is still waiting for it.
func (s *Service) streamEvents(sess *Session, att *attachment, stream sockdv1.SocketService_EventsServer, cursor uint64, noFollow bool, snd *eventSender) error {
	cursor, err := sendHeld(sess, stream, cursor, snd)
	if err != nil {
		return err
	}
	if err := stream.Send(&sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_CaughtUp{CaughtUp: &sockdv1.CaughtUpEvent{}}}); err != nil {
		return err
	}
	if noFollow {
		return nil
	}
	for {
		select {
		case <-att.notify:
			if cursor, err = sendHeld(sess, stream, cursor, snd); err != nil {
				return err
			}
		case <-att.done:
			if errors.Is(att.reason, errStreamReplaced) {
				return errStopped // the handler answers
			}
			// The session ended: flush what it still holds, then finish cleanly.
			_, err := sendHeld(sess, stream, cursor, snd)
			return err
		case <-snd.stop:
			return errStopped
		}
	}
}

// skipGap moves cursor past the events after it that the log no longer
// holds (first is its oldest), telling the stream with a GapEvent when any
// of them was an event (lost), not only withdrawn ones.
func skipGap(stream sockdv1.SocketService_EventsServer, cursor, first, lost uint64) (uint64, error) {
	if cursor+1 >= first {
		return cursor, nil
	}
	if lost > cursor {
		gap := &sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_Gap{Gap: &sockdv1.GapEvent{FirstHeld: first}}}
		if err := stream.Send(gap); err != nil {
			return cursor, err
		}
	}
	return first - 1, nil
}

// peekHeld answers a no-follow stream while another stream follows the
// session: the held events after cursor, then caught_up, taking nothing
// from the stream that follows, which sends them too, and marking nothing
// sent (a reviewer's `sockctl events` ended a `sockctl events --follow`
// elsewhere). With no stream attached, a no-follow stream attaches and
// takes what it sends, as a follower does.
func peekHeld(sess *Session, stream sockdv1.SocketService_EventsServer, cursor uint64) error {
	for {
		sess.mu.Lock()
		first, lost := sess.events.firstHeld(), sess.events.lost
		batch := sess.events.after(cursor, replayBatch)
		sess.mu.Unlock()
		var err error
		if cursor, err = skipGap(stream, cursor, first, lost); err != nil {
			return err
		}
		if len(batch) == 0 {
			return stream.Send(&sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_CaughtUp{CaughtUp: &sockdv1.CaughtUpEvent{}}})
		}
		for _, ev := range batch {
			if ev.Event != nil { // nil: withdrawn by a cancel
				if err := stream.Send(ev); err != nil {
					return err
				}
			}
			cursor = ev.Sequence
		}
	}
}

// sendHeld sends every held event after cursor and returns the new cursor.
// Events after cursor that the log no longer holds (sent events trimmed, on
// replay) are reported with a GapEvent first. It stops taking events once
// stop is closed: a stream ended or replaced must not mark as sent what its
// successor has yet to send. snd hears of every event sent.
func sendHeld(sess *Session, stream sockdv1.SocketService_EventsServer, cursor uint64, snd *eventSender) (uint64, error) {
	// markSent records what went out, through cursor: it must not come back
	// for a cancel to withdraw and answer a second time.
	markSent := func() {
		sess.mu.Lock()
		sess.events.markSent(cursor)
		sess.mu.Unlock()
	}
	for {
		if snd.stopped() {
			return cursor, errStopped
		}
		sess.mu.Lock()
		first, lost := sess.events.firstHeld(), sess.events.lost
		batch := sess.events.take(cursor, replayBatch)
		sess.mu.Unlock()
		var err error
		if cursor, err = skipGap(stream, cursor, first, lost); err != nil {
			return cursor, err
		}
		if len(batch) == 0 {
			return cursor, nil
		}
		for _, ev := range batch {
			if ev.Event != nil && snd.stopped() {
				// Replaced or abandoned mid-batch: the rest is the next
				// stream's to send.
				markSent()
				return cursor, errStopped
			}
			if ev.Event != nil { // nil: withdrawn by a cancel
				if err := stream.Send(ev); err != nil {
					markSent()
					return cursor, err
				}
				snd.sentOne()
			}
			cursor = ev.Sequence
		}
		markSent()
	}
}
