package main

import (
	"fmt"
	"testing"
)

func TestParseControlArg(t *testing.T) {
	c, err := parseControlArg("ip/ttl:1")
	if err != nil || c.GetLevelName() != "ip" || c.GetTypeName() != "ttl" || c.GetIntValue() != 1 {
		t.Errorf("parseControlArg(ip/ttl:1) = %v, %v", c, err)
	}
	if c, err := parseControlArg("ip/tos:lowdelay"); err != nil || c.GetValueName() != "lowdelay" || c.GetValue() != nil {
		t.Errorf("parseControlArg(ip/tos:lowdelay) = %v, %v", c, err)
	}
	// The daemon would refuse unknown names in-band (exit 1); they are the
	// command line's mistake, so sockctl refuses them itself (exit 2).
	for _, bad := range []string{"ip/ttl", "ttl:1", "/ttl:1", "ip/:1", "ip/ttl:", "ip/ttl:1x", "ip/ttl:-x", "ip/ttl:4294967296",
		"ipx/ttl:1", "ip/bogus:1", "ipv6/ttl:1", "0/1:1", "ip/tos:fastest", "ip/ttl:lowdelay", "ipv6/tclass:lowdelay",
		"ip/pktinfo:1", "ip/recvttl:1", "socket/timestamp:1"} {
		if _, err := parseControlArg(bad); exitCode(err) != exitUsage {
			t.Errorf("parseControlArg(%q) = %v, want a usage error", bad, err)
		}
	}
}

// FuzzParseControlArg: an argument is a control message naming its level
// and type, whose printed form parses back to it, or a usage error.
func FuzzParseControlArg(f *testing.F) {
	for _, s := range []string{"ip/ttl:1", "ipv6/tclass:0x10", "socket/timestamp:-1", "ip/ttl", ":", "a/b:c:d", "ip/tos:lowdelay"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		c, err := parseControlArg(arg)
		if err != nil {
			return
		}
		printed := fmt.Sprintf("%s/%s:%d", c.GetLevelName(), c.GetTypeName(), c.GetIntValue())
		if c.GetValueName() != "" {
			printed = fmt.Sprintf("%s/%s:%s", c.GetLevelName(), c.GetTypeName(), c.GetValueName())
		}
		again, err := parseControlArg(printed)
		if err != nil || again.GetLevelName() != c.GetLevelName() || again.GetTypeName() != c.GetTypeName() ||
			again.GetIntValue() != c.GetIntValue() || again.GetValueName() != c.GetValueName() {
			t.Fatalf("parseControlArg(%q) = %v, which does not parse back: %v %v", arg, c, again, err)
		}
	})
}
