package integration

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Options through the real sockctl binary and the client library:
// readable values in and out, the daemon's refusals, supports and
// is-supported.

// TestSockctlSetOptGetOpt sets options in their readable forms and reads
// them back in the same forms.
func TestSockctlSetOptGetOpt(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	tcp := c.ok(t, "open", "inet", "stream", "tcp")
	udp := c.ok(t, "open", "inet", "dgram", "udp")
	udp6 := c.ok(t, "open", "inet6", "dgram", "udp")
	localDgram := c.ok(t, "open", "local", "dgram")
	for _, tc := range []struct {
		id, level, name, set, get string
	}{
		{udp, "socket", "reuseaddr", "true", "true"},
		{tcp, "socket", "linger", "onoff=true,linger=5", "onoff=true,linger=5"},
		{tcp, "socket", "linger", "abort", "onoff=true,linger=0"},
		{tcp, "tcp", "nodelay", "true", "true"},
		{udp, "ip", "tos", "lowdelay", "lowdelay"},
		{udp, "ip", "ttl", "7", "7"},
		{udp, "ip", "multicast_if", "127.0.0.1", "127.0.0.1"},
		{udp, "ip", "mtu_discover", "do", "do"},
		{tcp, "otp", "rcvbuf", "{4,8192}", "{4,8192}"},
		{tcp, "otp", "rcvbuf", "default", "8192"},
		{tcp, "otp", "rcvctrlbuf", "2048", "2048"},
		// Rows the reference adds to the seed's tables.
		{tcp, "socket", "mark", "7", "7"},
		{localDgram, "socket", "passcred", "true", "true"},
		{udp, "socket", "rxq_ovfl", "true", "true"},
		// Scenarios 34 and 35 (reference §9): ipv6 multicast, tcp maxseg,
		// udp cork.
		{udp6, "ipv6", "multicast_hops", "5", "5"},
		{udp6, "ipv6", "multicast_loop", "false", "false"},
		{udp6, "ipv6", "multicast_if", "1", "1"},
		{tcp, "tcp", "maxseg", "1000", "1000"},
		{udp, "udp", "cork", "true", "true"},
	} {
		if tc.name == "mark" && os.Geteuid() != 0 {
			continue // setting it wants CAP_NET_ADMIN
		}
		c.ok(t, "setopt", tc.id, tc.level, tc.name, tc.set)
		if got := c.ok(t, "getopt", tc.id, tc.level, tc.name); got != tc.get {
			t.Errorf("setopt %s %s %s, then getopt printed %q, want %q", tc.level, tc.name, tc.set, got, tc.get)
		}
	}
	c.ok(t, "setopt", udp, "ip", "add_membership", "multiaddr=224.0.0.251,interface=127.0.0.1")
	c.ok(t, "setopt", udp, "ip", "drop_membership", "multiaddr=224.0.0.251,interface=127.0.0.1")

	obj := jsonLines(t, c.ok(t, "-o", "json", "getopt", tcp, "socket", "linger"))[0]
	if v, ok := obj["value"].(map[string]any); !ok || v["onoff"] != true || v["linger"] != float64(0) {
		t.Errorf("getopt -o json linger = %v, want {value: {onoff: true, linger: 0}}", obj)
	}
	if got := c.ok(t, "getopt", tcp, "socket", "type"); got != "stream" {
		t.Errorf("getopt socket type = %q, want stream", got)
	}
	// A local stream pair: the accepted end reads its peer's credentials:
	// the daemon's user (this test's) and pid.
	ln := c.ok(t, "open", "local", "stream")
	c.ok(t, "bind", ln, "local:@sockd-peercred-"+ln)
	c.ok(t, "listen", ln)
	cl := c.ok(t, "open", "local", "stream")
	c.ok(t, "connect", cl, "local:@sockd-peercred-"+ln)
	acc := c.ok(t, "accept", ln)
	if got, uid := c.ok(t, "getopt", acc, "socket", "peercred"), fmt.Sprintf("uid=%d", os.Geteuid()); !strings.Contains(got, uid) || !strings.Contains(got, "pid=") {
		t.Errorf("getopt socket peercred = %q, want pid=...,%s,gid=...", got, uid)
	}
	// Scenario 26 on udp: acceptconn reads false, and is not set.
	if got := c.ok(t, "getopt", udp, "socket", "acceptconn"); got != "false" {
		t.Errorf("getopt udp socket acceptconn = %q, want false", got)
	}
	c.fails(t, 2, "setopt", udp, "socket", "acceptconn", "true")
	// Scenario 31: recvorigdstaddr delivers the datagram's destination.
	rcv := c.ok(t, "open", "inet", "dgram", "udp")
	c.ok(t, "setopt", rcv, "ip", "recvorigdstaddr", "true")
	c.ok(t, "bind", rcv, "127.0.0.1:0")
	rcvAddr := c.ok(t, "sockname", rcv)
	snd := c.ok(t, "open", "inet", "dgram", "udp") // udp is corked above
	c.ok(t, "sendto", snd, "where", rcvAddr)
	if got := c.ok(t, "recvmsg", rcv, "--timeout", "2s"); !strings.Contains(got, "control=ip/origdstaddr:"+rcvAddr) {
		t.Errorf("recvmsg with recvorigdstaddr = %q, want ip/origdstaddr:%s", got, rcvAddr)
	}
	c.ok(t, "setopt", rcv, "ip", "pktinfo", "true")
	c.ok(t, "sendto", snd, "which", rcvAddr)
	if got := c.ok(t, "recvmsg", rcv, "--timeout", "2s"); !strings.Contains(got, "ip/pktinfo:ifindex=1,spec_dst=127.0.0.1,addr=127.0.0.1") {
		t.Errorf("recvmsg with pktinfo = %q, want ip/pktinfo:ifindex=1,spec_dst=127.0.0.1,addr=127.0.0.1", got)
	}
	if got := c.ok(t, "getopt", udp, "otp", "domain"); got != "inet" {
		t.Errorf("getopt otp domain = %q, want inet", got)
	}
	if got := c.ok(t, "getopt", tcp, "socket", "error"); got != "0" {
		t.Errorf("getopt socket error = %q, want 0", got)
	}

	// The daemon's refusals are socket errors: exit 1.
	if stderr := c.fails(t, 1, "setopt", udp, "tcp", "nodelay", "true"); !strings.Contains(stderr, "error: enoprotoopt") {
		t.Errorf("a tcp option on a udp socket: stderr %q, want enoprotoopt", stderr)
	}
	if stderr := c.fails(t, 1, "setopt", udp, "ip", "add_membership", "multiaddr=10.1.1.1,interface=any"); !strings.Contains(stderr, "error: einval") {
		t.Errorf("non-multicast group: stderr %q, want the kernel's einval", stderr)
	}
	// A malformed value never reaches the daemon: exit 2, naming the form.
	if stderr := c.fails(t, 2, "setopt", tcp, "socket", "linger", "5"); !strings.Contains(stderr, "onoff=BOOL,linger=SECONDS") {
		t.Errorf("bad linger: stderr %q", stderr)
	}

	// Native: IPPROTO_IP (0) IP_TTL (2), seen by the typed getopt too.
	c.ok(t, "setopt-native", udp, "0", "2", "42")
	if got := c.ok(t, "getopt-native", udp, "0", "2"); got != "42" {
		t.Errorf("getopt-native ttl = %q, want 42", got)
	}
	if got := c.ok(t, "getopt", udp, "ip", "ttl"); got != "42" {
		t.Errorf("getopt ip ttl after native set = %q, want 42", got)
	}
	if got := c.ok(t, "getopt-native", udp, "1", "2", "--bool"); got != "true" {
		t.Errorf("getopt-native SO_REUSEADDR --bool = %q, want true", got)
	}
	if got := c.ok(t, "getopt-native", udp, "1", "2", "--type", "bool"); got != "true" {
		t.Errorf("getopt-native SO_REUSEADDR --type bool = %q, want true", got)
	}
	if got := c.ok(t, "getopt-native", udp, "0", "2", "--type", "bytes", "--size", "4"); got != "2a000000" {
		t.Errorf("getopt-native ttl --type bytes --size 4 = %q, want 2a000000", got)
	}
	if got := c.ok(t, "getopt-native", udp, "0", "2", "--size", "4"); got != "2a000000" {
		t.Errorf("getopt-native ttl --size 4 = %q, want 2a000000", got)
	}
}

// TestSockctlSupports lists the option table with the host's support, in
// both forms, and answers is-supported.
func TestSockctlSupports(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	rows := jsonLines(t, c.ok(t, "-o", "json", "supports", "options"))
	if len(rows) < 100 {
		t.Fatalf("supports options -o json: %d rows, want every option of the table", len(rows))
	}
	byKey := map[string]map[string]any{}
	for _, r := range rows {
		for _, k := range []string{"level", "name", "type", "set", "get", "supported"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("row %v lacks %s", r, k)
			}
		}
		byKey[r["level"].(string)+"."+r["name"].(string)] = r
	}
	if r := byKey["socket.reuseaddr"]; r["supported"] != true || r["type"] != "boolean()" || r["set"] != true {
		t.Errorf("socket.reuseaddr = %v", r)
	}
	if r := byKey["socket.peek_off"]; r["supported"] != false {
		t.Errorf("socket.peek_off = %v, want unsupported", r)
	}
	if r := byKey["socket.acceptconn"]; r["set"] != false || r["get"] != true {
		t.Errorf("socket.acceptconn = %v, want get only", r)
	}

	table := strings.Split(c.ok(t, "supports", "options", "tcp"), "\n")
	if !strings.HasPrefix(table[0], "LEVEL ") || len(table) < 9 {
		t.Fatalf("supports options tcp printed %q", table)
	}
	nameCol := strings.Index(table[0], "NAME")
	for _, row := range table[1:] {
		if !strings.HasPrefix(row, "tcp ") || row[nameCol-1] != ' ' || row[nameCol] == ' ' {
			t.Errorf("row %q is not an aligned tcp row under %q", row, table[0])
		}
	}
	if got := c.ok(t, "supports", "ipv6"); got != "ipv6 true" {
		t.Errorf("supports ipv6 = %q", got)
	}
	// A key it does not know is a usage error, as is-supported's false is no error.
	c.fails(t, 2, "supports", "nonsense")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"options", "socket.reuseaddr"}, "true"},
		{[]string{"options", "ip", "transparent"}, "true"},
		{[]string{"options", "socket.peek_off"}, "false"},
		{[]string{"options", "socket.nosuch"}, "false"},
		{[]string{"ipv6"}, "true"},
	} {
		if got := c.ok(t, append([]string{"is-supported"}, tc.args...)...); got != tc.want {
			t.Errorf("is-supported %v = %q, want %s", tc.args, got, tc.want)
		}
	}
}

// TestClientSupports: the client library's typed calls.
func TestClientSupports(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	c, err := client.Dial(ctx, daemon.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rows, err := c.SupportedOptions(ctx, sockdv1.OptionLevel_OPTION_LEVEL_IPV6)
	if err != nil || len(rows) == 0 {
		t.Fatalf("SupportedOptions(ipv6) = %d rows, %v", len(rows), err)
	}
	for _, r := range rows {
		if r.GetKey().GetLevel() != sockdv1.OptionLevel_OPTION_LEVEL_IPV6 {
			t.Errorf("SupportedOptions(ipv6) returned %v", r.GetKey())
		}
		if _, ok := client.OptionValueForms(r.GetValueType()); !ok && r.GetSet() {
			t.Errorf("%v: the client cannot parse values of type %q", r.GetKey(), r.GetValueType())
		}
	}
	features, err := c.Supports(ctx, "")
	if err != nil || !features["ipv6"] || !features["local"] {
		t.Errorf("Supports() = %v, %v; want ipv6 and local", features, err)
	}
	for keys, want := range map[string]bool{"options socket.reuseport": true, "options socket.peek_off": false, "ipv6": true, "nosuch": false} {
		got, err := c.IsSupported(ctx, strings.Fields(keys)...)
		if err != nil || got != want {
			t.Errorf("IsSupported(%s) = %v, %v; want %v", keys, got, err, want)
		}
	}
}

// TestSockctlSelectRead: with otp select_read on, a nowait recvfrom that
// reads prints the datagram and the new select it left armed, and that
// select's event follows when the next datagram arrives.
func TestSockctlSelectRead(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	rx := c.ok(t, "open", "inet", "dgram", "udp")
	tx := c.ok(t, "open", "inet", "dgram", "udp")
	c.ok(t, "bind", rx, "127.0.0.1:0")
	addr := c.ok(t, "sockname", rx)
	c.ok(t, "setopt", rx, "otp", "select_read", "true")
	if got := c.ok(t, "getopt", rx, "otp", "select_read"); got != "true" {
		t.Fatalf("getopt otp select_read = %q", got)
	}
	c.ok(t, "sendto", tx, "first", addr)
	out := c.ok(t, "recvfrom", rx, "--nowait", "--handle", "41")
	if !strings.Contains(out, `data="first"`) || !strings.Contains(out, "select_read recvfrom handle=41") {
		t.Fatalf("recvfrom --nowait with select_read printed %q", out)
	}
	c.ok(t, "sendto", tx, "second", addr)
	// The loop delivers the select a moment after the datagram lands.
	deadline := time.Now().Add(5 * time.Second)
	for ev := ""; !strings.Contains(ev, "select handle=41 op=recvfrom"); ev = c.ok(t, "events", "--after", "0") {
		if time.Now().After(deadline) {
			t.Fatalf("events after the next datagram: %q", ev)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSockctlCancelByHandle: cancel ID HANDLE needs no --op: whichever
// pending operation has the handle is cancelled.
func TestSockctlCancelByHandle(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	l := c.ok(t, "open", "inet", "stream", "tcp")
	c.ok(t, "bind", l, "127.0.0.1:0")
	c.ok(t, "listen", l)
	if out := c.ok(t, "accept", l, "--nowait", "--handle", "78"); !strings.Contains(out, "select accept handle=78") {
		t.Fatalf("accept --nowait printed %q", out)
	}
	c.ok(t, "cancel", l, "78")
	if stderr := c.fails(t, 1, "cancel", l, "78"); !strings.Contains(stderr, "select_info") {
		t.Fatalf("a second cancel: stderr %q, want invalid select_info", stderr)
	}
}
