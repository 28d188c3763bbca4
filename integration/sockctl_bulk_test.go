package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
)

// sockctlProc is a sockctl process the test talks to while it runs.
type sockctlProc struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr chan string // its lines; closed at its end
	done   <-chan error
}

// start runs sockctl with stdin in the background; it is killed if the test
// ends first.
func (c *sockctl) start(t testing.TB, stdin io.Reader, args ...string) *sockctlProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout*2)
	t.Cleanup(cancel)
	p := &sockctlProc{cmd: exec.CommandContext(ctx, sockctlBin, append([]string{"--addr", c.addr, "--session", c.session}, args...)...)}
	p.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	p.cmd.Stdin = stdin
	p.cmd.Stdout = &p.stdout
	errPipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.stderr = make(chan string, 64)
	p.done = goCall(func() error {
		// Wait may only run once stderr is read to its end.
		lines := bufio.NewScanner(errPipe)
		for lines.Scan() {
			select {
			case p.stderr <- lines.Text():
			default: // nobody wants more lines
			}
		}
		close(p.stderr)
		return p.cmd.Wait()
	})
	return p
}

var listeningLine = regexp.MustCompile(`^listening on (\S+)$`)

// listening reads the "listening on ADDR" line from stderr.
func (p *sockctlProc) listening(t testing.TB) string {
	t.Helper()
	line := await(t, "listening line", p.stderr)
	m := listeningLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("stderr %q, want \"listening on ADDR\"", line)
	}
	return m[1]
}

// wait waits for the process and requires exit status 0.
func (p *sockctlProc) wait(t testing.TB) string {
	t.Helper()
	if err := await(t, "sockctl exits", p.done); err != nil {
		t.Fatalf("sockctl %v: %v\nstdout: %s", p.cmd.Args, err, p.stdout.String())
	}
	return p.stdout.String()
}

// waitFailed is wait for a sockctl that exits 1 (forward --count whose
// connection failed).
func (p *sockctlProc) waitFailed(t testing.TB) string {
	t.Helper()
	var exit *exec.ExitError
	if err := await(t, "sockctl exits", p.done); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("sockctl %v: %v, want exit status 1\nstdout: %s", p.cmd.Args, err, p.stdout.String())
	}
	return p.stdout.String()
}

// loopbackServer accepts one connection, reads all of it, answers with
// reply(what it read) and closes.
func loopbackServer(t *testing.T, reply func([]byte) []byte) (addr string, got <-chan []byte) {
	t.Helper()
	l := tcpListener(t)
	ch := goCall(func() []byte {
		conn, err := l.Accept()
		if err != nil {
			return nil
		}
		defer conn.Close()
		in, _ := io.ReadAll(conn)
		conn.Write(reply(in))
		return in
	})
	return l.Addr().String(), ch
}

// TestSockctlNc: sockctl nc HOST PORT carries stdin to the peer and the
// peer's bytes to stdout, half-closing at the end of stdin.
func TestSockctlNc(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	addr, got := loopbackServer(t, func(in []byte) []byte { return bytes.ToUpper(in) })
	host, port, _ := net.SplitHostPort(addr)
	out := c.start(t, strings.NewReader("hello through sockd\n"), "nc", host, port).wait(t)
	if out != "HELLO THROUGH SOCKD\n" {
		t.Fatalf("nc printed %q", out)
	}
	if in := await(t, "server read", got); string(in) != "hello through sockd\n" {
		t.Fatalf("server got %q", in)
	}
}

// TestSockctlNcInterrupted: the first SIGTERM ends nc with status 130, even
// while nc, its peer done sending, waits for the rest of an input that
// never ends.
func TestSockctlNcInterrupted(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	p, _ := ncPeerDone(t, c)
	time.Sleep(100 * time.Millisecond) // nc reads the end of data, then waits for its input
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var exit *exec.ExitError
	if err := await(t, "nc ends on SIGTERM", p.done); !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Fatalf("nc after SIGTERM: %v, want exit status 130", err)
	}
}

// ncPeerDone starts nc to a local peer that, once connected, is done
// sending (it shuts its write side down), and returns nc and the writing
// end of its input: an OS pipe, so that Wait does not wait for a copy of
// stdin, written by the test only.
func ncPeerDone(t *testing.T, c *sockctl) (*sockctlProc, *os.File) {
	t.Helper()
	l := tcpListener(t)
	accepted := goCall(func() net.Conn { conn, _ := l.Accept(); return conn })
	stdin, feed, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { feed.Close(); stdin.Close() })
	host, port, _ := net.SplitHostPort(l.Addr().String())
	p := c.start(t, stdin, "nc", host, port)
	conn := await(t, "nc connects", accepted)
	if conn == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { conn.Close() })
	conn.(*net.TCPConn).CloseWrite()
	return p, feed
}

// TestSockctlNcOutputGone: when the reader of nc's standard output goes
// away (nc | head), nc ends and its socket closes, so that the peer hears
// of it, as with netcat (SIGPIPE once killed nc and left the socket open in
// the daemon for the session's grace, its peer stuck writing).
func TestSockctlNcOutputGone(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	l := tcpListener(t)
	writing := goCall(func() error {
		conn, err := l.Accept()
		if err != nil {
			return err
		}
		defer conn.Close()
		chunk := make([]byte, 64<<10)
		for {
			conn.SetWriteDeadline(time.Now().Add(callTimeout))
			if _, err := conn.Write(chunk); err != nil {
				return err
			}
		}
	})
	out, gone, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(l.Addr().String())
	cmd := exec.Command(sockctlBin, "--addr", c.addr, "--session", c.session, "nc", host, port)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	cmd.Stdout = gone
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	gone.Close()
	buf := make([]byte, 100)
	if _, err := io.ReadFull(out, buf); err != nil { // as head -c 100
		t.Fatal(err)
	}
	out.Close()
	if err := await(t, "nc ends", goCall(cmd.Wait)); err != nil {
		t.Errorf("nc after its output went away: %v, want exit status 0", err)
	}
	if err := await(t, "the peer's writes end", writing); errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
		t.Fatalf("the peer's writes: %v, want the connection reset", err)
	}
}

// TestSockctlNcListen: nc -l accepts one connection and pipes it.
func TestSockctlNcListen(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	p := c.start(t, strings.NewReader("from nc -l"), "nc", "-l", "127.0.0.1:0")
	conn, err := net.Dial("tcp4", p.listening(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("to nc -l")); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	in, err := io.ReadAll(conn)
	if err != nil || string(in) != "from nc -l" {
		t.Fatalf("peer read %q, %v", in, err)
	}
	if out := p.wait(t); out != "to nc -l" {
		t.Fatalf("nc -l printed %q", out)
	}
}

// TestSockctlNcListenEndsWithTheDaemon: nc -l whose daemon is killed while
// it waits for a connection ends with exit 3, as every verb does; it sat
// silent for the session's grace, an hour, waiting for the daemon.
func TestSockctlNcListenEndsWithTheDaemon(t *testing.T) {
	t.Parallel()
	d, err := StartDaemon(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := &sockctl{addr: d.Addr, session: uniqueName(t)}
	p := c.start(t, strings.NewReader(""), "nc", "-l", "127.0.0.1:0")
	p.listening(t)
	d.Kill()
	if err := await(t, "nc -l to end", p.done); exitStatus(err) != 3 {
		t.Fatalf("nc -l whose daemon was killed: %v, want exit 3", err)
	}
}

// TestSockctlForwardEndsWithItsReaderAndItsTerminal: a forward whose
// standard output's reader went away (forward | head) ends at its next line,
// exit 0, and one whose terminal hung up (SIGHUP) ends as if interrupted,
// exit 0 too; each closes its sockets in the daemon, so that its address is
// free again, rather than die and leave its listener there for the
// session's grace, queueing connections no one accepts.
func TestSockctlForwardEndsWithItsReaderAndItsTerminal(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	remote := tcpListener(t)
	go func() {
		for {
			conn, err := remote.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	reader, writer, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	reader.Close() // before forward's first line
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout*2)
	defer cancel()
	cmd := exec.CommandContext(ctx, sockctlBin, "--addr", c.addr, "--session", c.session, "forward", "127.0.0.1:0", remote.Addr().String())
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	cmd.Stdout = writer
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	writer.Close()
	lines := bufio.NewScanner(errPipe)
	if !lines.Scan() {
		t.Fatal("forward printed no listening line")
	}
	m := listeningLine.FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("stderr %q, want the listening line", lines.Text())
	}
	if conn, err := net.Dial("tcp4", m[1]); err == nil {
		conn.Close()
	}
	for lines.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("forward whose reader went away: %v, want exit 0", err)
	}
	wantClosed := func(addr string) {
		t.Helper()
		if conn, err := net.Dial("tcp4", addr); err == nil {
			conn.Close()
			t.Fatalf("%s still accepts connections after forward ended", addr)
		}
	}
	wantClosed(m[1])

	p := c.start(t, nil, "forward", "127.0.0.1:0", remote.Addr().String())
	addr := p.listening(t)
	p.cmd.Process.Signal(syscall.SIGHUP)
	if err := await(t, "forward to end", p.done); err != nil {
		t.Fatalf("forward after SIGHUP: %v, want exit 0, as after Ctrl-C", err)
	}
	wantClosed(addr)

	// Started with SIGHUP ignored (nohup), it goes on.
	nohup := exec.CommandContext(ctx, "sh", "-c", `trap "" HUP; exec "$@"`, "sh", sockctlBin, "--addr", c.addr, "--session", c.session, "forward", "127.0.0.1:0", remote.Addr().String())
	nohup.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	errPipe, err = nohup.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := nohup.Start(); err != nil {
		t.Fatal(err)
	}
	lines = bufio.NewScanner(errPipe)
	if !lines.Scan() || listeningLine.FindStringSubmatch(lines.Text()) == nil {
		t.Fatalf("nohup forward's stderr %q, want the listening line", lines.Text())
	}
	addr = listeningLine.FindStringSubmatch(lines.Text())[1]
	nohup.Process.Signal(syscall.SIGHUP)
	time.Sleep(200 * time.Millisecond)
	conn, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatalf("a forward started with SIGHUP ignored no longer accepts after one: %v", err)
	}
	conn.Close()
	nohup.Process.Signal(syscall.SIGINT)
	for lines.Scan() {
	}
	if err := nohup.Wait(); err != nil {
		t.Fatalf("nohup forward after Ctrl-C: %v, want exit 0", err)
	}
	wantClosed(addr)
}

// TestSockctlForwardStoppedInABurstLeavesNothing: a forward interrupted
// while connections come, and the daemon answers its accepts, leaves none
// of its sockets in its session: one its cancelled accept took is
// collected with the accept's request id.
func TestSockctlForwardStoppedInABurstLeavesNothing(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	remote := tcpListener(t)
	var held sync.WaitGroup
	t.Cleanup(held.Wait)
	go func() {
		for {
			conn, err := remote.Accept()
			if err != nil {
				return
			}
			held.Go(func() { io.Copy(io.Discard, conn); conn.Close() })
		}
	}()
	session := ""
	for round := range 8 {
		p := c.start(t, nil, "forward", "127.0.0.1:0", remote.Addr().String())
		addr := p.listening(t)
		if session == "" {
			session = jsonLines(t, c.ok(t, "session", "show", "-o", "json"))[0]["session"].(string)
		}
		var peers sync.WaitGroup
		for range 20 {
			peers.Go(func() {
				conn, err := net.Dial("tcp4", addr)
				if err != nil {
					return
				}
				defer conn.Close()
				conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				conn.Read(make([]byte, 1))
			})
		}
		time.Sleep(time.Duration(round*3) * time.Millisecond)
		p.cmd.Process.Signal(os.Interrupt)
		p.wait(t)
		if left := c.ok(t, "ls", "--owner", session); left != "" {
			info, _, _ := c.run(t, "info", strings.Fields(left)[0])
			t.Fatalf("round %d: forward interrupted in a burst left sockets in its session: %s\n%s", round, left, info)
		}
		peers.Wait()
	}
}

// TestSockctlForward: forward relays a connection to the remote address
// inside the daemon and reports the byte counts.
func TestSockctlForward(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	remote, got := loopbackServer(t, func(in []byte) []byte { return append([]byte("echo: "), in...) })
	p := c.start(t, nil, "forward", "127.0.0.1:0", remote, "--count", "1")
	conn, err := net.Dial("tcp4", p.listening(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("ping"))
	conn.(*net.TCPConn).CloseWrite()
	in, err := io.ReadAll(conn)
	if err != nil || string(in) != "echo: ping" {
		t.Fatalf("client read %q, %v", in, err)
	}
	if string(await(t, "remote read", got)) != "ping" {
		t.Fatal("remote did not get ping")
	}
	if out := p.wait(t); out != "relayed in=4 out=10\n" {
		t.Fatalf("forward printed %q", out)
	}
}

// TestSockctlForwardPassesAReset: a REMOTE that resets its connection ends
// the relay with econnreset, which forward's line says, and the client's
// connection is reset too: a stream cut off does not look complete.
func TestSockctlForwardPassesAReset(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	remote := tcpListener(t)
	go func() {
		conn, err := remote.Accept()
		if err != nil {
			return
		}
		conn.Write(make([]byte, 100000))
		time.Sleep(300 * time.Millisecond)
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}()
	p := c.start(t, nil, "forward", "127.0.0.1:0", remote.Addr().String(), "--count", "1")
	conn, err := net.Dial("tcp4", p.listening(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(callTimeout))
	n, err := io.Copy(io.Discard, conn)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("client read %d bytes, then %v; want the connection reset", n, err)
	}
	if out := p.waitFailed(t); out != "relayed in=0 out=100000 error=econnreset\n" {
		t.Fatalf("forward printed %q", out)
	}
}

// TestSockctlRelay: relay joins two of the session's connected sockets
// until both directions end, and says what it moved each way; both
// sockets stay open.
func TestSockctlRelay(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	peer := func() (id string, conn net.Conn) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		id = c.ok(t, "open", "inet", "stream")
		c.ok(t, "connect", id, l.Addr().String())
		conn, err = l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return id, conn
	}
	a, connA := peer()
	b, connB := peer()
	p := c.start(t, nil, "relay", a, b)
	connA.Write([]byte("ping"))
	connA.(*net.TCPConn).CloseWrite()
	if in, err := io.ReadAll(connB); err != nil || string(in) != "ping" {
		t.Fatalf("B's peer read %q, %v", in, err)
	}
	connB.Write([]byte("pong!"))
	connB.(*net.TCPConn).CloseWrite()
	if in, err := io.ReadAll(connA); err != nil || string(in) != "pong!" {
		t.Fatalf("A's peer read %q, %v", in, err)
	}
	if out := p.wait(t); out != "relayed a_to_b=4 b_to_a=5\n" {
		t.Fatalf("relay printed %q", out)
	}
	c.ok(t, "info", a)
}

// TestSockctlCompletion: --completion prints the completion info, and the
// completion event printed by events carries the data.
func TestSockctlCompletion(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	l := c.ok(t, "open", "inet", "stream", "tcp")
	c.ok(t, "bind", l, "127.0.0.1:0")
	c.ok(t, "listen", l)
	addr := c.ok(t, "sockname", l)
	conn := c.ok(t, "open", "inet", "stream", "tcp")

	sel := c.ok(t, "accept", l, "--completion", "--handle", "31")
	if sel != "completion accept handle=31" {
		t.Fatalf("accept --completion printed %q", sel)
	}
	c.ok(t, "connect", conn, addr)
	events := c.ok(t, "events")
	m := regexp.MustCompile(fmt.Sprintf(`(?m)^seq=[0-9]+ socket=%s completion handle=31 op=accept accepted=([0-9a-f]+)$`, l)).FindStringSubmatch(events)
	if m == nil {
		t.Fatalf("events printed:\n%s\nwant the accept's completion with the new socket", events)
	}
	accepted := m[1]

	if sel := c.ok(t, "recv", accepted, "--length", "5", "--completion", "--handle", "32"); sel != "completion recv handle=32" {
		t.Fatalf("recv --completion printed %q", sel)
	}
	c.ok(t, "send", conn, "hello")
	events = c.ok(t, "events")
	want := fmt.Sprintf(`socket=%s completion handle=32 op=recv data="hello"`, accepted)
	if !strings.Contains(events, want) {
		t.Fatalf("events printed:\n%s\nwant %s", events, want)
	}

	// A result done but not yet read is what cancel answers, as a success:
	// a script that took exit 1 for "nothing to cancel" would lose it.
	c.ok(t, "recv", accepted, "--length", "3", "--completion", "--handle", "33")
	c.ok(t, "send", conn, "abc")
	eventually(t, "the completion", func() bool { return strings.Contains(c.ok(t, "info", accepted), "read_byte: 8") })
	if got := c.ok(t, "cancel", accepted, "33"); got != `data="abc"` {
		t.Fatalf("cancel of a finished recv printed %q, want its data", got)
	}
	if events := c.ok(t, "events"); strings.Contains(events, "handle=33") {
		t.Fatalf("events after the cancel printed:\n%s\nwant nothing for handle 33", events)
	}
}

// TestSockctlForwardErrors: a LOCAL that cannot be listened on is said as
// bind says it (the error object for -o json, exit 1); a connection whose
// REMOTE refuses is one "error: econnrefused" result line, and forward
// goes on.
func TestSockctlForwardErrors(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	out, errOut, code := c.run(t, "forward", taken.Addr().String(), "127.0.0.1:9", "-o", "json")
	if code != 1 || !strings.Contains(out, `"reason":"eaddrinuse"`) {
		t.Errorf("forward -o json on a taken address: exit %d, stdout %q, stderr %q; want 1 and the error object", code, out, errOut)
	}

	refused, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	remote := refused.Addr().String()
	refused.Close() // nothing listens there now
	p := c.start(t, nil, "forward", "127.0.0.1:0", remote, "--count", "1")
	conn, err := net.Dial("tcp4", p.listening(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if out := p.waitFailed(t); out != "error: econnrefused\n" {
		t.Fatalf("forward printed %q, want error: econnrefused", out)
	}
}

// TestSockctlForwardWaitsOutAQuota: an accept the principal's socket quota
// refuses is said and tried again, not the end of forward: the second
// connection is relayed once the first has given its places back.
func TestSockctlForwardWaitsOutAQuota(t *testing.T) {
	c, remote, arrived := forwardUnderAQuota(t, 7)
	p := c.start(t, nil, "forward", "127.0.0.1:0", remote, "--count", "2")
	at := p.listening(t)
	first, err := net.Dial("tcp4", at)
	if err != nil {
		t.Fatal(err)
	}
	first.Write([]byte("one"))
	await(t, "the first connection relayed", arrived) // its relay holds its places
	second, err := net.Dial("tcp4", at)
	if err != nil {
		t.Fatal(err)
	}
	second.Write([]byte("two!"))
	time.Sleep(300 * time.Millisecond) // the second accept is refused meanwhile
	first.Close()
	second.Close()
	out := p.wait(t)
	if strings.Count(out, "accept refused: resource_exhausted") != 1 || !strings.Contains(out, "relayed in=3 out=0") || !strings.Contains(out, "relayed in=4 out=0") || strings.Contains(out, "error:") {
		t.Fatalf("forward printed %q, want the refusal once and both connections relayed", out)
	}
}

// TestSockctlForwardSetsUpOneAtATimeUnderAQuota: connections that arrive
// together under a quota fitting one relay are set up one after the other,
// the second waiting in the listen queue until the first has given its
// places back, not accepted together and dropped when a relay is refused.
func TestSockctlForwardSetsUpOneAtATimeUnderAQuota(t *testing.T) {
	c, remote, arrived := forwardUnderAQuota(t, 7)
	p := c.start(t, nil, "forward", "127.0.0.1:0", remote, "--count", "2")
	at := p.listening(t)
	var conns []net.Conn
	for _, msg := range []string{"one", "two!"} {
		conn, err := net.Dial("tcp4", at)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.Write([]byte(msg))
		conns = append(conns, conn)
	}
	await(t, "a connection relayed", arrived)
	select {
	case <-arrived:
		t.Fatal("both connections relayed at once under a quota that fits one relay")
	case <-time.After(300 * time.Millisecond):
	}
	conns[0].Close()
	await(t, "the other connection relayed", arrived)
	conns[1].Close()
	out := p.wait(t)
	if !strings.Contains(out, "relayed in=3 out=0") || !strings.Contains(out, "relayed in=4 out=0") || strings.Contains(out, "error:") {
		t.Fatalf("forward printed %q, want both connections relayed", out)
	}
}

// TestSockctlForwardQuotaTooSmallForARelay: a relay the quota can never
// fit, with none of forward's running to give places back, is the
// connection's "error: resource_exhausted", not a wait without end.
func TestSockctlForwardQuotaTooSmallForARelay(t *testing.T) {
	c, remote, _ := forwardUnderAQuota(t, 5)
	p := c.start(t, nil, "forward", "127.0.0.1:0", remote, "--count", "1")
	conn, err := net.Dial("tcp4", p.listening(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if out := p.waitFailed(t); !strings.Contains(out, "error: resource_exhausted") {
		t.Fatalf("forward printed %q, want the connection's error", out)
	}
}

// TestSockctlForwardBurstPastALargeQuota: under a quota forward does not
// set connections up one at a time for (64 places, some ten relays), a
// burst of more connections than fit waits for the relays before them to
// end, none dropped.
func TestSockctlForwardBurstPastALargeQuota(t *testing.T) {
	c, remote, arrived := forwardUnderAQuota(t, 64)
	const burst = 15
	p := c.start(t, nil, "forward", "127.0.0.1:0", remote, "--count", fmt.Sprint(burst))
	at := p.listening(t)
	for range burst {
		go func() {
			conn, err := net.Dial("tcp4", at)
			if err != nil {
				return
			}
			defer conn.Close()
			conn.Write([]byte("x"))
			time.Sleep(time.Second) // held while later ones wait for places
		}()
	}
	for i := range burst {
		await(t, fmt.Sprintf("connection %d relayed", i+1), arrived)
	}
	out := p.wait(t)
	if n := strings.Count(out, "relayed in=1 out=0"); n != burst || strings.Contains(out, "error:") {
		t.Fatalf("forward printed %q, want %d connections relayed and none dropped", out, burst)
	}
}

// forwardUnderAQuota is a dedicated daemon whose policy gives root a
// socket quota (7 fits forward's listener and one relay: the accepted
// socket, its connection onward and the relay's four pipes), sockctl on
// it, and a remote listener that signals arrived when a connection's first
// byte reaches it.
func forwardUnderAQuota(t *testing.T, sockets int) (c *sockctl, remote string, arrived <-chan struct{}) {
	requireRoot(t, "its policy restricts root")
	t.Parallel()
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	doc := fmt.Sprintf("version: 1\nrules:\n- principals: [\"uid:0\"]\n  unrestricted: true\n  quotas: {sockets: %d}\n", sockets)
	if err := os.WriteFile(policy, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	d := dedicatedDaemon(t, filepath.Join(dir, "d"), "--policy", policy)
	c = &sockctl{addr: d.Addr, session: uniqueName(t)}
	l := tcpListener(t)
	reached := make(chan struct{}, 2)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if _, err := conn.Read(make([]byte, 1)); err == nil {
					reached <- struct{}{}
				}
				io.Copy(io.Discard, conn)
			}()
		}
	}()
	return c, l.Addr().String(), reached
}

// TestLargeSendKeepsOtherWritersOut: a blocking send larger than one
// request goes in parts, and another session's send made while it waits
// comes after all of it, as after one Erlang send (the parts continue the
// send, keeping the session the socket's writer between them).
func TestLargeSendKeepsOtherWritersOut(t *testing.T) {
	t.Parallel()
	ctx, a, b, id, peer := twoWriters(t)

	large := bytes.Repeat([]byte("a"), 6*client.MaxSendData) // more than loopback's buffers take
	sentA := goCall(func() error { _, err := a.Send(ctx, id, large, client.Infinity); return err })
	// The buffers fill and a's send waits, or keeps its place between its
	// parts: a is the writer, however long its first part took to come.
	eventually(t, "a's send the writer", func() bool {
		info, err := a.Info(ctx, id)
		return err == nil && info.GetNumWriters() == 1
	})
	sentB := goCall(func() error { _, err := b.Send(ctx, id, []byte("BBBB"), client.Infinity); return err })
	eventually(t, "b's send queued behind a's", func() bool {
		info, err := a.Info(ctx, id)
		return err == nil && info.GetNumWriters() == 2
	})
	got, err := io.ReadAll(io.LimitReader(peer, int64(len(large)+4)))
	if err != nil {
		t.Fatal(err)
	}
	if err := await(t, "a's send", sentA); err != nil {
		t.Fatal(err)
	}
	if err := await(t, "b's send", sentB); err != nil {
		t.Fatal(err)
	}
	if at := bytes.IndexByte(got, 'B'); at != len(large) {
		t.Fatalf("b's bytes start at %d of the stream, want %d (after all of a's send)", at, len(large))
	}
}

// TestCutShortLargeSendLeavesNoWriter: a large send whose context ends
// between its parts leaves the socket's writer lane free, whatever part the
// daemon had kept the session the writer after: the next session's send
// goes through.
func TestCutShortLargeSendLeavesNoWriter(t *testing.T) {
	t.Parallel()
	ctx, a, b, id, peer := twoWriters(t)
	go io.Copy(io.Discard, peer)

	data := make([]byte, client.MaxSendData+1)
	for i := range 30 {
		cut, stop := context.WithTimeout(ctx, time.Duration(i%15)*time.Millisecond)
		a.Send(cut, id, data, client.Infinity)
		stop()
		eventually(t, "the writer lane free after a send cut short", func() bool {
			info, err := a.Info(ctx, id)
			return err == nil && info.GetNumWriters() == 0
		})
	}
	if _, err := b.Send(ctx, id, []byte("b"), client.Millis(2000)); err != nil {
		t.Fatal(err)
	}
}

// twoWriters is a connected daemon socket of session a (its id and its
// peer's end) that session b writes to as well, and a context for their
// calls.
func twoWriters(t *testing.T) (ctx context.Context, a, b *client.Session, id string, peer net.Conn) {
	t.Helper()
	a, b = newClientSession(t), newClientSession(t)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	t.Cleanup(cancel)
	id, peer = connectedSocket(t, a)
	return ctx, a, b, id, peer
}

// connectedSocket opens a TCP socket of s's in the daemon, connected to a
// plain loopback listener, and returns its id and the listener's end.
func connectedSocket(t *testing.T, s *client.Session) (string, net.Conn) {
	t.Helper()
	l := tcpListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	open, err := s.Open(ctx, client.Inet, client.Stream, client.TCP, client.OpenOpts{})
	if err != nil {
		t.Fatal(err)
	}
	to, err := client.ParseAddr(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Connect(ctx, open.GetSocketId(), to, client.Infinity); err != nil {
		t.Fatal(err)
	}
	peer, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return open.GetSocketId(), peer
}

// TestSockctlNcSocketClosedUnderIt: nc still sending its input after the
// peer is done, whose socket another session closes, fails with closed
// (exit 1) instead of ending quietly with its input lost.
func TestSockctlNcSocketClosedUnderIt(t *testing.T) {
	t.Parallel()
	c := newSockctl(t)
	p, feed := ncPeerDone(t, c)
	var show struct{ Session string }
	if err := json.Unmarshal([]byte(c.ok(t, "-o", "json", "session", "show")), &show); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(c.ok(t, "which-sockets", "--owner", show.Session))
	other := &sockctl{addr: c.addr, session: uniqueName(t)}
	other.ok(t, "close", id)
	feed.Write([]byte("late\n"))
	feed.Close()
	err := await(t, "nc ends", p.done)
	var stderr []string
	for line := range p.stderr {
		stderr = append(stderr, line)
	}
	if exitStatus(err) != 1 || !slices.Contains(stderr, "error: closed") {
		t.Fatalf("nc whose socket another session closed: %v, stderr %q; want exit 1 and error: closed", err, stderr)
	}
}
