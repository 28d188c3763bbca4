package server

import (
	"context"
	"errors"

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

	if cursor, err = s.sendHeld(sess, stream, cursor); err != nil {
		return err
	}
	if err := stream.Send(&sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_CaughtUp{CaughtUp: &sockdv1.CaughtUpEvent{}}}); err != nil {
		return err
	}
	if r.GetNoFollow() {
		return nil
	}
	for {
		select {
		case <-att.notify:
			if cursor, err = s.sendHeld(sess, stream, cursor); err != nil {
				return err
			}
		case <-att.done:
			if errors.Is(att.reason, errStreamReplaced) {
				return statusError(codes.Aborted, reasonStreamReplaced, att.reason.Error(), nil)
			}
			// The session ended: flush what it still holds, then finish cleanly.
			_, err := s.sendHeld(sess, stream, cursor)
			return err
		case <-ctx.Done():
			return rpcError(ctx.Err())
		}
	}
}

// sendHeld sends every held event after cursor and returns the new cursor.
// Events after cursor that the log no longer holds (it overflowed, on replay
// or while the stream was attached) are reported with a GapEvent first.
func (s *Service) sendHeld(sess *Session, stream sockdv1.SocketService_EventsServer, cursor uint64) (uint64, error) {
	for {
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
