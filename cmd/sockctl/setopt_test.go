package main

import (
	"strings"
	"testing"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/options"
)

// TestEveryValueTypeHasAReadableForm: every type of a settable option in the
// table is one the client's parser reads, so that setopt can set every
// option the table has.
func TestEveryValueTypeHasAReadableForm(t *testing.T) {
	for i := range options.Table {
		o := &options.Table[i]
		if !o.Set || o.Type == options.TypeMap {
			continue
		}
		if _, ok := client.OptionValueForms(o.Type.String()); !ok {
			t.Errorf("%s: no readable form for value type %s", o.Key, o.Type)
		}
	}
}

// TestReadableNamesAreTheTables: the names setopt accepts for tos and
// pmtudisc are the ones the option table knows.
func TestReadableNamesAreTheTables(t *testing.T) {
	for _, name := range []string{"lowdelay", "throughput", "reliability", "mincost"} {
		if _, err := client.ParseOptionValue(options.TypeIPTOS.String(), name); err != nil {
			t.Errorf("tos %s: %v", name, err)
		}
		if _, ok := options.ParseTOS(name); !ok {
			t.Errorf("options does not know tos %s", name)
		}
	}
	for _, name := range []string{"want", "dont", "do", "probe"} {
		if _, err := client.ParseOptionValue(options.TypeIPPMTUDisc.String(), name); err != nil {
			t.Errorf("pmtudisc %s: %v", name, err)
		}
		if _, ok := options.ParsePMTUDisc(name); !ok {
			t.Errorf("options does not know pmtudisc %s", name)
		}
	}
}

func TestSetOptUsageErrors(t *testing.T) {
	addr := absentDaemon(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"setopt", "S", "socket", "reuseaddr"}, "accepts 4 arg(s)"},
		{[]string{"setopt", "S", "sock", "reuseaddr", "true"}, `unknown option level "sock"`},
		{[]string{"setopt", "S", "socket", "reuseadr", "true"}, `unknown socket option "reuseadr": want one of acceptconn,`},
		{[]string{"setopt", "S", "socket", "reuseaddr", "yes"}, `socket.reuseaddr: invalid option value "yes"; want true or false`},
		{[]string{"setopt", "S", "socket", "linger", "5"}, "want abort, or onoff=BOOL,linger=SECONDS"},
		{[]string{"setopt", "S", "socket", "rcvbuf", "--", "-1"}, "out of range"},
		{[]string{"setopt", "S", "ip", "add_membership", "interface=any"}, "multiaddr is missing"},
		{[]string{"setopt", "S", "ip", "tos", "fast"}, "lowdelay, throughput"},
		{[]string{"setopt", "S", "otp", "rcvbuf", "{0,8192}"}, "positive"},
		{[]string{"setopt", "S", "ipv6", "add_membership", "multiaddr=ff02::1,interface=lo"}, "interface"},
		{[]string{"setopt", "S", "socket", "bsp_state", "x"}, "cannot be set"},
	}
	for _, tt := range tests {
		code, stdout, stderr := sockctl(t, append([]string{"--addr", addr}, tt.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d and %q", tt.args, code, stdout, stderr, exitUsage, tt.want)
		}
	}
	// Valid values get as far as dialing.
	for _, args := range [][]string{
		{"setopt", "S", "socket", "linger", "onoff=true,linger=5"},
		{"setopt", "S", "ip", "add_membership", "multiaddr=224.0.0.1,interface=any"},
		{"setopt", "S", "ip", "add_source_membership", "multiaddr=232.1.1.1,interface=any,sourceaddr=127.0.0.1"},
		{"setopt", "S", "ipv6", "add_membership", "multiaddr=ff02::1,interface=1"},
		{"setopt", "S", "ipv6", "pktinfo", "true"},
		{"setopt", "S", "socket", "rcvtimeo", "sec=1,usec=0"},
		{"setopt", "S", "otp", "rcvbuf", "4,8192"},
		{"setopt", "S", "ip", "mtu_discover", "want"},
	} {
		if code, _, stderr := sockctl(t, append([]string{"--addr", addr}, args...)...); code != exitUnreachable {
			t.Errorf("%v: exit %d (%q), want %d: the value is valid", args, code, stderr, exitUnreachable)
		}
	}
}

func TestSetOptHelpListsTheTable(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"setopt", "--help"}, {"getopt", "--help"}} {
		code, stdout, _ := sockctl(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d", args, code)
		}
		for i := range options.Table {
			if name := options.Table[i].Name; !strings.Contains(stdout, " "+name) {
				t.Errorf("%v does not list %s", args, options.Table[i].Key)
			}
		}
	}
}

// An option used against its Set/Get columns is the command line's
// mistake: exit 2 before any call, as an unknown option is.
func TestOptionDirectionIsAUsageError(t *testing.T) {
	for _, c := range []struct {
		level, name string
		set         bool
		want        int
	}{
		{"otp", "fd", true, exitUsage},
		{"socket", "type", true, exitUsage},
		{"ip", "add_membership", false, exitUsage},
		{"ip", "ttl", true, exitOK},
		{"ip", "ttl", false, exitOK},
		{"ip", "add_membership", true, exitOK},
	} {
		if _, err := lookupOption(c.level, c.name, c.set); exitCode(err) != c.want {
			t.Errorf("%s %s (set %v): %v, want exit %d", c.level, c.name, c.set, err, c.want)
		}
	}
}
