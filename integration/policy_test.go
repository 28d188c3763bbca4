package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// A daemon started with --policy holds root's own sessions to root's rule;
// SIGHUP reloads the file, and a file that no longer parses leaves the
// policy in force.
func TestPolicyFileThroughSockctl(t *testing.T) {
	requireRoot(t, "its policy restricts root, whom the daemon also makes an admin")
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	write := func(doc string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`# only TCP on loopback, ephemeral ports
version: 1
rules:
  - principals: ["uid:0"]
    open: ["inet stream"]
    bind: ["127.0.0.1:0"]
    connect: ["127.0.0.1"]
`)
	d := dedicatedDaemon(t, filepath.Join(dir, "d"), "--policy", file)
	c := &sockctl{addr: d.Addr, session: uniqueName(t)}
	t.Cleanup(func() { c.run(t, "session", "close") })

	denied := func(args ...string) {
		t.Helper()
		out, errOut, code := c.run(t, args...)
		if code != 1 || !strings.Contains(errOut, "permission_denied") || !strings.Contains(errOut, "policy") {
			t.Fatalf("sockctl %s: exit %d, stdout %q, stderr %q; want exit 1 and a policy refusal", strings.Join(args, " "), code, out, errOut)
		}
	}
	info := c.ok(t, "global-info")
	for _, want := range []string{"principal: uid:0", "policy: " + file + " (restricted, admin)", "policy.open: inet stream *", "policy.bind: 127.0.0.1:0", "policy.connect: 127.0.0.1"} {
		if !strings.Contains(info+"\n", want+"\n") {
			t.Errorf("global-info lacks %q:\n%s", want, info)
		}
	}
	denied("open", "inet", "dgram")
	id := c.ok(t, "open", "inet", "stream")
	denied("bind", id, "127.0.0.1:80")
	if got := c.ok(t, "sockname", id); !strings.Contains(got, ":0") {
		t.Fatalf("a refused bind changed the socket: sockname %q", got)
	}
	c.ok(t, "bind", id, "127.0.0.1:0")

	write("version: 1\nrules:\n  - principals: [\"uid:0\"]\n    open: [\"inet stream\", \"inet dgram\"]\n")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloaded := func() bool { _, _, code := c.run(t, "open", "inet", "dgram"); return code == 0 }
	for deadline := time.Now().Add(5 * time.Second); !reloaded(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the policy was not reloaded on SIGHUP")
		}
	}

	write("version: 1\nrules: [ {principals: [\"uid:0\"], open: [\"inet strem\"]} ]\n")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logged := func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "d", "sockd.log"))
		return strings.Contains(string(b), "policy not reloaded")
	}
	for deadline := time.Now().Add(5 * time.Second); !logged(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a broken policy file on SIGHUP was not logged")
		}
	}
	// The previous policy stays in force: not the default, under which root
	// could open anything.
	c.ok(t, "open", "inet", "dgram")
	denied("open", "local", "stream")
}

// Without --policy a SIGHUP (systemd's reload) is logged and changes
// nothing: its default action would have killed the daemon undrained.
func TestSIGHUPWithoutPolicyFile(t *testing.T) {
	dir := t.TempDir()
	d := dedicatedDaemon(t, filepath.Join(dir, "d"))
	c := &sockctl{addr: d.Addr, session: uniqueName(t)}
	t.Cleanup(func() { c.run(t, "session", "close") })
	id := c.ok(t, "open", "inet", "stream")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logged := func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "d", "sockd.log"))
		return strings.Contains(string(b), "no --policy file to reload")
	}
	for deadline := time.Now().Add(5 * time.Second); !logged(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a SIGHUP without a policy file was not logged")
		}
	}
	c.ok(t, "info", id) // the daemon still serves, and still holds the socket
}

// A policy file that does not parse stops the daemon at start, saying where.
func TestPolicyFileRefusedAtStart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte("version: 1\nrules:\n  - principals: [\"uid:0\"]\n    bind: [\"127.0.0.1:99999\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sockdBin, "--listen", "unix://"+filepath.Join(t.TempDir(), "s.sock"), "--policy", file)
	_, errOut, code := runCommand(t, cmd)
	if code == 0 || !strings.Contains(errOut, "rules[0]: bind") || !strings.Contains(errOut, "bad ports") {
		t.Fatalf("exit %d, stderr %q: want a failure naming the bad entry", code, errOut)
	}
}

// Under the default policy a local user other than root reaches the daemon
// through its unix socket as itself (SO_PEERCRED) and may do what it could
// on its own, no more: the real binaries, a real second uid.
func TestDefaultPolicyForAnotherUser(t *testing.T) {
	run := asNobody(t)
	out, errOut, code := run("global-info")
	if code != 0 || !strings.Contains(out, "principal: uid:65534\n") || !strings.Contains(out, "policy: default (restricted)\n") {
		t.Fatalf("global-info as nobody: exit %d\n%s%s", code, out, errOut)
	}
	for _, refused := range [][]string{{"open", "inet", "raw", "icmp"}, {"open", "local", "stream"}} {
		if _, errOut, code := run(refused...); code != 1 || !strings.Contains(errOut, "permission_denied") {
			t.Errorf("sockctl %s as nobody: exit %d, %s", strings.Join(refused, " "), code, errOut)
		}
	}
	id, errOut, code := run("open", "inet", "stream")
	if code != 0 {
		t.Fatalf("open inet stream as nobody: exit %d, %s", code, errOut)
	}
	id = strings.TrimSpace(id)
	if _, errOut, code := run("bind", id, "127.0.0.1:80"); code != 1 || !strings.Contains(errOut, "permission_denied") {
		t.Errorf("bind to port 80 as nobody: exit %d, %s", code, errOut)
	}
	if _, errOut, code := run("bind", id, "127.0.0.1:0"); code != 0 {
		t.Errorf("bind to an ephemeral port as nobody: exit %d, %s", code, errOut)
	}
	// Options any user may set on a socket of its own; its sockets are its
	// own uid's, so a reuseport group is too.
	for _, opt := range [][]string{{"socket", "reuseport", "true"}, {"tcp", "congestion", "reno"}, {"socket", "debug", "0"}, {"socket", "bindtodevice", "lo"}} {
		if _, errOut, code := run(append([]string{"setopt", id}, opt...)...); code != 0 {
			t.Errorf("setopt %s as nobody: exit %d, %s", strings.Join(opt, " "), code, errOut)
		}
	}
	for _, opt := range [][]string{{"ip", "transparent", "true"}, {"socket", "debug", "1"}, {"socket", "bindtodevice", ""}} {
		if _, errOut, code := run(append([]string{"setopt", id}, opt...)...); code != 1 || !strings.Contains(errOut, "permission_denied") {
			t.Errorf("setopt %s as nobody: exit %d, %s", strings.Join(opt, " "), code, errOut)
		}
	}
}

// asNobody starts a daemon of the test's own (as root, with daemonArgs) and
// returns a runner of sockctl as uid nobody against it, in a session of
// its own.
func asNobody(t *testing.T, daemonArgs ...string) func(args ...string) (string, string, int) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run sockctl as another user")
	}
	dir, err := os.MkdirTemp("", "sockd-policy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The user must reach the socket and run sockctl: a world-readable
	// directory, a socket anyone may connect to, a copy of the binary.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := dedicatedDaemon(t, filepath.Join(dir, "d"), daemonArgs...)
	for _, p := range []string{filepath.Join(dir, "d"), d.Path} {
		mode := os.FileMode(0o755)
		if p == d.Path {
			mode = 0o666
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "sockctl")
	data, err := os.ReadFile(sockctlBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--addr", d.Addr, "--session", "nobody"}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "HOME="+dir)
		return runCommand(t, cmd)
	}
	t.Cleanup(func() { run("session", "close") })
	return run
}

// A local socket the daemon makes for another user connects as that user:
// the listening end reads the user's uid with SO_PEERCRED, not the
// daemon's root, which a service trusting its peer's uid would trust.
func TestLocalConnectAsAnotherUser(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(`version: 1
rules:
  - principals: ["uid:65534"]
    open: ["local stream"]
    connect: ["local:@sockd-test-*"]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	run := asNobody(t, "--policy", policy)
	if uid, gid := localPeerOf(t, run); uid != nobody || gid != nobody {
		t.Fatalf("the peer reads uid %d gid %d, want %d %d", uid, gid, nobody, nobody)
	}
}

// A rule's act_as makes the sockets of a principal that is no local user
// (here a plain TCP client) act for the user it names, toward local peers
// too.
func TestActAsForATCPPrincipal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the daemon acts for another uid only as root")
	}
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(`version: 1
rules:
  - principals: ["uid:0"]
    unrestricted: true
  - principals: ["tcp"]
    open: ["local stream"]
    connect: ["local:@sockd-test-*"]
    act_as: "4242:4243"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tcp := "tcp://" + freeLoopbackPort(t)
	dedicatedDaemon(t, filepath.Join(dir, "d"), "--policy", policy, "--listen", tcp)
	c := &sockctl{addr: tcp, session: uniqueName(t)}
	t.Cleanup(func() { c.run(t, "session", "close") })
	if info := c.ok(t, "global-info"); !strings.Contains(info, "principal: tcp\n") || !strings.Contains(info, "policy.act_as: 4242:4243\n") {
		t.Fatalf("global-info:\n%s", info)
	}
	run := func(args ...string) (string, string, int) { return c.run(t, args...) }
	if uid, gid := localPeerOf(t, run); uid != 4242 || gid != 4243 {
		t.Fatalf("the peer reads uid %d gid %d, want 4242 4243", uid, gid)
	}
}

// localPeerOf has run (a sockctl) open a local stream socket and connect it
// to an abstract listener of the test's, and returns the uid and gid the
// listener reads of it (SO_PEERCRED).
func localPeerOf(t *testing.T, run func(args ...string) (string, string, int)) (uid, gid uint32) {
	t.Helper()
	name := fmt.Sprintf("sockd-test-peercred-%d-%s", os.Getpid(), t.Name())
	l, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	id, errOut, code := run("open", "local", "stream")
	if code != 0 {
		t.Fatalf("open local stream: exit %d, %s", code, errOut)
	}
	if _, errOut, code := run("connect", strings.TrimSpace(id), "local:@"+name); code != 0 {
		t.Fatalf("connect: exit %d, %s", code, errOut)
	}
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) { cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if err != nil {
		t.Fatal(err)
	}
	return cred.Uid, cred.Gid
}

// A Pipe holds one of its principal's pending operations for as long as
// it runs, and gives it back when it ends: through the real daemon, with
// root's own rule bounding root to one.
func TestPendingOperationsHoldPipes(t *testing.T) {
	requireRoot(t, "its policy names root's quota")
	dir := t.TempDir()
	file := filepath.Join(dir, "policy.yaml")
	doc := "version: 1\nrules:\n  - principals: [\"uid:0\"]\n    unrestricted: true\n    quotas: {pending_operations: 1}\n"
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	d := dedicatedDaemon(t, filepath.Join(dir, "d"), "--policy", file)
	s := sessionOn(t, d)
	c, srv := s.pair(t, tcp4)

	pipeCtx, endPipe := s.ctx(callTimeout * 3)
	defer endPipe()
	p, err := s.api.Pipe(pipeCtx)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: c}}); err != nil {
		t.Fatal(err)
	}
	if msg, err := p.Recv(); err != nil || !msg.GetReady() {
		t.Fatalf("the pipe's first message: %v, %v; want ready", msg, err)
	}
	// Data through the pipe shows it runs, and so holds the place. The
	// send polls (timeout 0), which takes no place.
	ctx, cancel := s.ctx(callTimeout)
	defer cancel()
	if r, err := s.api.Send(ctx, &sockdv1.SendRequest{SocketId: srv, Data: []byte("x"), Timeout: millis(0)}); err != nil || r.GetBytesSent() != 1 {
		t.Fatalf("send to the pipe's peer: %v %v", r, err)
	}
	if msg, err := p.Recv(); err != nil || string(msg.GetData()) != "x" {
		t.Fatalf("the pipe delivered %v, %v", msg, err)
	}
	waitingRecv := func() codes.Code {
		ctx, cancel := s.ctx(callTimeout)
		defer cancel()
		_, err := s.api.Recv(ctx, &sockdv1.RecvRequest{SocketId: srv, Timeout: millis(50)})
		return status.Code(err)
	}
	if code := waitingRecv(); code != codes.ResourceExhausted {
		t.Fatalf("a waiting recv while the pipe holds the only place: %v, want ResourceExhausted", code)
	}
	endPipe()
	for deadline := time.Now().Add(5 * time.Second); waitingRecv() != codes.OK; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the ended pipe did not give its place back")
		}
	}
}

// A SIGHUP while the daemon starts (systemd's reload right after its start)
// is taken as a reload too, not SIGHUP's default action: from its first log
// line on, however many come before it serves.
func TestSIGHUPWhileStarting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	cmd := exec.Command(sockdBin, "--listen", "unix://"+path)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	reloaded := make(chan struct{}, 1) // a SIGHUP was taken as a reload
	var log strings.Builder            // the scanner's until exited
	// The sender of SIGHUPs, stopped before SIGTERM: this test is of a
	// daemon that starts, not of one that stops (TestSecondSignalEndsTheDrain
	// sends one during the drain).
	stopHUPs, hupsStopped := make(chan struct{}), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		hupping := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			switch {
			case !hupping && strings.Contains(sc.Text(), "sockd starting"):
				hupping = true
				go func() {
					defer close(hupsStopped)
					// At least one, then until the daemon serves.
					for cmd.Process.Signal(syscall.SIGHUP) == nil {
						if _, err := os.Stat(path); err == nil {
							return
						}
						select {
						case <-stopHUPs:
							return
						case <-time.After(time.Millisecond):
						}
					}
				}()
			case strings.Contains(sc.Text(), "no --policy file to reload"):
				select {
				case reloaded <- struct{}{}:
				default:
				}
			}
		}
		exited <- cmd.Wait()
	}()
	select {
	case <-reloaded:
	case err := <-exited:
		t.Fatalf("the daemon ended while it started, SIGHUPs arriving: %v\n%s", err, log.String())
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("no SIGHUP reached the daemon while it started: %v", <-exited)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the daemon did not start serving: %v", <-exited)
		}
	}
	close(stopHUPs)
	<-hupsStopped
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("the daemon's exit after SIGHUPs while it started: %v\n%s", err, log.String())
	}
}

// The daemon tells a service manager that it serves (READY=1), once it
// does, and that it stops (STOPPING=1), as sd_notify(3) says: a unit of
// Type=notify counts as started only then.
func TestNotifiesTheServiceManager(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notify := filepath.Join(dir, "notify")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	path := filepath.Join(dir, "s.sock")
	cmd := exec.Command(sockdBin, "--listen", "unix://"+path)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0", "NOTIFY_SOCKET="+notify)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	next := func() string {
		t.Helper()
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 256)
		n, err := pc.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:n])
	}
	if got := next(); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("READY=1 before the daemon serves: %v", err)
	}
	c.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	if got := next(); got != "STOPPING=1" {
		t.Fatalf("notification at SIGTERM %q, want STOPPING=1", got)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}
