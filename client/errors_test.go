package client

import (
	"errors"
	"net"
	"syscall"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestSocketErrorText(t *testing.T) {
	tests := []struct {
		in   *sockdv1.SocketError
		want string
	}{
		{&sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_CLOSED, Reason: "closed"}, "closed"},
		{&sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: "econnrefused", Errno: 111, Message: "connection refused"}, "econnrefused"},
		{&sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INVALID, Reason: "invalid", Invalid: "state"}, "invalid state"},
		{&sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INVALID, Reason: "invalid", Invalid: "sockaddr", InvalidValue: "port"}, "invalid sockaddr: port"},
		{&sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INVALID, Reason: "invalid"}, "invalid"},
		{&sockdv1.SocketError{Message: "odd"}, "odd"},
	}
	for _, tt := range tests {
		if got := (&SocketError{Proto: tt.in}).Error(); got != tt.want {
			t.Errorf("Error() of %v = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSocketErrorIs(t *testing.T) {
	refused := &SocketError{Proto: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: "econnrefused", Errno: int32(syscall.ECONNREFUSED)}}
	if !errors.Is(refused, syscall.ECONNREFUSED) || errors.Is(refused, syscall.ECONNRESET) || errors.Is(refused, ErrClosed) {
		t.Error("a POSIX error must match its errno and nothing else")
	}
	if refused.Errno() != syscall.ECONNREFUSED || refused.Kind() != sockdv1.SocketError_KIND_POSIX {
		t.Errorf("Errno, Kind = %v, %v", refused.Errno(), refused.Kind())
	}
	kinds := map[sockdv1.SocketError_Kind]error{
		sockdv1.SocketError_KIND_CLOSED:    ErrClosed,
		sockdv1.SocketError_KIND_TIMEOUT:   ErrTimeout,
		sockdv1.SocketError_KIND_ALREADY:   ErrAlready,
		sockdv1.SocketError_KIND_CANCELLED: ErrCancelled,
		sockdv1.SocketError_KIND_INVALID:   ErrInvalid,
	}
	for kind, sentinel := range kinds {
		err := error(&SocketError{Proto: &sockdv1.SocketError{Kind: kind}})
		for _, other := range kinds {
			if got := errors.Is(err, other); got != (other == sentinel) {
				t.Errorf("errors.Is(%v error, %v) = %v", kind, other, got)
			}
		}
		if errors.Is(err, syscall.Errno(0)) {
			t.Errorf("a %v error matched errno 0", kind)
		}
	}
}

func TestResult(t *testing.T) {
	se := &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_TIMEOUT, Reason: "timeout"}
	partial := &sockdv1.RecvResponse{Data: []byte("par"), Error: se}
	resp, err := result(partial, nil)
	var sockErr *SocketError
	if resp != partial || !errors.As(err, &sockErr) || sockErr.Proto != se {
		t.Errorf("result(partial) = %v, %v; want the response and its SocketError", resp, err)
	}

	ok := &sockdv1.RecvResponse{Data: []byte("all")}
	if resp, err := result(ok, nil); resp != ok || err != nil {
		t.Errorf("result(ok) = %v, %v", resp, err)
	}

	failed := status.Error(codes.NotFound, "unknown socket")
	if resp, err := result[*sockdv1.RecvResponse](nil, failed); resp != nil || err != failed {
		t.Errorf("result(status) = %v, %v", resp, err)
	}
}

func TestErrorReason(t *testing.T) {
	st, err := status.New(codes.NotFound, "unknown socket").WithDetails(
		&errdetails.ErrorInfo{Reason: "SOCKET_NOT_FOUND", Domain: "sockd"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ErrorReason(st.Err()); got != "SOCKET_NOT_FOUND" {
		t.Errorf("ErrorReason = %q", got)
	}
	foreign, _ := status.New(codes.NotFound, "x").WithDetails(&errdetails.ErrorInfo{Reason: "OTHER", Domain: "example.com"})
	for _, err := range []error{nil, errors.New("plain"), status.Error(codes.Internal, "bare"), foreign.Err()} {
		if got := ErrorReason(err); got != "" {
			t.Errorf("ErrorReason(%v) = %q, want empty", err, got)
		}
	}
}

// What an Accept may meet and retry is Temporary, as package net's accept
// errors are: emfile (Go's own rule), a reset or aborted connection (net's
// rule for accept) and a daemon's quota; not a refused connection.
func TestAcceptTemporary(t *testing.T) {
	posix := func(errno syscall.Errno) error {
		return &SocketError{Proto: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Errno: int32(errno)}}
	}
	for _, tt := range []struct {
		err  error
		temp bool
	}{
		{posix(syscall.EMFILE), true},
		{posix(syscall.ECONNRESET), true},
		{posix(syscall.ECONNABORTED), true},
		{status.Error(codes.ResourceExhausted, "sockets: limit of 2 reached"), true},
		{posix(syscall.ECONNREFUSED), false},
		{status.Error(codes.NotFound, "unknown socket"), false},
	} {
		op := &net.OpError{Op: "accept", Net: "tcp", Err: acceptTemporary(tt.err)}
		if got := op.Temporary(); got != tt.temp {
			t.Errorf("accept error %v: Temporary() = %v, want %v", tt.err, got, tt.temp)
		}
		if !errors.Is(op, tt.err) {
			t.Errorf("accept error %v: the cause is lost", tt.err)
		}
	}
}

func TestSocketErrorOf(t *testing.T) {
	if SocketErrorOf(nil) != nil {
		t.Error("no error made one")
	}
	err := SocketErrorOf(&sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_CLOSED, Reason: "closed"})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("%v does not match ErrClosed", err)
	}
}
