package client

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestParseTimeout(t *testing.T) {
	tests := []struct {
		in   string
		want Timeout
	}{
		{"infinity", Infinity},
		{"nowait", Nowait(0)},
		{"0", Millis(0)},
		{"500", Millis(500)},
		{"500ms", Millis(500)},
		{"2s", Millis(2000)},
		{"1m", Millis(60000)},
		{"0s", Millis(0)},
		{"1.5ms", Millis(2)}, // rounded up: never shorter than asked
		{"1us", Millis(1)},
		{"4294967295", Millis(MaxMillis)},
	}
	for _, tt := range tests {
		got, err := ParseTimeout(tt.in)
		if err != nil {
			t.Errorf("ParseTimeout(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseTimeout(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseTimeoutErrors(t *testing.T) {
	for _, in := range []string{"", "-1", "-1s", "forever", "4294967296", "50000h", "1e3", "Infinity"} {
		got, err := ParseTimeout(in)
		if err == nil {
			t.Errorf("ParseTimeout(%q) = %v, want an error", in, got)
			continue
		}
		if !strings.HasPrefix(err.Error(), "invalid timeout ") {
			t.Errorf("ParseTimeout(%q) error = %q, want it to start with %q", in, err, "invalid timeout ")
		}
	}
}

// A timeout past what the daemon takes is named so, however it is written
// (a duration past time.Duration's range read as no duration at all).
func TestParseTimeoutTooLong(t *testing.T) {
	for _, in := range []string{"4294967296ms", "50000h", "99999999h", "9999999999999999999h1s"} {
		if _, err := ParseTimeout(in); err == nil || !strings.Contains(err.Error(), "longer than 4294967295 milliseconds") {
			t.Errorf("ParseTimeout(%q) = %v, want it too long", in, err)
		}
	}
	for _, in := range []string{"4294967296", "99999999999999999999", "-99999999999999999999"} {
		if _, err := ParseTimeout(in); err == nil || !strings.Contains(err.Error(), "want 0..4294967295 milliseconds") {
			t.Errorf("ParseTimeout(%q) = %v, want out of range", in, err)
		}
	}
}

func TestTimeoutString(t *testing.T) {
	tests := []struct {
		in   Timeout
		want string
	}{
		{Timeout{}, "infinity"},
		{Infinity, "infinity"},
		{Millis(0), "0ms"},
		{Millis(2500), "2500ms"},
		{Nowait(0), "nowait"},
		{Nowait(7), "nowait(handle=7)"},
		{NowaitCompletion(0), "completion"},
		{NowaitCompletion(9), "completion(handle=9)"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.in, got, tt.want)
		}
	}
	// The forms ParseTimeout accepts read back as themselves.
	for _, in := range []Timeout{Infinity, Millis(0), Millis(1234), Nowait(0)} {
		if got, err := ParseTimeout(in.String()); err != nil || got != in {
			t.Errorf("ParseTimeout(%q) = %v, %v; want %v", in.String(), got, err, in)
		}
	}
}

func TestTimeoutProto(t *testing.T) {
	tests := []struct {
		in   Timeout
		want *sockdv1.Timeout
	}{
		{Infinity, &sockdv1.Timeout{Kind: &sockdv1.Timeout_Infinity{Infinity: true}}},
		{Millis(0), &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: 0}}},
		{Millis(50), &sockdv1.Timeout{Kind: &sockdv1.Timeout_Millis{Millis: 50}}},
		{Nowait(3), &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{
			Handle: 3, Mode: sockdv1.AsyncMode_ASYNC_MODE_SELECT}}}},
		{NowaitCompletion(4), &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{
			Handle: 4, Mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION}}}},
	}
	for _, tt := range tests {
		if got := tt.in.Proto(); !proto.Equal(got, tt.want) {
			t.Errorf("%v.Proto() = %v, want %v", tt.in, got, tt.want)
		}
	}
	if Infinity.IsNowait() || Millis(0).IsNowait() || !Nowait(0).IsNowait() || !NowaitCompletion(1).IsNowait() {
		t.Error("IsNowait is wrong")
	}
}

// FuzzParseTimeout: any text parses to a timeout within the API's range, whose
// String parses back to it, or is refused; it never panics.
func FuzzParseTimeout(f *testing.F) {
	for _, s := range []string{"infinity", "nowait", "0", "500", "500ms", "2s", "1m", "1.5ms", "-1", "9223372036854775807", "1e9h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTimeout(s)
		if err != nil {
			return
		}
		if p := tm.Proto(); p.GetMillis() < 0 || p.GetMillis() > MaxMillis {
			t.Fatalf("ParseTimeout(%q) = %v: out of range", s, tm)
		}
		again, err := ParseTimeout(strings.TrimSuffix(tm.String(), "(handle=0)"))
		if err != nil || again != tm {
			t.Fatalf("ParseTimeout(%q) = %v, whose String parses as %v, %v", s, tm, again, err)
		}
	})
}
