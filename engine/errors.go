package engine

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Socket-level outcomes with an Erlang name of their own. OS errors are
// returned as unix.Errno, unchanged, so errors.Is(err, unix.ECONNREFUSED)
// works and PosixName gives the Erlang atom.
var (
	// ErrClosed is Erlang's closed: the socket was closed (by anyone, or
	// because its owner died), or a stream peer closed its end.
	ErrClosed = errors.New("closed")
	// ErrTimeout is Erlang's timeout: a WaitFor deadline passed.
	ErrTimeout = errors.New("timeout")
	// ErrCancelled is the abort reason a requestor's replaced select receives
	// when it re-issues accept before its select fired (OTP-18635).
	ErrCancelled = errors.New("cancelled")
	// ErrCallerGone is what a blocking call returns when its caller is
	// dropped (DropCaller) or ends (Mortal) while it waits: no socket
	// outcome, since in Erlang the process that made it is dead and hears
	// nothing; the call itself failed.
	ErrCallerGone = errors.New("the caller ended during the call")
	// ErrAlready answers a connect while another connect is in progress.
	ErrAlready = errors.New("already")
)

// NetnsError is an open's failure to enter the network namespace it was
// asked for: the errno of opening or entering it (enoent, einval for a file
// that is no namespace, eperm), as Erlang answers, told apart from the
// socket(2)'s own.
type NetnsError struct {
	Path string
	Err  error
}

func (e *NetnsError) Error() string { return "network namespace " + e.Path + ": " + e.Err.Error() }

func (e *NetnsError) Unwrap() error { return e.Err }

// InvalidError is Erlang's {invalid, What} or {invalid, {What, Value}}: the
// request is well-formed but not valid for this socket or its state.
type InvalidError struct {
	What  string
	Value any
}

func (e *InvalidError) Error() string {
	if e.Value == nil {
		return "invalid " + e.What
	}
	return fmt.Sprintf("invalid %s: %v", e.What, e.Value)
}

// errState is {invalid, state}: the call conflicts with the socket's lanes
// (recv while accepting, a second queued call of one caller, ...).
func errState() error { return &InvalidError{What: "state"} }

// QuotaError reports that a bound was hit: queued requestors on a lane, or
// open sockets. The server maps it to RESOURCE_EXHAUSTED.
type QuotaError struct {
	Resource string
	Limit    int
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("quota exceeded: %s (limit %d)", e.Resource, e.Limit)
}

// PosixName is the Erlang reason atom for err: the lower-cased errno name
// ("econnrefused") for an Errno, "closed", "timeout", "already" or
// "cancelled" for the sentinels, and "" for anything else.
func PosixName(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrClosed):
		return "closed"
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrAlready):
		return "already"
	case errors.Is(err, ErrCancelled):
		return "cancelled"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return strings.ToLower(unix.ErrnoName(errno))
	}
	return ""
}
