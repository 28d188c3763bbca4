package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/internal/reasons"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// statusError builds a status with ErrorInfo and any further details.
// Strings that came from a request (a session id, a local path) may be any
// bytes, which protobuf cannot carry in a string: they are quoted, so that
// no detail is lost to them.
func statusError(code codes.Code, reason, msg string, meta map[string]string, details ...protoadapt.MessageV1) error {
	st := status.New(code, utf8Text(msg))
	info := &errdetails.ErrorInfo{Reason: reason, Domain: reasons.Domain, Metadata: maps.Clone(meta)}
	for _, d := range append([]protoadapt.MessageV1{info}, details...) {
		m := protoadapt.MessageV2Of(d)
		scrubStrings(m.ProtoReflect())
		if next, err := st.WithDetails(d); err == nil {
			st = next
		}
	}
	return st.Err()
}

// utf8Text is s, or s quoted when it is not valid UTF-8, cut to
// maxErrorText bytes: a refusal echoes what the request said (a
// metadata value, a method name), and gRPC holds the status until its
// client reads it, each stream's with the stream's small fixed cost
// (a reviewer's 19,000 calls of a client that read nothing, each echoing
// a 7.7 KB value three times: 1.45 GB).
func utf8Text(s string) string {
	if !utf8.ValidString(s) {
		s = strconv.QuoteToASCII(s)
	}
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("... (%d bytes)", len(s))
}

// maxErrorText bounds each string of an error status: its message, and
// each of its details' strings.
const maxErrorText = 256

// scrubStrings makes every string of m, its maps' and its messages',
// utf8Text: valid UTF-8, and bounded.
func scrubStrings(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			mv := v.Map()
			var bad []protoreflect.MapKey
			mv.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				if (fd.MapKey().Kind() == protoreflect.StringKind && utf8Text(k.String()) != k.String()) ||
					(fd.MapValue().Kind() == protoreflect.StringKind && utf8Text(v.String()) != v.String()) {
					bad = append(bad, k)
				}
				if fd.MapValue().Message() != nil {
					scrubStrings(v.Message())
				}
				return true
			})
			for _, k := range bad {
				v := mv.Get(k)
				mv.Clear(k)
				if fd.MapKey().Kind() == protoreflect.StringKind {
					k = protoreflect.ValueOfString(utf8Text(k.String())).MapKey()
				}
				if fd.MapValue().Kind() == protoreflect.StringKind {
					v = protoreflect.ValueOfString(utf8Text(v.String()))
				}
				mv.Set(k, v)
			}
		case fd.IsList():
			for i, l := 0, v.List(); i < l.Len(); i++ {
				switch {
				case fd.Kind() == protoreflect.StringKind:
					l.Set(i, protoreflect.ValueOfString(utf8Text(l.Get(i).String())))
				case fd.Message() != nil:
					scrubStrings(l.Get(i).Message())
				}
			}
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(utf8Text(v.String())))
		case fd.Message() != nil:
			scrubStrings(v.Message())
		}
		return true
	})
}

// unknownMethod answers a call of a method no service here has, as every
// other refusal is answered: with an ErrorInfo. Install it with
// grpc.UnknownServiceHandler.
func unknownMethod(_ any, stream grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(stream)
	return statusError(codes.Unimplemented, reasons.UnknownMethod, "unknown method "+method, map[string]string{"method": method})
}

// draining refuses new work while the daemon shuts down.
func draining() error {
	return statusError(codes.Unavailable, reasons.Draining, "sockd is shutting down", nil)
}

// unauthenticated refuses a connection that came without the daemon's
// transport credentials.
func unauthenticated() error {
	return statusError(codes.Unauthenticated, reasons.Unauthenticated, "connection has no sockd peer credentials", nil)
}

// requestTooComplex refuses a request with more fields and list elements
// than MaxRequestFields.
func requestTooComplex() error {
	return statusError(codes.ResourceExhausted, reasons.RequestTooComplex,
		fmt.Sprintf("the request has more than %d fields and list elements", MaxRequestFields),
		map[string]string{"limit": fmt.Sprint(MaxRequestFields)})
}

// malformedRequest refuses a request that does not decode as its type.
func malformedRequest(typ, why string) error {
	return statusError(codes.InvalidArgument, reasons.MalformedRequest,
		fmt.Sprintf("the request does not decode as %s: %s", typ, why), nil)
}

// flushTimedOut ends the stream of an ended session whose client took none
// of its last events for d.
func flushTimedOut(d time.Duration) error {
	return statusError(codes.DeadlineExceeded, reasons.FlushTimeout,
		fmt.Sprintf("the session ended and its stream took none of its last events for %v", d), nil)
}

// flushTookTooLong ends the stream of an ended session whose client took
// its last events too slowly.
func flushTookTooLong(d time.Duration) error {
	return statusError(codes.DeadlineExceeded, reasons.FlushTimeout,
		fmt.Sprintf("the session ended and its stream took more than %v to receive its last events", d), nil)
}

// streamReplaced ends an event stream that another one replaced.
func streamReplaced(why error) error {
	return statusError(codes.Aborted, reasons.StreamReplaced, why.Error(), nil)
}

// adminOnly refuses a non-admin's change of something daemon-wide.
func adminOnly(what string) error {
	return statusError(codes.PermissionDenied, reasons.AdminRequired,
		what+" is the daemon's: only an admin may set it", nil)
}

// adminRevoked ends a call that acted on another principal's session or
// socket by an admin right that a policy reload took away.
func adminRevoked() error {
	return statusError(codes.PermissionDenied, reasons.AdminRequired, errAdminRevoked.Error(), nil)
}

// crossPrincipal refuses a Relay between two principals' sockets.
func crossPrincipal(a, b string) error {
	return statusError(codes.PermissionDenied, reasons.CrossPrincipal,
		"socket_a and socket_b belong to different principals", map[string]string{"socket_a": a, "socket_b": b})
}

// policyDenied refuses a call the policy in force does not allow.
func policyDenied(pol *Policy, p Principal, action, target string) error {
	return statusError(codes.PermissionDenied, reasons.PolicyDenied,
		fmt.Sprintf("policy (%s) does not allow %s to %s %s", pol, p, action, target),
		map[string]string{"principal": p.String(), "action": action, "target": target, "policy": pol.String()})
}

// forbiddenControl refuses a control message no principal may send through
// the daemon, saying why.
func forbiddenControl(p Principal, name, why string) error {
	return statusError(codes.PermissionDenied, reasons.ControlForbidden,
		name+" control messages "+why+"; no principal may send them",
		map[string]string{"principal": p.String(), "action": actionSendMsg, "target": "control message " + name})
}

// withMetadata adds key to the metadata of err's ErrorInfo; an error
// without one is returned as it is.
func withMetadata(err error, key, value string) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	p := st.Proto()
	for _, d := range p.GetDetails() {
		var info errdetails.ErrorInfo
		if d.UnmarshalTo(&info) != nil {
			continue
		}
		if info.Metadata == nil {
			info.Metadata = map[string]string{}
		}
		info.Metadata[key] = value
		if anyInfo, err := anypb.New(&info); err == nil {
			d.TypeUrl, d.Value = anyInfo.TypeUrl, anyInfo.Value
		}
		return status.FromProto(p).Err()
	}
	return err
}

// invalidArgument reports a malformed request: what Erlang raises as badarg.
func invalidArgument(field, format string, args ...any) error {
	desc := fmt.Sprintf(format, args...)
	return statusError(codes.InvalidArgument, reasons.InvalidArgument, field+": "+desc,
		map[string]string{"field": field},
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: desc}}})
}

// socketReadDiffers refuses a Pipe whose start expects the socket to have
// read want bytes, where it has read read.
func socketReadDiffers(id string, read, want uint64) error {
	why := fmt.Sprintf("the socket has read %d bytes, not the %d the pipe's start expects", read, want)
	return statusError(codes.FailedPrecondition, reasons.SocketReadDiffers,
		fmt.Sprintf("socket %q: %s", id, why), map[string]string{"socket": id, "read_bytes": fmt.Sprint(read)},
		&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
			{Type: reasons.SocketReadDiffers, Subject: "socket:" + id, Description: why}}})
}

// requestForgotten answers a call made again with a request id whose first
// call's answer its session no longer keeps (requestLog).
func requestForgotten(id string) error {
	return statusError(codes.Aborted, reasons.RequestForgotten,
		fmt.Sprintf("request_id %q: the session answered that call and has forgotten the answer since (it keeps its last %d)", id, maxLoggedAnswers),
		map[string]string{"request_id": id})
}

// missingSession answers a call that needs a session and names none.
func missingSession() error {
	desc := "no session: call CreateSession and send its id as \"" + SessionMetadataKey + "\" metadata"
	return statusError(codes.InvalidArgument, reasons.MissingSession, desc, nil,
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "metadata." + SessionMetadataKey, Description: desc}}})
}

// notConnectedStream answers a Pipe or Relay on a socket that is not a
// connected stream socket.
func notConnectedStream(field, id, why string) error {
	return statusError(codes.FailedPrecondition, reasons.NotConnectedStream,
		fmt.Sprintf("%s %q: %s", field, id, why), map[string]string{"socket": id, "field": field},
		&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
			{Type: "NOT_CONNECTED_STREAM", Subject: "socket:" + id, Description: why}}})
}

// socketStreamed answers a Pipe or Relay on a socket that another Pipe or
// Relay already carries: two would each get part of the byte stream.
func socketStreamed(field, id string) error {
	why := "a Pipe or Relay already carries this socket's bytes"
	return statusError(codes.FailedPrecondition, reasons.SocketStreamed,
		fmt.Sprintf("%s %q: %s", field, id, why), map[string]string{"socket": id, "field": field},
		&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{
			{Type: "SOCKET_STREAMED", Subject: "socket:" + id, Description: why}}})
}

func socketNotFound(id string) error {
	return statusError(codes.NotFound, reasons.SocketNotFound, fmt.Sprintf("unknown socket %q", id),
		map[string]string{"socket": id},
		&errdetails.ResourceInfo{ResourceType: "socket", ResourceName: id, Description: "no such socket for this principal"})
}

func sessionNotFound(id string) error {
	return statusError(codes.NotFound, reasons.SessionNotFound, fmt.Sprintf("unknown session %q", id),
		map[string]string{"session": id},
		&errdetails.ResourceInfo{ResourceType: "session", ResourceName: id, Description: "no such live session for this principal"})
}

// sessionNameNotFound is sessionNotFound for a session asked for by name.
func sessionNameNotFound(name string) error {
	return statusError(codes.NotFound, reasons.SessionNotFound, fmt.Sprintf("no live session named %q", name),
		map[string]string{"name": name},
		&errdetails.ResourceInfo{ResourceType: "session", ResourceName: name, Description: "no live session of this name for this principal"})
}

// principalBytes names the bound of Limits.MaxPrincipalBytes, which its
// four users share: a refusal by one may come of what the others hold.
const principalBytes = "bytes held for the principal (undelivered completions and events, waiting calls' data and buffers, pipe uploads)"

// daemonBytes names the bound of Limits.MaxDaemonBytes: the same bytes,
// held for all principals together.
const daemonBytes = "bytes held for all principals together (undelivered completions and events, waiting calls' data and buffers, pipe uploads)"

// The resources of the open-calls bounds, in their refusals.
const (
	callsOpen       = "calls and streams open at once for the principal, over all its connections"
	callsOpenDaemon = "calls and streams open at once for all principals"
)

func quotaExceeded(resource string, limit int) error {
	return statusError(codes.ResourceExhausted, reasons.QuotaExceeded,
		fmt.Sprintf("%s: limit of %d reached", resource, limit),
		map[string]string{"resource": resource, "limit": fmt.Sprint(limit)},
		&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{Subject: resource, Description: fmt.Sprintf("limit %d", limit)}}})
}

// rpcError maps an engine error that is not a socket outcome to a status.
func rpcError(err error) error {
	var quota *engine.QuotaError
	switch {
	case errors.As(err, &quota):
		return quotaExceeded(quota.Resource, quota.Limit)
	case errors.Is(err, engine.ErrCallerGone):
		// As a call of a session that has ended answers: it ended while
		// the call waited (a reviewer's blocking recv answered the socket
		// outcome cancelled, which reads as a cancel to retry).
		return statusError(codes.NotFound, reasons.SessionNotFound, "the session ended during the call", nil)
	case errors.Is(err, context.Canceled):
		return statusError(codes.Canceled, reasons.CallCancelled, err.Error(), nil)
	case errors.Is(err, context.DeadlineExceeded):
		return statusError(codes.DeadlineExceeded, reasons.CallDeadline, err.Error(), nil)
	default:
		return internalError(err.Error())
	}
}

// internalError answers a call the daemon failed, not the caller.
func internalError(msg string) error { return statusError(codes.Internal, reasons.Internal, msg, nil) }

// outcome splits an engine error into the in-band SocketError of a response,
// or, for failures of the call itself, a gRPC status error. A nil err gives
// (nil, nil).
func outcome(err error) (*sockdv1.SocketError, error) {
	if err == nil {
		return nil, nil
	}
	if se := socketError(err); se != nil {
		return se, nil
	}
	return nil, rpcError(err)
}

// socketError converts socket-level outcomes; it returns nil for errors that
// are not socket outcomes (quotas, context errors, bugs). What an invalid
// error echoes of the request (an option's name, a value) is clipped: an
// answer is not to grow with what a request sent.
func socketError(err error) *sockdv1.SocketError {
	se := socketOutcome(err)
	if se != nil {
		se.InvalidValue = clip(se.InvalidValue, maxEcho)
		se.Message = clip(se.Message, 2*maxEcho)
	}
	return se
}

// eventError is socketError for an error carried by an event, where there is
// no RPC status to fall back on: a quota's refusal is told as one, and
// anything else (a fault) by its text.
func eventError(err error) *sockdv1.SocketError {
	if err == nil {
		return nil
	}
	if se := socketError(err); se != nil {
		return se
	}
	var quota *engine.QuotaError
	if errors.As(err, &quota) {
		return &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_QUOTA, Reason: "quota", Message: err.Error()}
	}
	return &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INTERNAL, Reason: "internal", Message: err.Error()}
}

// maxEcho bounds the bytes of a request an in-band error repeats.
const maxEcho = 512

func socketOutcome(err error) *sockdv1.SocketError {
	var (
		errno   unix.Errno
		invalid *engine.InvalidError
		optErr  *options.OptionError
		valErr  *options.ValueError
		specErr *options.SpecError
	)
	switch {
	// The options package's refusals: Erlang's {invalid, {socket_option,
	// Option}}, {invalid, {socket_option, Option, Value}} (the option and
	// the value as a pair) and {invalid, {value_spec, Spec}}.
	case errors.As(err, &optErr):
		return &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INVALID, Reason: "invalid",
			Invalid: "socket_option", InvalidValue: optErr.Key.String(), Message: optErr.Error()}
	case errors.As(err, &valErr):
		return &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INVALID, Reason: "invalid",
			Invalid: "socket_option", InvalidValue: fmt.Sprintf("{%s, %s}", valErr.Key, term(valErr.Value)),
			Message: fmt.Sprintf("invalid socket_option %s value %s: %s", valErr.Key, term(valErr.Value), valErr.Reason)}
	case errors.As(err, &specErr):
		return &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INVALID, Reason: "invalid",
			Invalid: "value_spec", InvalidValue: term(specErr.Spec), Message: specErr.Error()}
	case errors.Is(err, engine.ErrClosed):
		return &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_CLOSED, Reason: "closed", Message: "socket closed"}
	case errors.Is(err, engine.ErrTimeout):
		return &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_TIMEOUT, Reason: "timeout", Message: "timeout expired"}
	case errors.Is(err, engine.ErrAlready):
		return &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_ALREADY, Reason: "already", Message: "a connect is already in progress"}
	case errors.Is(err, engine.ErrCancelled):
		return &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_CANCELLED, Reason: "cancelled", Message: "operation cancelled"}
	case errors.As(err, &invalid):
		value := ""
		if invalid.Value != nil {
			value = term(invalid.Value)
		}
		return &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INVALID, Reason: "invalid",
			Invalid: invalid.What, InvalidValue: value, Message: invalid.Error()}
	case errors.As(err, &errno):
		// The message says what failed where the engine says more than
		// the errno (a network namespace an open could not enter).
		return &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: engine.PosixName(errno),
			Errno: int32(errno), Message: err.Error()}
	}
	return nil
}

// invalid builds an in-band {invalid, {What, Value}} outcome for input that
// Erlang answers with an error tuple rather than an exception.
func invalid(what string, value any) *sockdv1.SocketError {
	return socketError(&engine.InvalidError{What: what, Value: value})
}
