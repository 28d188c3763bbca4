package integration

import (
	"strings"
	"testing"
)

// openSCTP opens an SCTP socket of typ through sockctl, or skips the test
// when the kernel has no SCTP (as this kind of machine's: socket(2) answers
// esocktnosupport for seqpacket, eprotonosupport for stream).
func openSCTP(t *testing.T, c *sockctl, domain, typ string) string {
	t.Helper()
	out, stderr, code := c.run(t, "open", domain, typ, "sctp")
	if code == 1 && (strings.Contains(stderr, "eprotonosupport") || strings.Contains(stderr, "esocktnosupport")) {
		t.Skipf("this kernel has no SCTP: open %s %s sctp answered %s", domain, typ, strings.TrimSpace(stderr))
	}
	if code != 0 {
		t.Fatalf("open %s %s sctp: exit %d, %s", domain, typ, code, stderr)
	}
	return strings.TrimSpace(out)
}

// TestSCTPLive drives SCTP through the daemon where the kernel has it: a
// one-to-many (seqpacket) pair exchanging messages with sendto/recvfrom
// and recvmsg, a one-to-one (stream) connection, and the sctp options
// table against the kernel (nodelay, initmsg, events, autoclose, maxseg).
func TestSCTPLive(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	server := openSCTP(t, c, "inet", "seqpacket")
	c.ok(t, "bind", server, "127.0.0.1:0")
	c.ok(t, "listen", server)
	at := c.ok(t, "sockname", server)
	cl := openSCTP(t, c, "inet", "seqpacket")

	c.ok(t, "setopt", cl, "sctp", "nodelay", "true")
	if got := c.ok(t, "getopt", cl, "sctp", "nodelay"); got != "true" {
		t.Errorf("sctp nodelay = %q after setting it", got)
	}
	c.ok(t, "setopt", cl, "sctp", "initmsg", "num_ostreams=5,max_instreams=6,max_attempts=3,max_init_timeo=2000")
	if got := c.ok(t, "getopt", cl, "sctp", "initmsg"); !strings.Contains(got, "num_ostreams=5") || !strings.Contains(got, "max_instreams=6") {
		t.Errorf("sctp initmsg = %q after setting it", got)
	}
	c.ok(t, "setopt", server, "sctp", "events", "data_io=true,association=true")
	c.ok(t, "setopt", server, "sctp", "autoclose", "30")
	if got := c.ok(t, "getopt", server, "sctp", "autoclose"); got != "30" {
		t.Errorf("sctp autoclose = %q after setting it", got)
	}
	c.ok(t, "getopt", cl, "sctp", "maxseg")

	c.ok(t, "sendto", cl, "hello", at)
	// With association events on, the server may first read the
	// association's change notification; the message follows it.
	var got string
	for range 3 {
		got = c.ok(t, "recvmsg", server, "--timeout", "2s")
		if strings.Contains(got, `data="hello"`) {
			break
		}
	}
	if !strings.Contains(got, `data="hello"`) {
		t.Fatalf("server's recvmsg: %q, want the client's message", got)
	}

	// One-to-one style.
	l := openSCTP(t, c, "inet", "stream")
	c.ok(t, "bind", l, "127.0.0.1:0")
	c.ok(t, "listen", l)
	s := openSCTP(t, c, "inet", "stream")
	c.ok(t, "connect", s, c.ok(t, "sockname", l))
	a := c.ok(t, "accept", l, "--timeout", "2s")
	c.ok(t, "send", s, "one-to-one")
	if got := c.ok(t, "recv", a, "--timeout", "2s"); got != "one-to-one" {
		t.Errorf("one-to-one recv: %q", got)
	}
}
