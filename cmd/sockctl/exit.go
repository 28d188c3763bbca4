package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Exit statuses. Scripts rely on them: keep them stable.
const (
	exitOK = 0
	// exitFailure: the daemon answered with a socket error ("error:
	// econnrefused"), or refused the call for another reason than a bad
	// request (NOT_FOUND, PERMISSION_DENIED, RESOURCE_EXHAUSTED, ...).
	exitFailure = 1
	// exitUsage: bad arguments or flags, an address that does not parse, or
	// a request the daemon calls malformed (INVALID_ARGUMENT).
	exitUsage = 2
	// exitUnreachable: no daemon answers at the address (no socket file,
	// connection refused, dial timeout) or it is UNAVAILABLE (draining).
	exitUnreachable = 3
	// exitInterrupted: a signal ended a call that was waiting.
	exitInterrupted = 130
)

// usageError marks a mistake in the command line found by sockctl itself.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usage marks err as a usage error.
func usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// daemonStopping marks a socket's closed answer that a daemon shutting
// down gave: the daemon went away under the call.
type daemonStopping struct{ err error }

func (e daemonStopping) Error() string { return e.err.Error() + " (the daemon is shutting down)" }
func (e daemonStopping) Unwrap() error { return e.err }

// hinted is a socket error with what it means for the verb's arguments,
// which the reason alone does not name (enoent: which file?).
type hinted struct {
	err  error
	hint string
}

func (e hinted) Error() string { return e.err.Error() + " (" + e.hint + ")" }
func (e hinted) Unwrap() error { return e.err }

// failure marks an error that happened while a verb ran, as opposed to the
// errors cobra reports about the command line, which carry no type.
type failure struct{ err error }

func (e failure) Error() string { return e.err.Error() }
func (e failure) Unwrap() error { return e.err }

// exitCode maps an error returned by a command to the process's exit status.
func exitCode(err error) int {
	var (
		sockErr *client.SocketError
		dialErr *client.DialError
		usgErr  usageError
		failErr failure
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, new(daemonStopping)):
		return exitUnreachable
	case errors.As(err, &sockErr):
		return exitFailure
	case errors.Is(err, context.Canceled):
		return exitInterrupted // even while dialing
	case errors.As(err, &dialErr):
		return exitUnreachable
	case errors.As(err, &usgErr), errors.As(err, new(*client.DataTooLargeError)):
		return exitUsage
	}
	if st, ok := grpcStatus(err); ok {
		switch st.Code() {
		case codes.Unavailable:
			return exitUnreachable
		case codes.InvalidArgument:
			return exitUsage
		case codes.Canceled:
			return exitInterrupted
		default:
			return exitFailure
		}
	}
	if errors.As(err, &failErr) {
		return exitFailure
	}
	// Errors without a type come from cobra: unknown verbs and flags, wrong
	// numbers of arguments.
	return exitUsage
}

// errorMessage is what follows "error: " on stderr.
func errorMessage(err error) string {
	var stopping daemonStopping
	if errors.As(err, &stopping) {
		return errorMessage(stopping.err) + " (the daemon is shutting down)"
	}
	var h hinted
	if errors.As(err, &h) {
		return errorMessage(h.err) + " (" + h.hint + ")"
	}
	var sockErr *client.SocketError
	if errors.As(err, &sockErr) {
		// An invalid outcome's message says why, where its short form
		// ("invalid socket_option: socket.rcvtimeo") does not.
		if m := sockErr.Proto.GetMessage(); sockErr.Kind() == sockdv1.SocketError_KIND_INVALID && strings.HasPrefix(m, "invalid") {
			return m
		}
		return sockErr.Error()
	}
	if errors.Is(err, context.Canceled) {
		return "interrupted"
	}
	var dialErr *client.DialError
	if errors.As(err, &dialErr) {
		return dialErr.Error()
	}
	if st, ok := grpcStatus(err); ok {
		if st.Code() == codes.Canceled {
			return "interrupted"
		}
		return codeName(st.Code()) + ": " + st.Message()
	}
	return err.Error()
}

// grpcStatus finds the status in err. Unlike status.FromError, whose status
// for a wrapped error carries the whole err.Error() as its message, it returns
// the status as the daemon sent it.
func grpcStatus(err error) (*status.Status, bool) {
	var withStatus interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &withStatus) {
		return nil, false
	}
	return withStatus.GRPCStatus(), true
}

// codeName spells a gRPC code as sockctl spells every other error word:
// NotFound is "not_found".
func codeName(c codes.Code) string {
	var b strings.Builder
	prev := ' '
	for _, r := range c.String() {
		if unicode.IsUpper(r) && unicode.IsLower(prev) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
		prev = r
	}
	return b.String()
}

// emitRefusal writes, for -o json, the error of a call the daemon refused
// or could not be reached for, as the object a socket error is: a script
// reading the results then tells a refusal from a result with nothing to
// say. A socket error is already in its result, and a usage error is the
// script's own (exit status 2). A socket closed by a daemon shutting down
// has its result, closed, and then this line, so that a script tells it
// from a socket closed by a client (exit status 3, not 1).
func emitRefusal(w io.Writer, err error) {
	if errors.As(err, new(daemonStopping)) {
		json.NewEncoder(w).Encode(object{}.with("error", object{}.with("reason", "shutting_down").with("kind", "daemon").with("message", errorMessage(err))))
		return
	}
	var sockErr *client.SocketError
	if errors.As(err, &sockErr) || exitCode(err) == exitUsage {
		return
	}
	json.NewEncoder(w).Encode(object{}.with("error", refusalObject(err)))
}

// refusalObject is the error object of a call that has no socket error to
// show: reason, kind (sockctl, rpc or daemon) and message, and the daemon's
// own reason (ErrorInfo) for a refusal that has one.
func refusalObject(err error) object {
	var dialErr *client.DialError
	reason, kind, message := "failed", "sockctl", errorMessage(err)
	switch st, ok := grpcStatus(err); {
	case exitCode(err) == exitInterrupted:
		reason = "interrupted"
	case ok:
		reason, kind, message = codeName(st.Code()), "rpc", st.Message()
	case errors.As(err, &dialErr):
		reason, kind = "unreachable", "daemon"
	}
	o := object{}.with("reason", reason).with("kind", kind).with("message", message)
	if info := client.ErrorReason(err); info != "" {
		o = o.with("error_info", info)
	}
	return o
}
