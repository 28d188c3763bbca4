package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// parseWaitFlags parses args as the flags of a verb that waits.
func parseWaitFlags(t *testing.T, args ...string) (client.Timeout, error) {
	t.Helper()
	cmd := &cobra.Command{Use: "verb", RunE: func(*cobra.Command, []string) error { return nil }}
	w := addWaitFlags(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		return client.Timeout{}, err
	}
	if err := cmd.ValidateFlagGroups(); err != nil {
		return client.Timeout{}, err
	}
	return w.value()
}

func TestWaitFlags(t *testing.T) {
	tests := []struct {
		args []string
		want client.Timeout
	}{
		{nil, client.Infinity},
		{[]string{"--timeout", "infinity"}, client.Infinity},
		{[]string{"--timeout", "0"}, client.Millis(0)},
		{[]string{"--timeout", "500ms"}, client.Millis(500)},
		{[]string{"--timeout=2s"}, client.Millis(2000)},
		{[]string{"--timeout", "nowait"}, client.Nowait(0)},
		{[]string{"--timeout", "nowait", "--handle", "7"}, client.Nowait(7)},
		{[]string{"--nowait"}, client.Nowait(0)},
		{[]string{"--nowait", "--handle", "7"}, client.Nowait(7)},
		{[]string{"--completion", "--handle", "8"}, client.NowaitCompletion(8)},
	}
	for _, tt := range tests {
		got, err := parseWaitFlags(t, tt.args...)
		if err != nil || got != tt.want {
			t.Errorf("%v: got %v, %v; want %v", tt.args, got, err, tt.want)
		}
	}
	for _, args := range [][]string{
		{"--timeout", "soon"},
		{"--timeout", "-1s"},
		{"--handle", "7"},
		{"--timeout", "1s", "--nowait"},
		{"--nowait", "--completion"},
	} {
		if got, err := parseWaitFlags(t, args...); err == nil {
			t.Errorf("%v: got %v, want an error", args, got)
		} else if code := exitCode(err); code != exitUsage {
			t.Errorf("%v: exit code %d, want %d (usage)", args, code, exitUsage)
		}
	}
}

func TestMsgFlags(t *testing.T) {
	m := &msgFlags{names: []string{"peek", "waitall"}}
	got, err := m.value()
	if err != nil || len(got) != 2 || got[0] != sockdv1.MsgFlag_MSG_FLAG_PEEK || got[1] != sockdv1.MsgFlag_MSG_FLAG_WAITALL {
		t.Errorf("value() = %v, %v", got, err)
	}
	if _, err := (&msgFlags{names: []string{"peak"}}).value(); exitCode(err) != exitUsage {
		t.Errorf("unknown flag: %v, want a usage error", err)
	}
}

func TestDataFlags(t *testing.T) {
	stdin := strings.NewReader("from stdin")
	tests := []struct {
		d    dataFlags
		arg  string
		want string
	}{
		{dataFlags{}, "hello world", "hello world"},
		{dataFlags{hex: true}, "00ff41", "\x00\xffA"},
		{dataFlags{}, "-", "from stdin"},
	}
	for _, tt := range tests {
		got, err := tt.d.read(tt.arg, stdin)
		if err != nil || string(got) != tt.want {
			t.Errorf("read(%q, hex=%v) = %q, %v; want %q", tt.arg, tt.d.hex, got, err, tt.want)
		}
	}
	got, err := (&dataFlags{hex: true}).read("-", strings.NewReader("6869\n"))
	if err != nil || string(got) != "hi" {
		t.Errorf("hex from stdin = %q, %v", got, err)
	}
	if _, err := (&dataFlags{hex: true}).read("xyz", nil); exitCode(err) != exitUsage {
		t.Errorf("bad hex: %v, want a usage error", err)
	}
	if _, err := (&dataFlags{}).read("-", failingReader{}); exitCode(err) != exitFailure {
		t.Errorf("failing stdin: %v, want a failure", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("broken pipe") }

// A native address parses (sockctl prints received ones so) but names no
// address the daemon takes: a usage error, not the daemon's invalid.
func TestParseAddrArgRefusesNative(t *testing.T) {
	if _, err := parseAddrArg("native:2:10e17f000001"); exitCode(err) != exitUsage {
		t.Errorf("native address: %v, want a usage error", err)
	}
	if _, err := parseAddrArg("127.0.0.1:80"); err != nil {
		t.Errorf("127.0.0.1:80: %v", err)
	}
}

// Data more than one call carries is refused before the call (the client
// does), as a usage error, rather than with gRPC's message about message
// sizes.
func TestDataTooLargeIsAUsageError(t *testing.T) {
	if code := exitCode(&client.DataTooLargeError{Len: client.MaxCallData + 1}); code != exitUsage {
		t.Errorf("data more than one call carries: exit %d, want %d", code, exitUsage)
	}
}
