package server

import (
	"context"
	"errors"
	"testing"
)

// TestAttachRefusesCancelledStream: a client that cancels an Events stream
// and opens another must keep the new one, even when the handler of the
// cancelled call attaches last (found by integration's TestStressShort: the
// late handler replaced the live stream, which ended with Aborted, and the
// session's events were lost to the client).
func TestAttachRefusesCancelledStream(t *testing.T) {
	_, m, sess := newTestSession(t)

	live := newAttachment()
	if err := sess.attach(context.Background(), live); err != nil {
		t.Fatalf("attach: %v", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	late := newAttachment()
	if err := sess.attach(cancelled, late); !errors.Is(err, context.Canceled) {
		t.Fatalf("attach with a cancelled ctx = %v, want context.Canceled", err)
	}
	select {
	case <-live.done:
		t.Fatalf("the live stream was ended: %v", live.reason)
	default:
	}
	sess.mu.Lock()
	attached := sess.attached
	sess.mu.Unlock()
	if attached != live {
		t.Fatal("the cancelled stream replaced the live one")
	}

	m.end(sess)
	if err := sess.attach(context.Background(), newAttachment()); !errors.Is(err, errSessionEnded) {
		t.Fatalf("attach to an ended session = %v, want errSessionEnded", err)
	}
}
