package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// A client that declares a large request and sends it a byte a frame
// (gRPC keeps each frame as a buffer of its own, over a hundred bytes a
// byte, until the request is whole) makes the daemon hold no more than its
// principal's bound: past it the daemon closes the connection, says why,
// and serves on. Without the bound, this connection alone made a daemon
// grow by 117 MB for each MiB sent.
func TestUnfinishedRequestsAreBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const bound = 16 << 20
	d := dedicatedDaemon(t, filepath.Join(dir, "d"), "--principal-bytes", strconv.Itoa(bound))
	c, err := net.Dial("unix", d.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := bufio.NewWriterSize(c, 64<<10)
	w.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(w, c)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/sockd.v1.SocketService/Send"},
		{":authority", "sockd"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	prefix := make([]byte, 5)
	binary.BigEndian.PutUint32(prefix[1:], 4<<20)
	fr.WriteData(1, false, prefix)
	w.Flush()

	// The daemon's frames: its settings, window updates, until it closes
	// the connection. What they ask the client to write, it writes itself.
	credit := make(chan int, 1024)
	settings := make(chan struct{}, 16)
	closed := make(chan error, 1)
	go func() {
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				closed <- err
				return
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					settings <- struct{}{}
				}
			case *http2.WindowUpdateFrame:
				if f.StreamID == 1 {
					credit <- int(f.Increment)
				}
			}
		}
	}()
	// Within the stream's window (its initial 256 KiB, then what the
	// daemon gives as gRPC reads), and far within the connection's.
	window := 256<<10 - len(prefix)
	sent := 0
	deadline := time.After(time.Minute)
	for sent < 4<<20-1 {
		for window == 0 {
			w.Flush()
			select {
			case <-settings:
				fr.WriteSettingsAck()
			case n := <-credit:
				window += n
			case err := <-closed:
				t.Logf("the daemon closed the connection after %d 1-byte frames: %v", sent, err)
				assertBoundLogged(t, dir, bound)
				assertServes(t, d)
				return
			case <-deadline:
				t.Fatalf("the daemon neither read nor closed after %d frames", sent)
			}
		}
		if err := fr.WriteData(1, false, []byte{0}); err != nil {
			break // closed under the write; the reader says so
		}
		window--
		sent++
		if sent%4096 == 0 {
			select {
			case <-settings:
				fr.WriteSettingsAck()
			default:
			}
			w.Flush()
		}
	}
	w.Flush()
	select {
	case err := <-closed:
		if sent >= 4<<20-1 {
			t.Fatalf("the daemon took the whole request but one byte (%d frames), then closed: %v", sent, err)
		}
		t.Logf("the daemon closed the connection after %d 1-byte frames: %v", sent, err)
		assertBoundLogged(t, dir, bound)
		assertServes(t, d)
	case <-time.After(10 * time.Second):
		t.Fatalf("the daemon holds %d 1-byte frames of an unfinished request, past its %d-byte bound", sent, bound)
	}
}

func assertBoundLogged(t *testing.T, dir string, bound int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(dir, "d", "sockd.log"))
		if strings.Contains(string(b), "unfinished requests would pass a bound") && strings.Contains(string(b), "bytes="+strconv.Itoa(bound)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not log why it closed the connection:\n%s", b)
		}
	}
}

// assertServes checks the daemon still serves a new client.
func assertServes(t *testing.T, d *Daemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := d.Dial(t).CreateSession(ctx, &sockdv1.CreateSessionRequest{}); err != nil {
		t.Fatalf("after closing the connection the daemon does not serve: %v", err)
	}
}
