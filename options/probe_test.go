package options

import (
	"testing"

	"golang.org/x/sys/unix"
)

// A set-only option is supported when the kernel knows its name: whether
// it refuses the probe's empty value for its length or takes it, as
// Linux's sctp events does (a reviewer found sctp events reported
// unsupported on SCTP hosts); not when it says it knows no such option.
func TestProbeOfSetOnlyOptions(t *testing.T) {
	scratch := newScratch()
	defer scratch.close()
	for _, c := range []struct {
		name   string
		sys    int
		wanted bool
	}{
		{"ip_options, which takes an empty value", unix.IP_OPTIONS, true},
		{"ip_ttl, which refuses one", unix.IP_TTL, true},
		{"an option the kernel does not know", 9999, false},
	} {
		o := &Option{Key: Key{LevelIP, "probe"}, Type: TypeBool, Set: true, SysLevel: unix.IPPROTO_IP, SysName: c.sys}
		if got := probe(o, scratch); got != c.wanted {
			t.Errorf("%s: supported %v, want %v", c.name, got, c.wanted)
		}
	}
}
