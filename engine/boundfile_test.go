package engine

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// A bind that asks for it has its socket file removed when the socket
// closes, and only its own: a file another socket bound at the path since
// stays, as does the file of a bind that did not ask.
func TestBindUnlinkOnClose(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	dir := t.TempDir()
	bindAt := func(path string, o BindOptions) *Socket {
		t.Helper()
		s := mustOpen(t, e, c, unix.AF_UNIX, unix.SOCK_STREAM)
		if err := s.BindWith(SockAddr{Family: FamilyLocal, Path: []byte(path)}, o); err != nil {
			t.Fatal(err)
		}
		return s
	}
	exists := func(path string) bool {
		_, err := os.Lstat(path)
		return err == nil
	}

	removed := filepath.Join(dir, "removed")
	s := bindAt(removed, BindOptions{UnlinkOnClose: true})
	if !exists(removed) {
		t.Fatal("no socket file after the bind")
	}
	s.Close()
	eventually(t, "the socket file removed", func() bool { return !exists(removed) })
	bindAt(removed, BindOptions{UnlinkOnClose: true}).Close() // the path binds again

	// The engine's API takes a path with its terminating NUL too.
	terminated := filepath.Join(dir, "terminated")
	bindAt(terminated+"\x00", BindOptions{UnlinkOnClose: true}).Close()
	eventually(t, "the socket file of a NUL-terminated path removed", func() bool { return !exists(terminated) })

	kept := filepath.Join(dir, "kept")
	bindAt(kept, BindOptions{}).Close()
	if !exists(kept) {
		t.Fatal("the socket file of a bind that did not ask was removed")
	}

	replaced := filepath.Join(dir, "replaced")
	first := bindAt(replaced, BindOptions{UnlinkOnClose: true})
	if err := os.Remove(replaced); err != nil {
		t.Fatal(err)
	}
	second := bindAt(replaced, BindOptions{})
	defer second.Close()
	first.Close()
	eventually(t, "the first socket closed", func() bool { return first.released.Load() })
	if !exists(replaced) {
		t.Fatal("closing the first socket removed the file of the socket bound at its path since")
	}
}
