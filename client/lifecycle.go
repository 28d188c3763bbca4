package client

import (
	"context"
	"crypto/rand"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// DefaultBacklog is the listen backlog Erlang's listen/1 uses.
const DefaultBacklog = 5

// OpenOpts are the options of Erlang's open/4.
type OpenOpts struct {
	// UseRegistry registers the socket (or not); nil follows the daemon's
	// global default.
	UseRegistry *bool
	// Debug turns on the daemon's per-socket debug logging.
	Debug bool
	// NetNS creates the socket in this network namespace, e.g.
	// /run/netns/blue.
	NetNS string
	// RequestID, when set (NewRequestID makes one), lets the call be made
	// again after the connection to the daemon broke under it: the session
	// answers the socket the first call opened rather than open another
	// (OpenRequest.request_id).
	RequestID string
}

// NewRequestID returns a random request id, for a call that may be made
// again with it (OpenOpts.RequestID, AcceptOnce).
func NewRequestID() string { return rand.Text() }

// Open creates a socket owned by the session and returns its id in the
// response.
func (s *Session) Open(ctx context.Context, domain Domain, typ Type, protocol Protocol, opts OpenOpts) (*sockdv1.OpenResponse, error) {
	return result(s.api().Open(s.OutgoingContext(ctx), &sockdv1.OpenRequest{
		Domain:         domain.Enum,
		DomainNumber:   domain.Number,
		Type:           typ.Enum,
		TypeNumber:     typ.Number,
		Protocol:       protocol.Enum,
		ProtocolNumber: protocol.Number,
		UseRegistry:    opts.UseRegistry,
		Debug:          opts.Debug,
		Netns:          opts.NetNS,
		RequestId:      opts.RequestID,
	}))
}

// Bind binds the socket to a local address.
func (s *Session) Bind(ctx context.Context, id string, addr *sockdv1.SockAddr) (*sockdv1.BindResponse, error) {
	return result(s.api().Bind(s.OutgoingContext(ctx), &sockdv1.BindRequest{SocketId: id, Address: addr}))
}

// BindUnlinking is Bind, and a local path's socket file is removed when the
// socket closes, if the path still names it, where the daemon can remove it
// with rights the client has itself (BindRequest.unlink_on_close says
// where); elsewhere the file stays, as after Bind.
func (s *Session) BindUnlinking(ctx context.Context, id string, addr *sockdv1.SockAddr) (*sockdv1.BindResponse, error) {
	return result(s.api().Bind(s.OutgoingContext(ctx), &sockdv1.BindRequest{SocketId: id, Address: addr, UnlinkOnClose: true}))
}

// Listen makes the socket listen with the given backlog (see DefaultBacklog).
func (s *Session) Listen(ctx context.Context, id string, backlog int32) (*sockdv1.ListenResponse, error) {
	return result(s.api().Listen(s.OutgoingContext(ctx), &sockdv1.ListenRequest{SocketId: id, Backlog: &backlog}))
}

// Connect connects the socket to addr. With a nil addr it finalises a
// connect that answered select (Erlang's connect/1).
func (s *Session) Connect(ctx context.Context, id string, addr *sockdv1.SockAddr, t Timeout) (*sockdv1.ConnectResponse, error) {
	return result(s.api().Connect(s.OutgoingContext(ctx), &sockdv1.ConnectRequest{SocketId: id, Address: addr, Timeout: t.Proto()}))
}

// Accept accepts a connection on a listening socket; the response holds the
// new socket's id, owned by this session.
func (s *Session) Accept(ctx context.Context, id string, t Timeout) (*sockdv1.AcceptResponse, error) {
	return s.AcceptOnce(ctx, id, t, "")
}

// AcceptOnce is Accept with a request id (NewRequestID), for a caller
// that makes the call again, with the same id, when the connection to the
// daemon broke under it (UNAVAILABLE): the session answers the connection
// the first call accepted, if it did, rather than accept another and leave
// that one in the session, its id known to no one. A new accept takes a new
// id (AcceptRequest.request_id).
func (s *Session) AcceptOnce(ctx context.Context, id string, t Timeout, requestID string) (*sockdv1.AcceptResponse, error) {
	return result(s.api().Accept(s.OutgoingContext(ctx), &sockdv1.AcceptRequest{SocketId: id, Timeout: t.Proto(), RequestId: requestID}))
}

// Shutdown shuts down one or both directions of the socket.
func (s *Session) Shutdown(ctx context.Context, id string, how sockdv1.ShutdownHow) (*sockdv1.ShutdownResponse, error) {
	return result(s.api().Shutdown(s.OutgoingContext(ctx), &sockdv1.ShutdownRequest{SocketId: id, How: how}))
}

// CloseSocket closes the socket; every operation waiting on it is aborted
// with closed. (Close closes the session.)
func (s *Session) CloseSocket(ctx context.Context, id string) (*sockdv1.CloseResponse, error) {
	return result(s.api().Close(s.OutgoingContext(ctx), &sockdv1.CloseRequest{SocketId: id}))
}

// Cancel cancels a pending nowait operation, named by the AsyncInfo its call
// returned. After Cancel returns, the session's EventStreams deliver no
// event of the cancelled operation: a select or an abort still on its way
// from the daemon, or received and waiting to be taken from C, is dropped,
// as Erlang's cancel flushes it from the mailbox, also when Cancel answers
// invalid or closed because the abort came first (a goroutine taking
// events while another cancels may take it just before). A
// handle reused for operations of other lanes keeps their events. A
// completion-mode operation's result is not lost: when it had done part of
// its work, or had finished and the caller had not taken its event from
// an EventStream of this Session, the response's Completion carries it,
// and no event follows; one the caller had taken is not repeated there.
func (s *Session) Cancel(ctx context.Context, id string, info *sockdv1.AsyncInfo) (*sockdv1.CancelResponse, error) {
	resp, err := result(s.api().Cancel(s.OutgoingContext(ctx), &sockdv1.CancelRequest{SocketId: id, Info: info}))
	// The handle's selects and aborts on their way are void, as Erlang's
	// cancel flushes them from the mailbox, also when it answers invalid
	// or closed (an abort of a queued op, or of a close, that came first:
	// a reviewer saw it delivered after Cancel returned). Of the lane of
	// the operation cancelled; when none was pending, of the operation
	// asked for, or of every lane (as the daemon takes back what it still
	// held: what is on its way for the handle is stale).
	if through := resp.GetFlushedThrough(); through != 0 {
		lane := info.GetOperation()
		if err == nil && resp.GetOperation() != sockdv1.Operation_OPERATION_UNSPECIFIED {
			lane = resp.GetOperation()
		}
		s.voided.caughtUp(s.voided.add(id, info.GetHandle(), lane, through))
	}
	if seq := resp.GetCompletionSequence(); seq != 0 && resp.GetCompletion() != nil {
		// The result was on its way on the event stream: it goes no
		// further, unless the stream gave it to the caller first.
		s.voided.caughtUp(s.voided.addResult(id, info.GetHandle(), seq))
		if s.voided.tookResult(id, info.GetHandle(), seq) {
			resp.Completion, resp.CompletionSequence = nil, 0
		}
	}
	return resp, err
}
