package server

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// maxLoggedAnswers is how many answers of calls made with a request id a
// session keeps, and maxForgottenIDs how many ids of answers it has dropped
// it remembers after them. A client makes a call again at once when its
// connection is back, and only the calls that were in flight on the broken
// one: both are far more than that needs, and small enough that a
// session's log stays a few tens of KB (an answer of Open or Accept is tens
// of bytes).
const (
	maxLoggedAnswers = 64
	maxForgottenIDs  = 512
)

// requestLog is a session's record of its calls made with a request id
// (AIP-155's request_id: Open and Accept take one), so that a client whose
// connection to the daemon broke under such a call can make it again and be
// answered what the first call did. Without it a call made again does it
// twice: the first call's socket stays open in the session, its id known to
// no one, and a peer's connection the first Accept took is lost to the
// client.
//
// A call with the id of one that is running waits for it; of one answered
// gets a copy of that answer; of one that failed (a status: nothing was
// done) runs. Of the forgotten ones' ids only a hash is kept, enough to
// refuse them (REQUEST_FORGOTTEN) rather than run them twice.
type requestLog struct {
	mu       sync.Mutex
	calls    map[string]*loggedCall // running and answered
	answered []string               // ids of the answered calls in calls, oldest first
	// forgotten is a ring of the hashes of the last maxForgottenIDs ids
	// dropped from calls; made once the log first forgets one.
	forgotten []uint64
	forgot    int // ids forgotten so far: the next one goes at forgot % maxForgottenIDs
}

// loggedCall is one call in the log.
type loggedCall struct {
	// target is what the id was first used for.
	target callTarget
	done   chan struct{}
	// answer is the call's answer, once done is closed; nil if it failed.
	answer proto.Message
	// failure is the failure of a call that failed having done something
	// (keptFailure), which a call made again answers too.
	failure error
}

// keptFailure is a call's failure after it did something (a datagram sent,
// then the policy refused the bind it made): unlike other failures it is
// kept in the log, for a call made again to answer it rather than run.
type keptFailure struct{ err error }

func (k keptFailure) Error() string { return k.err.Error() }

// callTarget is what a call is for: its method, and socket (none for Open).
type callTarget struct{ method, socket string }

func (t callTarget) String() string {
	if t.socket == "" {
		return t.method
	}
	return t.method + " on " + t.socket
}

// requestIDSeed hashes the ids the logs forget.
var requestIDSeed = maphash.MakeSeed()

// once returns call's answer, unless the session has made the call of id
// already: then the first call's answer, once it has one. target is the
// method and socket the call is for. A call whose answer the log still
// waits for is waited for, as long as ctx allows.
func (l *requestLog) once(ctx context.Context, id string, target callTarget, call func() (proto.Message, error)) (proto.Message, error) {
	if len(id) > maxIDLen {
		return nil, invalidArgument("request_id", "%d bytes: request ids have at most %d", len(id), maxIDLen)
	}
	for {
		l.mu.Lock()
		c, ok := l.calls[id]
		if !ok {
			if l.forgets(id) {
				l.mu.Unlock()
				return nil, requestForgotten(id)
			}
			if l.calls == nil {
				l.calls = make(map[string]*loggedCall)
			}
			c = &loggedCall{target: target, done: make(chan struct{})}
			l.calls[id] = c
			l.mu.Unlock()
			return l.run(id, c, call)
		}
		l.mu.Unlock()
		if c.target != target {
			return nil, invalidArgument("request_id", "%q is this session's id of another call (%s)", id, c.target)
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, rpcError(ctx.Err())
		}
		if c.answer != nil {
			return proto.Clone(c.answer), nil
		}
		if c.failure != nil {
			return nil, c.failure
		}
		// That call failed and left the log: this one runs, unless
		// another made again meanwhile is already running it.
	}
}

// run makes the call of id that c logs, and records its answer (a call that
// panics failed).
func (l *requestLog) run(id string, c *loggedCall, call func() (proto.Message, error)) (answer proto.Message, err error) {
	returned := false
	defer func() {
		var kept keptFailure
		if errors.As(err, &kept) {
			answer, err = nil, kept.err
			c.failure = err
		}
		l.finish(id, c, answer, returned && (err == nil || c.failure != nil))
	}()
	answer, err = call()
	returned = true
	return answer, err
}

// finish records the end of the call of id that c logs: its answer if it
// answered (forgetting the oldest answer past maxLoggedAnswers), or that
// it failed, which drops it from the log.
func (l *requestLog) finish(id string, c *loggedCall, answer proto.Message, answered bool) {
	l.mu.Lock()
	if answered && (answer != nil || c.failure != nil) {
		c.answer = answer
		l.answered = append(l.answered, id)
		if len(l.answered) > maxLoggedAnswers {
			oldest := l.answered[0]
			l.answered = append(l.answered[:0], l.answered[1:]...)
			delete(l.calls, oldest)
			l.forget(oldest)
		}
	} else {
		delete(l.calls, id)
	}
	l.mu.Unlock()
	close(c.done)
}

// forget remembers that the log dropped id's answer. l.mu is held.
func (l *requestLog) forget(id string) {
	if l.forgotten == nil {
		l.forgotten = make([]uint64, maxForgottenIDs)
	}
	l.forgotten[l.forgot%maxForgottenIDs] = maphash.String(requestIDSeed, id)
	l.forgot++
}

// forgets reports whether the log dropped id's answer, as far as it
// remembers. l.mu is held.
func (l *requestLog) forgets(id string) bool {
	if l.forgot == 0 {
		return false
	}
	h := maphash.String(requestIDSeed, id)
	for _, f := range l.forgotten[:min(l.forgot, maxForgottenIDs)] {
		if f == h {
			return true
		}
	}
	return false
}

// requestOnce is requestLog.once for a call of sess answering T; without an
// id it is call.
func requestOnce[T proto.Message](ctx context.Context, sess *Session, id string, target callTarget, call func() (T, error)) (T, error) {
	if id == "" {
		return call()
	}
	answer, err := sess.requests.once(ctx, id, target, func() (proto.Message, error) { return call() })
	if err != nil {
		var none T
		return none, err
	}
	return answer.(T), nil
}

// sentAnswer is the answer of Send, SendTo and SendMsg.
type sentAnswer interface {
	proto.Message
	GetBytesSent() uint64
}

// sendOnce is requestOnce for a send with request id id, method, on the
// socket socketID (its session resolved first, for the log). A send that
// failed with its call's end (cancelled, or past its deadline) after part
// of its data went did something: its answer, with that part and the error
// cancelled (setError), is kept for the call made again, which would
// otherwise send that part twice; one that failed otherwise after data
// went (the policy refused the bind a datagram's send made) fails the call
// made again the same way, as it would not be sent again.
func sendOnce[T sentAnswer](ctx context.Context, s *Service, id, method, socketID string, send func() (T, error), setError func(T, *sockdv1.SocketError)) (T, error) {
	sess, sock, err := s.target(ctx, socketID)
	if err != nil {
		var none T
		return none, err
	}
	return requestOnce(ctx, sess, id, callTarget{method, sock.ID()}, func() (T, error) {
		resp, err := send()
		switch {
		case err == nil || resp.GetBytesSent() == 0:
			return resp, err
		case ctx.Err() != nil:
			setError(resp, socketError(engine.ErrCancelled))
			return resp, nil
		}
		return resp, keptFailure{err}
	})
}
