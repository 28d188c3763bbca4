package client

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// SessionMetadataKey is the gRPC metadata key that names the calling session
// on every call except CreateSession and Events.
const SessionMetadataKey = "sockd-session"

// EventsTakenMetadataKey is the gRPC metadata key by which a call tells the
// daemon the last event the application has received from the session's
// EventStreams: until then the daemon counts the events it sent after it as
// undelivered (against the backlog that refuses calls which would owe
// events) and keeps them for a resume. Without it an event counts as
// delivered once the stream's transport took it, which may be a
// flow-control window ahead of what the application read.
const EventsTakenMetadataKey = "sockd-events-taken"

// Session is the caller identity of Erlang's model: it owns the sockets it
// opens and receives the events of the operations it starts. A Session is
// safe for concurrent use; its methods only add the session to each call.
type Session struct {
	client   *Client
	id       string
	existing bool
	grace    time.Duration
	lastSeq  uint64
	voided   voidedSelects
	taken    atomic.Uint64  // the last event its EventStreams delivered
	follows  atomic.Bool    // it has started an EventStream
	keeper   keeper         // calls while idle adapters are open
	sends    sendProgresses // SendOnce calls to be made again
}

// CreateSession creates a session, or returns the caller's live session of
// the same name (then Existing reports true). An empty name always creates a
// new session. grace is how long the session outlives its event stream, or
// without one its last call (a call that waits, a Conn's Pipe, a Relay keeps
// it while it runs; while a PacketConn or Listener is open the Session makes
// a call every third of its grace, so that adapters used without Events
// stay, as package net's sockets do); 0 asks for the daemon's default, and
// the daemon caps it at its maximum.
func (c *Client) CreateSession(ctx context.Context, name string, grace time.Duration) (*Session, error) {
	req := &sockdv1.CreateSessionRequest{Name: name}
	if grace > 0 {
		req.Grace = durationpb.New(grace)
	}
	return c.createSession(ctx, req)
}

// FindSession returns the caller's live session of this name, creating
// none: without one it fails with a NotFound status (reason
// SESSION_NOT_FOUND). Being asked for is a use: a detached session's grace
// starts over.
func (c *Client) FindSession(ctx context.Context, name string) (*Session, error) {
	return c.createSession(ctx, &sockdv1.CreateSessionRequest{Name: name, ExistingOnly: true})
}

func (c *Client) createSession(ctx context.Context, req *sockdv1.CreateSessionRequest) (*Session, error) {
	resp, err := c.api.CreateSession(ctx, req)
	if err != nil {
		return nil, err
	}
	return &Session{
		client:   c,
		id:       resp.GetSessionId(),
		existing: resp.GetExisting(),
		grace:    resp.GetGrace().AsDuration(),
		lastSeq:  resp.GetLastSequence(),
	}, nil
}

// ResumeSession returns a handle for a session whose id is already known, for
// example one created by another process. It makes no call: if the session no
// longer exists, the first call fails with NOT_FOUND.
func (c *Client) ResumeSession(id string) *Session {
	return &Session{client: c, id: id}
}

// ID returns the session's id, the value of the "sockd-session" metadata.
func (s *Session) ID() string { return s.id }

// Existing reports whether CreateSession returned a session that already
// existed, with whatever sockets and undelivered events it holds.
func (s *Session) Existing() bool { return s.existing }

// Grace returns the grace period the daemon granted (0 after ResumeSession).
func (s *Session) Grace() time.Duration { return s.grace }

// defaultGrace stands for the grace of a session whose grace the client was
// not told (ResumeSession): the daemon's default.
const defaultGrace = 30 * time.Second

// graceOrDefault is how long the daemon keeps the session without a call or
// a stream: its grace, or defaultGrace when it is not known.
func (s *Session) graceOrDefault() time.Duration {
	if s.grace > 0 {
		return s.grace
	}
	return defaultGrace
}

// LastSequence returns the sequence number of the session's newest event when
// CreateSession returned: an Events stream started after it sees only newer
// events.
func (s *Session) LastSequence() uint64 { return s.lastSeq }

// OutgoingContext returns ctx with the session attached, for calls made
// through Raw, and, once it has started an EventStream, the last event its
// EventStreams delivered (EventsTakenMetadataKey; 0 before the first): the
// daemon then keeps what they received and the caller has not taken, and
// a Cancel can answer a result on its way instead of its event.
func (s *Session) OutgoingContext(ctx context.Context) context.Context {
	if taken := s.taken.Load(); taken > 0 || s.follows.Load() {
		return metadata.AppendToOutgoingContext(ctx, SessionMetadataKey, s.id, EventsTakenMetadataKey, strconv.FormatUint(taken, 10))
	}
	return metadata.AppendToOutgoingContext(ctx, SessionMetadataKey, s.id)
}

// noteTaken records that the application has received the events through
// seq.
func (s *Session) noteTaken(seq uint64) {
	for {
		was := s.taken.Load()
		if seq <= was || s.taken.CompareAndSwap(was, seq) {
			return
		}
	}
}

// Close ends the session now, as if its Erlang process died: its sockets
// close and every operation it waits on is aborted. It first waits, while
// ctx allows, for what the Close of its Conns, Listeners and PacketConns
// left to the background (a Conn's draining bytes, a close waiting out an
// outage within the grace); the session is closed all the same.
func (s *Session) Close(ctx context.Context) error {
	for _, ch := range s.client.drained(s.id) {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
	}
	_, err := s.client.api.CloseSession(s.OutgoingContext(ctx), &sockdv1.CloseSessionRequest{SessionId: s.id})
	if err == nil {
		s.client.endSession(s.id)
		s.stopKeeping()
	}
	return err
}

// sessionEnd is closed once a Close of the client's, through any of its
// handles of the session, has ended the session in the daemon: its Conns'
// pipes end with it, and what they had not read is for no one. conns
// counts the Conns that watch it.
type sessionEnd struct {
	ended chan struct{}
	conns int
}

// watchSessionEnd is what a Conn of session id watches for the session's
// end, and the release it calls once it watches no more.
func (c *Client) watchSessionEnd(id string) (ended <-chan struct{}, release func()) {
	c.endsMu.Lock()
	defer c.endsMu.Unlock()
	if c.sessionEnds == nil {
		c.sessionEnds = map[string]*sessionEnd{}
	}
	e := c.sessionEnds[id]
	if e == nil {
		e = &sessionEnd{ended: make(chan struct{})}
		c.sessionEnds[id] = e
	}
	e.conns++
	return e.ended, func() {
		c.endsMu.Lock()
		defer c.endsMu.Unlock()
		if e.conns--; e.conns == 0 && c.sessionEnds[id] == e {
			delete(c.sessionEnds, id)
		}
	}
}

// endSession tells session id's Conns that it has ended.
func (c *Client) endSession(id string) {
	c.endsMu.Lock()
	defer c.endsMu.Unlock()
	if e := c.sessionEnds[id]; e != nil {
		close(e.ended)
		delete(c.sessionEnds, id)
	}
}

// api returns the stubs; calls through it must use OutgoingContext.
func (s *Session) api() sockdv1.SocketServiceClient { return s.client.api }

// Client returns the client the session was created with, for the calls
// that need no session (NumberOf, WhichSockets, UseRegistry, GlobalInfo).
func (s *Session) Client() *Client { return s.client }
