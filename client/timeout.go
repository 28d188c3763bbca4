package client

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// MaxMillis is the longest finite timeout the daemon accepts, in milliseconds.
const MaxMillis = 1<<32 - 1

// Timeout is the last argument of every blocking-capable call, as in Erlang:
// wait without limit, wait at most some milliseconds, or do not wait at all
// (nowait) and be told by an event when to retry or what the result was.
//
// The zero Timeout is Infinity.
type Timeout struct {
	kind   timeoutKind
	millis int64
	handle uint64
	mode   sockdv1.AsyncMode
}

type timeoutKind uint8

const (
	waitForever timeoutKind = iota
	waitMillis
	noWait
)

// Infinity waits until the operation completes, or the call's context ends.
var Infinity = Timeout{}

// Millis waits at most n milliseconds, 0..MaxMillis. Millis(0) tries once.
func Millis(n int64) Timeout { return Timeout{kind: waitMillis, millis: n} }

// Nowait answers at once: with the result if the operation can complete now,
// otherwise with an AsyncInfo, and a select event on the session's stream
// says when to retry. handle is the caller's handle for the operation (Erlang's
// Handle argument); 0 lets the daemon choose one.
func Nowait(handle uint64) Timeout {
	return Timeout{kind: noWait, handle: handle, mode: sockdv1.AsyncMode_ASYNC_MODE_SELECT}
}

// NowaitCompletion is Nowait in completion mode: the daemon performs the
// operation itself when the socket is ready, and the completion event carries
// the result. It saves the retry's round trip.
func NowaitCompletion(handle uint64) Timeout {
	return Timeout{kind: noWait, handle: handle, mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION}
}

// IsNowait reports whether t asks for an asynchronous answer.
func (t Timeout) IsNowait() bool { return t.kind == noWait }

// Proto returns the wire form of t.
func (t Timeout) Proto() *sockdv1.Timeout {
	switch t.kind {
	case waitMillis:
		return &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: t.millis}}
	case noWait:
		return &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Handle: t.handle, Mode: t.mode}}}
	default:
		return &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}
	}
}

// String returns "infinity", "500ms", "nowait", or for a nowait with a handle
// or in completion mode "nowait(handle=7)" and "completion(handle=7)".
// ParseTimeout accepts the first three forms.
func (t Timeout) String() string {
	switch t.kind {
	case waitMillis:
		return strconv.FormatInt(t.millis, 10) + "ms"
	case noWait:
		name := "nowait"
		if t.mode == sockdv1.AsyncMode_ASYNC_MODE_COMPLETION {
			name = "completion"
		}
		if t.handle == 0 {
			return name
		}
		return fmt.Sprintf("%s(handle=%d)", name, t.handle)
	default:
		return "infinity"
	}
}

// ParseTimeout parses "infinity", "nowait", a number of milliseconds ("0",
// "500"), or a Go duration ("500ms", "2s", "1m"). A duration that is not a
// whole number of milliseconds is rounded up, so the wait is never shorter
// than asked.
func ParseTimeout(s string) (Timeout, error) {
	switch s {
	case "infinity":
		return Infinity, nil
	case "nowait":
		return Nowait(0), nil
	}
	bad := func(why string) (Timeout, error) {
		return Timeout{}, fmt.Errorf("invalid timeout %q: %s", s, why)
	}
	tooLong := fmt.Sprintf("longer than %d milliseconds", int64(MaxMillis))
	ms, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err == nil && (ms < 0 || ms > MaxMillis), errors.Is(err, strconv.ErrRange):
		return bad(fmt.Sprintf("want 0..%d milliseconds", int64(MaxMillis)))
	case err == nil:
		return Millis(ms), nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil && durationShape.MatchString(s):
		return bad(tooLong) // a duration past what one holds
	case err != nil:
		return bad("want infinity, nowait, milliseconds, or a duration such as 500ms or 2s")
	case d < 0:
		return bad("negative")
	}
	ms = int64(d / time.Millisecond)
	if d%time.Millisecond != 0 {
		ms++
	}
	if ms > MaxMillis {
		return bad(tooLong)
	}
	return Millis(ms), nil
}

// durationShape is what time.ParseDuration parses, but for its bounds.
var durationShape = regexp.MustCompile(`^\+?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$`)
