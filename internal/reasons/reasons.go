// Package reasons names the google.rpc.ErrorInfo reasons of the daemon's
// statuses: the wire contract that the server writes and the client reads,
// kept in one place so that the two cannot drift apart.
package reasons

// Domain is the ErrorInfo domain of every status the daemon makes.
const Domain = "sockd"

// The reasons. Each names one kind of failure, which the status message and
// the ErrorInfo metadata say more of (which argument is invalid, which quota
// is reached); no reason stands for two kinds.
const (
	InvalidArgument    = "INVALID_ARGUMENT"
	MissingSession     = "SESSION_REQUIRED"
	Unauthenticated    = "UNAUTHENTICATED"
	NotConnectedStream = "NOT_CONNECTED_STREAM" // Pipe or Relay on a socket that is no connected stream
	SocketStreamed     = "SOCKET_STREAMED"      // Pipe or Relay on a socket a Pipe or Relay already streams
	SessionNotFound    = "SESSION_NOT_FOUND"
	SocketNotFound     = "SOCKET_NOT_FOUND"
	QuotaExceeded      = "QUOTA_EXCEEDED"
	RequestTooComplex  = "REQUEST_TOO_COMPLEX"
	MalformedRequest   = "MALFORMED_REQUEST" // a request that does not decode
	Draining           = "DRAINING"
	StreamReplaced     = "EVENT_STREAM_REPLACED"
	FlushTimeout       = "EVENT_FLUSH_TIMEOUT" // an ended session's stream did not take its last events in time
	PolicyDenied       = "POLICY_DENIED"       // the policy in force does not allow it
	AdminRequired      = "ADMIN_REQUIRED"      // a daemon-wide setting only an admin may change
	CrossPrincipal     = "CROSS_PRINCIPAL"     // a Relay between two principals' sockets
	ControlForbidden   = "CONTROL_FORBIDDEN"   // a control message no principal may send
	CallCancelled      = "CALL_CANCELLED"
	CallDeadline       = "CALL_DEADLINE_EXCEEDED"
	Internal           = "INTERNAL"
	UnknownMethod      = "UNKNOWN_METHOD"
	RequestForgotten   = "REQUEST_FORGOTTEN"   // a call made again whose first answer its session no longer keeps
	SocketReadDiffers  = "SOCKET_READ_DIFFERS" // a Pipe whose start's read_bytes is not what its socket has read
)
