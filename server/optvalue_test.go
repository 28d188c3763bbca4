package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/options"
)

// A kernel's string that is not UTF-8 (an interface name may be any bytes)
// still makes an answer that marshals, its stray bytes written \xNN.
func TestStringOptionValueNotUTF8(t *testing.T) {
	for in, want := range map[string]string{
		"eth0":         "eth0",
		"\xff\xfe":     `\xff\xfe`,
		"br-\xc3\xa9x": "br-éx",
		"a\xc3":        `a\xc3`,
	} {
		v := encodeOptionValue(options.TypeString, in)
		if got := v.GetStringValue(); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
		if _, err := proto.Marshal(v); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}
