package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockd/sockd/client"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A daemon in a memory-limited cgroup caps its sockets and connections to
// fit the limit (a socket per 16 KiB of half of it, a connection per 64
// KiB of a quarter), so that at the cap it refuses, where it would be
// killed for memory first: the real binary in a real cgroup v1 memory
// controller, which this kind of machine has.
func TestSocketCapFitsTheMemoryLimit(t *testing.T) {
	requireRoot(t, "it makes a cgroup")
	t.Parallel() // its build overlaps the other tests
	cgroup := memoryCgroupV1(t)
	if err := os.WriteFile(filepath.Join(cgroup, "memory.limit_in_bytes"), []byte(fmt.Sprint(256<<20)), 0); err != nil {
		t.Skipf("no memory limit can be set here: %v", err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	// A binary without the race detector, whose shadow memory would take
	// more than the limit: the daemon as deployed.
	bin := filepath.Join(dir, "sockd")
	build := exec.Command("go", "build", "-o", bin, "github.com/sockd/sockd/cmd/sockd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building sockd: %v\n%s", err, out)
	}
	// The shell joins the cgroup, then becomes the daemon.
	cmd := exec.Command("sh", "-c", `echo $$ > "$1/cgroup.procs" && shift && exec "$@"`,
		"sh", cgroup, bin, "--listen", "unix://"+path)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	logFile, err := os.Create(filepath.Join(dir, "sockd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed once the daemon has ended, with waitErr
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	var log string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log, "socket cap"); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(logFile.Name())
		log = string(b)
		select {
		case <-exited:
			if !strings.Contains(log, "sockd starting") {
				t.Skipf("the daemon could not be run in the cgroup (%v): %s", waitErr, log)
			}
			t.Fatalf("the daemon ended: %v\n%s", waitErr, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket cap logged:\n%s", log)
		}
	}
	for _, want := range []string{"max_sockets=8192", "max_connections=341", "memory_limit=268435456",
		"principal_bytes=33554432", "daemon_bytes=67108864"} {
		if !strings.Contains(log, want) {
			t.Errorf("the daemon in a 256 MiB cgroup logged\n%s\nwant %s", log, want)
		}
	}

	// Busy sockets: blocking recvs of 3.75 MiB each, their data arriving
	// (all but a byte), are refused once they would hold an eighth of the
	// limit (a principal's share), where some 55 of them had the daemon
	// killed for memory.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("the daemon does not serve")
		}
	}
	s := clientSessionOn(t, "unix://"+path, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := tcpListener(t)
	addr, _ := client.ParseAddr(l.Addr().String())
	const length = 4<<20 - 256<<10
	refused := 0
	for i := range 100 {
		id, err := s.OpenStream(ctx, addr)
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		peer, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		answered := goCall(func() error {
			_, err := s.Recv(ctx, id, length, client.Infinity)
			return err
		})
		// A refused recv leaves its data unread, more than the kernel
		// may take in: the write ends only when the test closes peer.
		wrote := goCall(func() error {
			_, err := peer.Write(make([]byte, length-1))
			return err
		})
		checkRefusal := func(err error) {
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("recv %d: %v, want it waiting, or RESOURCE_EXHAUSTED", i, err)
			}
			refused = i
		}
		select {
		case err := <-answered:
			checkRefusal(err)
		case err := <-wrote:
			if err != nil {
				t.Fatalf("socket %d: the peer's write: %v", i, err)
			}
			select {
			case err := <-answered:
				checkRefusal(err)
			case <-time.After(100 * time.Millisecond): // waiting, its data held
			}
		}
		if refused > 0 {
			break
		}
	}
	t.Logf("recv %d refused", refused)
	if refused == 0 || refused > 12 {
		t.Errorf("the first recv refused was number %d, want one by the 10th (32 MiB of 3.75 MiB recvs)", refused)
	}
	select {
	case <-exited:
		t.Fatalf("the daemon is gone: %v", waitErr)
	default:
	}
}

// memoryCgroupV1 makes a cgroup below the test's own in a cgroup v1 memory
// hierarchy, removed at the end (once its processes have ended), or skips
// where there is none.
func memoryCgroupV1(t *testing.T) string {
	t.Helper()
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("no /proc/self/cgroup: %v", err)
	}
	for line := range strings.Lines(string(self)) {
		fields := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(fields) != 3 || fields[1] != "memory" {
			continue
		}
		dir := filepath.Join("/sys/fs/cgroup/memory", fields[2], fmt.Sprintf("sockd-test-%d", os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Skipf("no cgroup can be made in the memory hierarchy: %v", err)
		}
		t.Cleanup(func() {
			for deadline := time.Now().Add(5 * time.Second); os.Remove(dir) != nil && time.Now().Before(deadline); {
				time.Sleep(50 * time.Millisecond)
			}
		})
		return dir
	}
	t.Skip("no cgroup v1 memory hierarchy (cgroup v2 keeps processes out of a cgroup with children: the unit tests read its files)")
	return ""
}
