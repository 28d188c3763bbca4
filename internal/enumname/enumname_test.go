package enumname

import (
	"testing"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestOfAndParse(t *testing.T) {
	d := sockdv1.Domain(0).Descriptor()
	if got := Of(d, sockdv1.Domain_DOMAIN_INET6.Number()); got != "inet6" {
		t.Errorf("Of(DOMAIN_INET6) = %q", got)
	}
	if got := Of(d, 999); got != "999" {
		t.Errorf("Of(999) = %q, want the number", got)
	}
	for name, want := range map[string]sockdv1.Domain{"inet6": sockdv1.Domain_DOMAIN_INET6, "LOCAL": sockdv1.Domain_DOMAIN_LOCAL} {
		if n, ok := Parse(d, name); !ok || sockdv1.Domain(n) != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", name, n, ok, want)
		}
	}
	for _, name := range []string{"", "unspecified", "DOMAIN_INET", "bogus"} {
		if n, ok := Parse(d, name); ok {
			t.Errorf("Parse(%q) = %v, want none", name, n)
		}
	}
}
