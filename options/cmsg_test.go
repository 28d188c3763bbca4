package options

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Every name a sender may give reads back as itself, and ipv6 hoplimit by
// name is IPV6_HOPLIMIT, though the kernel's IPV6_2292HOPLIMIT is named so too.
func TestControlNamesRoundTrip(t *testing.T) {
	names := ControlNames()
	if len(names) == 0 {
		t.Fatal("no control message names")
	}
	for _, name := range names {
		levelName, typeName, _ := strings.Cut(name, "/")
		level, ok := ParseControlLevel(levelName)
		if !ok {
			t.Fatalf("%s: level does not parse", name)
		}
		typ, ok := ParseControlType(level, typeName)
		if !ok {
			t.Fatalf("%s: type does not parse", name)
		}
		k := ControlKind{Level: level, Type: typ}
		if k.LevelName()+"/"+k.TypeName() != name {
			t.Errorf("%s reads back as %s/%s", name, k.LevelName(), k.TypeName())
		}
	}
	if typ, _ := ParseControlType(unix.IPPROTO_IPV6, "hoplimit"); typ != unix.IPV6_HOPLIMIT {
		t.Errorf("ipv6/hoplimit = %d, want IPV6_HOPLIMIT", typ)
	}
	if _, ok := ParseControlType(unix.IPPROTO_IP, "hoplimit"); ok {
		t.Error("ip/hoplimit parsed")
	}
}

// Only ip tos names its values, with the names of the option's values.
func TestControlValueNames(t *testing.T) {
	tos := ControlKind{Level: unix.IPPROTO_IP, Type: unix.IP_TOS}
	if v, ok := tos.ParseValue("lowdelay"); !ok || v != 0x10 || tos.ValueName(v) != "lowdelay" {
		t.Errorf("ip/tos lowdelay = %#x, %v; named %q", v, ok, tos.ValueName(v))
	}
	if _, ok := tos.ParseValue("fastest"); ok {
		t.Error("ip/tos fastest parsed")
	}
	if name := tos.ValueName(0xff); name != "" {
		t.Errorf("ip/tos 0xff named %q", name)
	}
	ttl := ControlKind{Level: unix.IPPROTO_IP, Type: unix.IP_TTL}
	if _, ok := ttl.ParseValue("lowdelay"); ok || ttl.ValueName(0x10) != "" {
		t.Error("ip/ttl has named values")
	}
}

// The kinds a sender may give as one integer are those the engine encodes
// from an int.
func TestIntControlNames(t *testing.T) {
	if got, want := strings.Join(IntControlNames(), " "), "ip/tos ip/ttl ipv6/hoplimit ipv6/tclass"; got != want {
		t.Errorf("IntControlNames = %s, want %s", got, want)
	}
}
