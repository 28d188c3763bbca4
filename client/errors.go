package client

import (
	"errors"
	"syscall"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Sentinels for the socket outcomes that are not POSIX errors; a *SocketError
// matches them with errors.Is. POSIX outcomes match their syscall.Errno:
// errors.Is(err, syscall.ECONNREFUSED).
var (
	ErrClosed    = errors.New("closed")
	ErrTimeout   = errors.New("timeout")
	ErrAlready   = errors.New("already")
	ErrCancelled = errors.New("cancelled")
	ErrInvalid   = errors.New("invalid")
)

// SocketError is a socket-level outcome, Erlang's {error, Reason}: the daemon
// answered, and the answer is an error. The response it came with is returned
// too, because it may hold partial progress (bytes read before a timeout,
// bytes sent before a failure).
//
// Failures of the call itself (unknown socket, malformed request, daemon
// unreachable) are gRPC status errors instead.
type SocketError struct {
	Proto *sockdv1.SocketError
}

// Error returns the reason as Erlang spells it: "closed", "timeout",
// "econnrefused", or "invalid state" for {invalid, state}.
func (e *SocketError) Error() string {
	p := e.Proto
	if p.GetKind() != sockdv1.SocketError_KIND_INVALID {
		if r := p.GetReason(); r != "" {
			return r
		}
		return p.GetMessage()
	}
	s := "invalid"
	if w := p.GetInvalid(); w != "" {
		s += " " + w
	}
	if v := p.GetInvalidValue(); v != "" {
		s += ": " + v
	}
	return s
}

// Kind classifies the error.
func (e *SocketError) Kind() sockdv1.SocketError_Kind { return e.Proto.GetKind() }

// Errno returns the OS error number of a POSIX outcome, 0 otherwise.
func (e *SocketError) Errno() syscall.Errno { return syscall.Errno(e.Proto.GetErrno()) }

// Is makes errors.Is match the sentinels of this package by kind, and a
// syscall.Errno by number.
func (e *SocketError) Is(target error) bool {
	if errno, ok := target.(syscall.Errno); ok {
		return e.Proto.GetKind() == sockdv1.SocketError_KIND_POSIX && e.Errno() == errno
	}
	switch e.Proto.GetKind() {
	case sockdv1.SocketError_KIND_CLOSED:
		return target == ErrClosed
	case sockdv1.SocketError_KIND_TIMEOUT:
		return target == ErrTimeout
	case sockdv1.SocketError_KIND_ALREADY:
		return target == ErrAlready
	case sockdv1.SocketError_KIND_CANCELLED:
		return target == ErrCancelled
	case sockdv1.SocketError_KIND_INVALID:
		return target == ErrInvalid
	}
	return false
}

// Temporary reports whether the error is a POSIX error that Go calls
// temporary (syscall.Errno.Temporary: emfile, enfile, eagain, eintr,
// etimedout), so that a net.OpError wrapping it is Temporary as package
// net's are: http.Serve retries an Accept that fails so, where it would stop
// on any other error.
func (e *SocketError) Temporary() bool {
	return e.Proto.GetKind() == sockdv1.SocketError_KIND_POSIX && e.Errno().Temporary()
}

// temporaryError marks an error a later retry may not meet.
type temporaryError struct{ error }

func (e temporaryError) Temporary() bool { return true }
func (e temporaryError) Unwrap() error   { return e.error }

// acceptTemporary marks what package net's Accept calls temporary, beyond
// SocketError.Temporary: a connection reset or aborted before it was taken
// (net.OpError's rule for accept), and a daemon's RESOURCE_EXHAUSTED (a
// quota, its socket cap), which passes as emfile does.
func acceptTemporary(err error) error {
	if status.Code(err) == codes.ResourceExhausted ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) {
		return temporaryError{err}
	}
	return err
}

// Reasons of the daemon's refusals that clients act on (ErrorReason).
const (
	ReasonSessionNotFound = reasons.SessionNotFound // the session has ended, or never was
	ReasonSocketNotFound  = reasons.SocketNotFound  // no such socket for this principal
	// ReasonDraining: the daemon is shutting down (UNAVAILABLE). Its
	// sessions and sockets are gone with it: calling again cannot help.
	ReasonDraining = reasons.Draining
	// ReasonRequestForgotten: a call made again with a request id whose
	// first answer the session no longer keeps (ABORTED): what that call
	// did cannot be told.
	ReasonRequestForgotten = reasons.RequestForgotten
)

// outOfReach reports whether err says the daemon was out of reach, which
// a later call may find back: UNAVAILABLE, but not from a daemon that is
// shutting down.
func outOfReach(err error) bool {
	return status.Code(err) == codes.Unavailable && ErrorReason(err) != ReasonDraining
}

// ErrorReason returns the google.rpc.ErrorInfo reason of a status error from
// the daemon, such as "SOCKET_NOT_FOUND", or "" if err carries none.
func ErrorReason(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == reasons.Domain {
			return info.GetReason()
		}
	}
	return ""
}

// SocketErrorOf is an in-band error of the daemon's, such as an event's
// (CompletionEvent's status, AbortEvent's reason), as the error a call would
// return: a *SocketError, or nil for none.
func SocketErrorOf(p *sockdv1.SocketError) error {
	if p == nil {
		return nil
	}
	return &SocketError{Proto: p}
}

// withError is a response that may carry an in-band socket error.
type withError interface {
	GetError() *sockdv1.SocketError
}

// result returns a call's outcome: the status error if the call failed,
// otherwise the response and, if it carries one, its socket error.
func result[R withError](resp R, err error) (R, error) {
	if err != nil {
		var none R
		return none, err
	}
	if se := resp.GetError(); se != nil {
		return resp, &SocketError{Proto: se}
	}
	return resp, nil
}
