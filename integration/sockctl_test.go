package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/internal/syncbuf"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// sockctl runs the real sockctl binary against the test daemon with one
// session name.
type sockctl struct {
	addr    string
	session string
}

// newSockctl returns a sockctl bound to a session name of its own; the
// session is closed when the test ends.
func newSockctl(t *testing.T) *sockctl {
	c := &sockctl{addr: daemon.Addr, session: uniqueName(t)}
	t.Cleanup(func() { c.run(t, "session", "close") })
	return c
}

// run runs sockctl with args and returns its stdout, stderr and exit status.
func (c *sockctl) run(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, sockctlBin, append([]string{"--addr", c.addr, "--session", c.session}, args...)...)
	// A -race binary sleeps a second at exit unless told not to; a race it
	// finds still makes it exit with status 66.
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	return runCommand(t, cmd)
}

// runCommand runs cmd and returns its stdout, stderr and exit status; a
// command that could not run at all fails the test.
func runCommand(t testing.TB, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return out.String(), errOut.String(), code
}

// ok runs sockctl, requires exit status 0, and returns stdout trimmed.
func (c *sockctl) ok(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, code := c.run(t, args...)
	if code != 0 {
		t.Fatalf("sockctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// fails runs sockctl and requires the exit status code; it returns stderr.
func (c *sockctl) fails(t testing.TB, code int, args ...string) string {
	t.Helper()
	out, errOut, got := c.run(t, args...)
	if got != code {
		t.Fatalf("sockctl %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errOut)
	}
	return errOut
}

// jsonLines parses output that must be one JSON object per line.
func jsonLines(t testing.TB, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("not a JSON object per line: %q: %v", line, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

var socketIDPattern = regexp.MustCompile(`^[0-9a-f]{16,}$`)

// TestSockctlTour follows the README's tour through the real sockctl binary:
// open, bind, listen, sockname; accept --nowait prints a select; connect;
// events shows the select event; accept, send, recv prints the data; info
// shows the counters; close.
func TestSockctlTour(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	l := c.ok(t, "open", "inet", "stream", "tcp")
	if !socketIDPattern.MatchString(l) {
		t.Fatalf("open printed %q, want a socket id", l)
	}
	c.ok(t, "bind", l, "127.0.0.1:0")
	c.ok(t, "listen", l)
	addr := c.ok(t, "sockname", l)
	if !regexp.MustCompile(`^127\.0\.0\.1:[1-9][0-9]*$`).MatchString(addr) {
		t.Fatalf("sockname printed %q, want 127.0.0.1:PORT", addr)
	}

	sel := c.ok(t, "accept", l, "--nowait")
	m := regexp.MustCompile(`^select accept handle=([0-9]+)$`).FindStringSubmatch(sel)
	if m == nil {
		t.Fatalf("accept --nowait printed %q, want \"select accept handle=N\"", sel)
	}
	handle := m[1]

	conn := c.ok(t, "open", "inet", "stream", "tcp")
	c.ok(t, "connect", conn, addr)
	events := c.ok(t, "events")
	wantEvent := fmt.Sprintf("socket=%s select handle=%s op=accept", l, handle)
	if !regexp.MustCompile(`(?m)^seq=[0-9]+ ` + regexp.QuoteMeta(wantEvent) + `$`).MatchString(events) {
		t.Fatalf("events printed:\n%s\nwant a line \"seq=N %s\"", events, wantEvent)
	}

	a := c.ok(t, "accept", l)
	if !socketIDPattern.MatchString(a) {
		t.Fatalf("accept printed %q, want a socket id", a)
	}
	c.ok(t, "send", conn, "hello")
	if got := c.ok(t, "recv", a); got != "hello" {
		t.Fatalf("recv printed %q, want hello", got)
	}
	info := c.ok(t, "info", a)
	for _, want := range []string{"domain: inet", "type: stream", "protocol: tcp", "read_byte: 5"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(info) {
			t.Errorf("info printed:\n%s\nwant a line %q", info, want)
		}
	}
	c.ok(t, "close", l)
	c.fails(t, 1, "close", l)
}

// TestSockctlJSON: -o json prints one JSON object per line, shaped like the
// response.
func TestSockctlJSON(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	l := c.ok(t, "open", "inet", "stream", "tcp")
	c.ok(t, "bind", l, "127.0.0.1:0")
	c.ok(t, "listen", l)

	async := jsonLines(t, c.ok(t, "-o", "json", "accept", l, "--nowait", "--handle", "9"))
	if len(async) != 1 {
		t.Fatalf("accept --nowait -o json: %d objects, want 1", len(async))
	}
	info, _ := async[0]["async"].(map[string]any)
	if info["operation"] != "accept" || info["handle"] != float64(9) {
		t.Fatalf("accept --nowait -o json = %v, want async accept handle 9", async[0])
	}
	c.ok(t, "cancel", l, "9", "--op", "accept")

	objs := jsonLines(t, c.ok(t, "-o", "json", "info", l))
	if len(objs) != 1 || objs[0]["domain"] != "inet" || objs[0]["socket"] != l {
		t.Fatalf("info -o json = %v, want one object for %s", objs, l)
	}
	if _, ok := objs[0]["counters"].(map[string]any); !ok {
		t.Fatalf("info -o json has no counters object: %v", objs[0])
	}

	// Two events: the recv's select after the peer sends, on the session's
	// own connection.
	addr := c.ok(t, "sockname", l)
	conn := c.ok(t, "open", "inet", "stream", "tcp")
	c.ok(t, "connect", conn, addr)
	acc := c.ok(t, "accept", l, "--timeout", "5s")
	c.ok(t, "recv", acc, "--nowait", "--handle", "21")
	c.ok(t, "send", conn, "x")
	var lines []map[string]any
	for _, ev := range jsonLines(t, c.ok(t, "-o", "json", "events")) {
		if ev["event"] == "select" && ev["handle"] == float64(21) {
			lines = append(lines, ev)
		}
	}
	if len(lines) != 1 || lines[0]["operation"] != "recv" || lines[0]["socket"] != acc {
		t.Fatalf("events -o json: select events for handle 21 = %v, want one recv select on %s", lines, acc)
	}

	// A socket error is a JSON object with its error, and exit status 1.
	out, _, code := c.run(t, "-o", "json", "recv", acc, "--length", "5", "--timeout", "0")
	if code != 1 {
		t.Fatalf("recv --timeout 0 on a drained socket: exit %d, want 1", code)
	}
	objs = jsonLines(t, out)
	e, _ := objs[0]["error"].(map[string]any)
	if len(objs) != 1 || e["reason"] != "timeout" {
		t.Fatalf("recv timeout -o json = %v, want an error with reason timeout", objs)
	}
}

// TestSockctlExitCodes: 1 for a socket error (with "error: REASON" on stderr)
// or a call the daemon refused, 2 for a usage error, 3 when the daemon cannot
// be reached.
func TestSockctlExitCodes(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	if out := c.ok(t, "--help"); !strings.Contains(out, "Exit status") {
		t.Errorf("sockctl --help does not describe the exit status:\n%s", out)
	}

	// A closed port: econnrefused.
	l := c.ok(t, "open", "inet", "stream", "tcp")
	c.ok(t, "bind", l, "127.0.0.1:0")
	addr := c.ok(t, "sockname", l)
	c.ok(t, "close", l)
	conn := c.ok(t, "open", "inet", "stream", "tcp")
	if stderr := c.fails(t, 1, "connect", conn, addr); strings.TrimSpace(stderr) != "error: econnrefused" {
		t.Errorf("connect to a closed port: stderr %q, want \"error: econnrefused\"", stderr)
	}
	// An unknown socket: the daemon refuses the call.
	c.fails(t, 1, "info", "00000000000000000000000000000000")

	for _, args := range [][]string{
		{"no-such-verb"},
		{"recv"}, // missing argument
		{"open", "inet", "stream", "tcp", "--no-such-flag"},
		{"-o", "yaml", "open", "inet", "stream", "tcp"},
		{"bind", conn, "not-an-address"},
		{"recv", conn, "--timeout", "-5"},
		{"recv", conn, "--length", "-1"},
	} {
		if stderr := c.fails(t, 2, args...); !strings.HasPrefix(stderr, "error: ") {
			t.Errorf("sockctl %v: stderr %q, want \"error: ...\"", args, stderr)
		}
	}

	away := &sockctl{addr: "unix://" + localPath(t), session: c.session}
	if stderr := away.fails(t, 3, "open", "inet", "stream", "tcp"); !strings.HasPrefix(stderr, "error: ") {
		t.Errorf("unreachable daemon: stderr %q, want \"error: ...\"", stderr)
	}
}

// TestSockctlSessionPersistsAndCloses: sockctl's named session keeps its
// sockets between invocations, and "session close" ends it: its sockets are
// closed, with no owner, for every other session too.
func TestSockctlSessionPersistsAndCloses(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	id := c.ok(t, "open", "inet", "dgram", "udp")
	show := c.ok(t, "session", "show")
	if !strings.Contains(show, "existing: true") {
		t.Fatalf("second invocation did not find the session:\n%s", show)
	}
	c.ok(t, "sockname", id) // still there in a later invocation
	c.ok(t, "session", "close")

	waitSocketDead(t, newSession(t), id)
	// Showing or closing a session that is not there creates none: a
	// mistyped name kept one for an hour.
	for _, verb := range []string{"show", "close", "show"} {
		if out := c.fails(t, 1, "session", verb); !strings.Contains(out, "not_found") {
			t.Fatalf("session %s of an ended session printed %q, want not_found", verb, out)
		}
	}
}

// A followed session that is closed ends `events --follow` normally: the
// events it held are printed, then "session ended" and exit status 0.
func TestSockctlEventsFollowEndsWithSession(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	id := c.ok(t, "open", "inet", "dgram", "udp")
	c.ok(t, "bind", id, "127.0.0.1:0")
	addr := c.ok(t, "sockname", id)
	if got := c.ok(t, "recvfrom", id, "--nowait"); !strings.HasPrefix(got, "select recvfrom") {
		t.Fatalf("recvfrom --nowait = %q, want a select", got)
	}

	f := c.follow(t, callTimeout)
	sender := c.ok(t, "open", "inet", "dgram", "udp")
	c.ok(t, "sendto", sender, "ping", addr)
	if got := f.next(t); !strings.Contains(got, "socket="+id+" select handle=") {
		t.Fatalf("followed %q, want the recvfrom's select", got)
	}
	c.ok(t, "session", "close")
	f.expectSessionEnded(t, "the session closed")
}

// following is a running `sockctl events --follow`.
type following struct {
	cmd    *exec.Cmd
	lines  *bufio.Scanner
	errOut *syncbuf.Buffer // read while the command runs
}

// follow starts `events --follow` for c's session, ended after d at most,
// and reads its first line, caught_up.
func (c *sockctl) follow(t *testing.T, d time.Duration) *following {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	f := &following{errOut: new(syncbuf.Buffer)}
	f.cmd = exec.CommandContext(ctx, sockctlBin, "--addr", c.addr, "--session", c.session, "events", "--follow")
	f.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	f.cmd.Stderr = f.errOut
	stdout, err := f.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.lines = bufio.NewScanner(stdout)
	if got := f.next(t); got != "caught_up" {
		t.Fatalf("first line %q, want caught_up", got)
	}
	return f
}

func (f *following) next(t *testing.T) string {
	t.Helper()
	if !f.lines.Scan() {
		t.Fatalf("events --follow ended early: %v\nstderr: %s", f.lines.Err(), f.errOut.String())
	}
	return f.lines.Text()
}

// expectSessionEnded checks that the follow, after what happened, prints
// nothing more and exits 0 saying the session ended.
func (f *following) expectSessionEnded(t *testing.T, what string) {
	t.Helper()
	for f.lines.Scan() {
		t.Errorf("events --follow printed %q after %s", f.lines.Text(), what)
	}
	if err := f.cmd.Wait(); err != nil {
		t.Fatalf("events --follow after %s: %v\nstderr: %s", what, err, f.errOut.String())
	}
	if !strings.Contains(f.errOut.String(), "session ended") {
		t.Fatalf("events --follow stderr %q, want it to say the session ended", f.errOut.String())
	}
}

// `events --follow` whose daemon dies says, after a few seconds, that it
// waits for it; when the daemon comes back it finds its session gone with
// the old daemon: it says the session ended and exits 0, rather than fail
// with the new daemon's "unknown session".
func TestSockctlEventsFollowEndsWhenTheDaemonRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := StartDaemon(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := &sockctl{addr: first.Addr, session: uniqueName(t)}
	c.ok(t, "open", "inet", "dgram", "udp")

	f := c.follow(t, 4*callTimeout)
	first.Kill()
	eventually(t, "events --follow to say it waits for the daemon", func() bool {
		return strings.Contains(f.errOut.String(), "the daemon is out of reach; waiting for it (the session outlives it for 1h0m0s)")
	})
	dedicatedDaemon(t, dir) // on the same address
	f.expectSessionEnded(t, "the daemon restarted")
}

// sendmsg --ctrl sends a control message named as recvmsg prints it: a TTL
// of 3 set on the datagram is the TTL the receiver sees.
func TestSockctlSendMsgControl(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	rcv := c.ok(t, "open", "inet", "dgram", "udp")
	c.ok(t, "setopt", rcv, "ip", "recvttl", "true")
	c.ok(t, "bind", rcv, "127.0.0.1:0")
	addr := c.ok(t, "sockname", rcv)
	snd := c.ok(t, "open", "inet", "dgram", "udp")
	c.ok(t, "sendmsg", snd, "hop", "--to", addr, "--ctrl", "ip/ttl:3")
	if got := c.ok(t, "recvmsg", rcv, "--timeout", "2s"); !strings.Contains(got, "ip/ttl:3") {
		t.Fatalf("recvmsg after sendmsg --ctrl ip/ttl:3 = %q, want the ttl 3", got)
	}
	if stderr := c.fails(t, 2, "sendmsg", snd, "x", "--to", addr, "--ctrl", "ttl=3"); !strings.Contains(stderr, "LEVEL/TYPE:VALUE") {
		t.Fatalf("a malformed --ctrl: stderr %q", stderr)
	}
}

// TLS settings are for tls:// daemons: SOCKD_TLS_* exported for a remote
// daemon leave a local one reachable.
func TestSockctlTLSEnvIgnoredForUnixDaemon(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, sockctlBin, "--addr", daemon.Addr, "number-of")
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0",
		"SOCKD_TLS_CA=/nonexistent/ca.pem", "SOCKD_TLS_CERT=/nonexistent/c.pem", "SOCKD_TLS_KEY=/nonexistent/k.pem")
	if stdout, stderr, code := runCommand(t, cmd); code != 0 {
		t.Fatalf("number-of with SOCKD_TLS_* set, unix daemon: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestSockctlNetnsByName: --netns takes a name as ip netns does (a socket
// there sees that namespace's loopback, down in a new one), and the daemon
// refuses a relative path, which would name a file from its own working
// directory.
func TestSockctlNetnsByName(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("ip netns add needs root")
	}
	name := "sockdtest" + strconv.Itoa(os.Getpid()) + uniqueName(t)[:6]
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", name).Run() })
	c := newSockctl(t)
	id := c.ok(t, "open", "inet", "dgram", "--netns", name)
	if errOut := c.fails(t, 1, "open", "inet", "dgram", "--netns", name+"-missing"); !strings.Contains(errOut, "enoent (no network namespace at /run/netns/"+name+"-missing)") {
		t.Errorf("open in a namespace that does not exist: %q, want enoent naming its path", errOut)
	}
	// socket(2)'s own einval, in a namespace entered, is not the namespace's.
	if errOut := c.fails(t, 1, "open", "inet", "99", "--netns", name); !strings.Contains(errOut, "einval") || strings.Contains(errOut, "namespace") {
		t.Errorf("open of an unknown type in a namespace: %q, want einval without a word of the namespace", errOut)
	}
	if errOut := c.fails(t, 1, "sendto", id, "x", "127.0.0.1:9"); !strings.Contains(errOut, "enetunreach") {
		t.Errorf("a datagram to 127.0.0.1 in a new namespace: %q, want enetunreach (its loopback is down)", errOut)
	}

	s := newSession(t)
	ctx, cancel := s.call()
	defer cancel()
	r, err := s.api.Open(ctx, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_DGRAM, Netns: name})
	if err != nil || r.GetError().GetInvalid() != "netns" {
		t.Fatalf("open in a relative netns path: %v %v, want {invalid, netns}", r, err)
	}
}

// TestSockctlBindNoPathAutobinds: a local socket bound to no path gets an
// abstract name the kernel picks ("@" and five hex digits), as Erlang's bind
// to path <<>>; a connect to no path is the kernel's einval.
func TestSockctlBindNoPathAutobinds(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	for _, typ := range []string{"dgram", "seqpacket", "stream"} {
		s := c.ok(t, "open", "local", typ)
		c.ok(t, "bind", s, "local:")
		if name := c.ok(t, "sockname", s); !regexp.MustCompile(`^local:@[0-9a-f]{5}$`).MatchString(name) {
			t.Errorf("%s socket bound to no path: sockname %q, want local:@ and five hex digits", typ, name)
		}
	}
	s := c.ok(t, "open", "local", "stream")
	if stderr := c.fails(t, 1, "connect", s, `local:""`); !strings.Contains(stderr, "error: einval") {
		t.Errorf("connect to no path: stderr %q, want the kernel's einval", stderr)
	}
}

// A daemon shutting down closes every socket: a verb waiting on one ends
// with exit 3, as when the daemon cannot be reached, and says why; a
// socket closed by someone else is still exit 1.
func TestSockctlWaitingVerbEndsWithTheDaemon(t *testing.T) {
	t.Parallel()
	d, err := StartDaemon(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			d.Kill()
		}
	}()
	c := &sockctl{addr: d.Addr, session: uniqueName(t)}
	l := c.ok(t, "open", "inet", "stream", "tcp")
	c.ok(t, "bind", l, "127.0.0.1:0")
	c.ok(t, "listen", l)

	other := &sockctl{addr: d.Addr, session: uniqueName(t)}
	r := c.ok(t, "open", "inet", "dgram", "udp")
	c.ok(t, "bind", r, "127.0.0.1:0")
	recv := other.start(t, nil, "recv", r)
	eventually(t, "the recv to wait", func() bool { return strings.Contains(c.ok(t, "info", r), "num_readers: 1") })
	c.ok(t, "close", r)
	if err := await(t, "recv ends", recv.done); exitStatus(err) != 1 {
		t.Errorf("recv on a socket another session closed: %v, want exit 1", err)
	}

	accept := c.start(t, nil, "accept", l)
	eventually(t, "the accept to wait", func() bool { return strings.Contains(c.ok(t, "info", l), "num_acceptors: 1") })
	stopped = true
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	err = await(t, "accept ends", accept.done)
	var stderr []string
	for line := range accept.stderr {
		stderr = append(stderr, line)
	}
	if exitStatus(err) != 3 || !strings.Contains(strings.Join(stderr, "\n"), "error: closed (the daemon is shutting down)") {
		t.Errorf("accept while the daemon stops: %v, stderr %q; want exit 3 and why", err, stderr)
	}
}

// exitStatus is a finished command's exit status, -1 if it did not exit.
func exitStatus(err error) int {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	}
	return -1
}
