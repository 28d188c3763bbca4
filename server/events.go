package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// replayBatch is how many held events one pass of the stream copies out under
// the session lock.
const replayBatch = 256

// CreateSession implements sockdv1.SocketServiceServer.
func (s *Service) CreateSession(ctx context.Context, r *sockdv1.CreateSessionRequest) (*sockdv1.CreateSessionResponse, error) {
	p, err := s.principal(ctx)
	if err != nil {
		return nil, err
	}
	if len(r.GetName()) > 256 {
		return nil, invalidArgument("name", "at most 256 bytes")
	}
	if r.Grace != nil {
		if err := r.Grace.CheckValid(); err != nil || r.Grace.AsDuration() < 0 {
			return nil, invalidArgument("grace", "must be a non-negative duration")
		}
	}
	sess, existing, err := s.sessions.create(p, r.GetName(), r.GetGrace().AsDuration())
	if err != nil {
		return nil, rpcError(err)
	}
	sess.mu.Lock()
	last := sess.log.last()
	sess.mu.Unlock()
	return &sockdv1.CreateSessionResponse{
		SessionId:    sess.id,
		Existing:     existing,
		Grace:        durationpb.New(sess.grace),
		LastSequence: last,
	}, nil
}

// CloseSession implements sockdv1.SocketServiceServer.
func (s *Service) CloseSession(ctx context.Context, r *sockdv1.CloseSessionRequest) (*sockdv1.CloseSessionResponse, error) {
	sess, err := s.sessionByID(ctx, r.GetSessionId())
	if err != nil {
		return nil, err
	}
	s.sessions.end(sess)
	return &sockdv1.CloseSessionResponse{}, nil
}

// Events implements sockdv1.SocketServiceServer: held events after the
// requested sequence, a caught_up marker, then live events until the client
// goes away, another stream replaces this one, or the session ends.
func (s *Service) Events(r *sockdv1.EventsRequest, stream sockdv1.SocketService_EventsServer) error {
	ctx := stream.Context()
	sess, err := s.sessionByID(ctx, r.GetSessionId())
	if err != nil {
		return err
	}
	cursor := r.GetAfterSequence()
	sess.mu.Lock()
	last := sess.log.last()
	sess.mu.Unlock()
	if cursor > last {
		// Resuming after events that do not exist yet would silently skip them.
		return invalidArgument("after_sequence", "the session's last event is %d, got %d", last, cursor)
	}
	att := newAttachment()
	if err := sess.attach(ctx, att); err != nil {
		if errors.Is(err, errSessionEnded) {
			return sessionNotFound(sess.id)
		}
		return rpcError(err)
	}
	defer sess.detach(att)

	// The events go out from a goroutine of their own: a Send blocks while
	// the client does not read (HTTP/2 flow control), and only the
	// handler's return ends the stream and so unblocks it. The handler
	// returns when the stream is replaced, when its client goes away, or
	// once the events of an ended session are flushed (within
	// endFlushTimeout): a client that stops reading cannot keep a replaced
	// stream, or a dead session and everything its log holds, alive.
	stop := make(chan struct{})
	sent := make(chan error, 1)
	go func() { sent <- s.streamEvents(sess, att, stream, cursor, r.GetNoFollow(), stop) }()
	select {
	case err := <-sent:
		return err
	case <-ctx.Done():
		close(stop)
		return rpcError(ctx.Err())
	case <-att.done:
	}
	if errors.Is(att.reason, errStreamReplaced) {
		close(stop)
		return statusError(codes.Aborted, reasonStreamReplaced, att.reason.Error(), nil)
	}
	// The session ended: the sender flushes what its log still holds.
	flushed := time.NewTimer(endFlushTimeout)
	defer flushed.Stop()
	select {
	case err := <-sent:
		return err
	case <-ctx.Done():
		close(stop)
		return rpcError(ctx.Err())
	case <-flushed.C:
		close(stop)
		return statusError(codes.DeadlineExceeded, reasonFlushTimeout,
			fmt.Sprintf("the session ended and its stream took none of its last events for %v", endFlushTimeout), nil)
	}
}

// endFlushTimeout bounds how long a stream may take to receive the events
// its session held when it ended (a variable for tests).
var endFlushTimeout = 10 * time.Second

// errStopped ends a sender whose handler has returned.
var errStopped = errors.New("events stream ended")

// streamEvents is an Events stream's sender: held events after cursor, the
// caught_up marker, then live events, until the session ends (after a last
// flush), the stream is replaced, or stop is closed. Its result is the
// handler's when the handler is still waiting for it.
func (s *Service) streamEvents(sess *Session, att *attachment, stream sockdv1.SocketService_EventsServer, cursor uint64, noFollow bool, stop <-chan struct{}) error {
	cursor, err := s.sendHeld(sess, stream, cursor, stop)
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
			if cursor, err = s.sendHeld(sess, stream, cursor, stop); err != nil {
				return err
			}
		case <-att.done:
			if errors.Is(att.reason, errStreamReplaced) {
				return errStopped // the handler answers
			}
			// The session ended: flush what it still holds, then finish cleanly.
			_, err := s.sendHeld(sess, stream, cursor, stop)
			return err
		case <-stop:
			return errStopped
		}
	}
}

// sendHeld sends every held event after cursor and returns the new cursor.
// Events after cursor that the log no longer holds (sent events trimmed, on
// replay) are reported with a GapEvent first. It stops taking events once
// stop is closed: a stream ended or replaced must not mark as sent what its
// successor has yet to send.
func (s *Service) sendHeld(sess *Session, stream sockdv1.SocketService_EventsServer, cursor uint64, stop <-chan struct{}) (uint64, error) {
	for {
		select {
		case <-stop:
			return cursor, errStopped
		default:
		}
		sess.mu.Lock()
		first := sess.log.firstHeld()
		batch := sess.log.take(cursor, replayBatch)
		sess.mu.Unlock()
		if cursor+1 < first {
			gap := &sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_Gap{Gap: &sockdv1.GapEvent{FirstHeld: first}}}
			if err := stream.Send(gap); err != nil {
				return cursor, err
			}
			cursor = first - 1
		}
		if len(batch) == 0 {
			return cursor, nil
		}
		for _, ev := range batch {
			if ev.Event != nil { // nil: withdrawn by a cancel
				if err := stream.Send(ev); err != nil {
					// What did go out is sent: it must not come back for a
					// cancel to withdraw and answer a second time.
					sess.mu.Lock()
					sess.log.markSent(cursor)
					sess.mu.Unlock()
					return cursor, err
				}
			}
			cursor = ev.Sequence
		}
		sess.mu.Lock()
		sess.log.markSent(cursor)
		sess.mu.Unlock()
	}
}
