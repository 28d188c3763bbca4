package main

import (
	"bytes"
	"strings"
	"testing"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

var supportRows = []*sockdv1.OptionSupport{
	{Key: &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, Name: "reuseaddr"}, ValueType: "boolean()", Set: true, Get: true, Supported: true},
	{Key: &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, Name: "peek_off"}, ValueType: "integer()", Set: true, Get: true},
	{Key: &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_IPV6, Name: "add_membership"}, ValueType: "ipv6_mreq()", Set: true, Supported: true},
}

func TestSupportsOptionsTable(t *testing.T) {
	var b bytes.Buffer
	if err := emitOptionSupport(&printer{w: &b}, supportRows); err != nil {
		t.Fatal(err)
	}
	want := `LEVEL  NAME           TYPE        SET GET SUPPORTED
socket reuseaddr      boolean()   yes yes yes
socket peek_off       integer()   yes yes no
ipv6   add_membership ipv6_mreq() yes no  yes
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestSupportsOptionsJSON(t *testing.T) {
	var b bytes.Buffer
	if err := emitOptionSupport(&printer{w: &b, json: true}, supportRows[:2]); err != nil {
		t.Fatal(err)
	}
	want := `{"level":"socket","name":"reuseaddr","type":"boolean()","set":true,"get":true,"supported":true}
{"level":"socket","name":"peek_off","type":"integer()","set":true,"get":true,"supported":false}
`
	if b.String() != want {
		t.Errorf("json:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestSupportsFeatures(t *testing.T) {
	var b bytes.Buffer
	if err := emitFeatures(&printer{w: &b}, map[string]bool{"sctp": false, "ipv6": true}); err != nil {
		t.Fatal(err)
	}
	if want := "ipv6 true\nsctp false\n"; b.String() != want {
		t.Errorf("features %q, want %q", b.String(), want)
	}
}

func TestSupportsUsageErrors(t *testing.T) {
	addr := absentDaemon(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"supports", "options", "tcpp"}, `invalid option level "tcpp"`},
		{[]string{"supports", "ipv6", "x"}, `"ipv6" takes no level`},
		{[]string{"supports", "options", "ip", "x"}, "accepts at most 2 arg(s)"},
		{[]string{"is-supported"}, "accepts between 1 and 3 arg(s)"},
	} {
		code, stdout, stderr := sockctl(t, append([]string{"--addr", addr}, tt.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tt.args, code, stdout, stderr, exitUsage, tt.want)
		}
	}
}
