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

// TestNoFollowReadLeavesTheFollower: a no-follow read decides under the
// attach's lock that another stream follows, and leaves it attached (a
// reviewer's race: the decision taken before the lock replaced a follower
// that attached in between, 4 in 3000).
func TestNoFollowReadLeavesTheFollower(t *testing.T) {
	_, _, sess := newTestSession(t)
	alone := newAttachment()
	if following, err := sess.attachUnlessFollowed(context.Background(), alone, true); err != nil || following {
		t.Fatalf("no-follow read with no follower: following %v, %v; want it attached", following, err)
	}
	sess.detach(alone)

	follower := newAttachment()
	if err := sess.attach(context.Background(), follower); err != nil {
		t.Fatal(err)
	}
	if following, err := sess.attachUnlessFollowed(context.Background(), newAttachment(), true); err != nil || !following {
		t.Fatalf("no-follow read while a stream follows: following %v, %v; want following", following, err)
	}
	select {
	case <-follower.done:
		t.Fatalf("the follower was ended: %v", follower.reason)
	default:
	}
	sess.mu.Lock()
	attached := sess.attached
	sess.mu.Unlock()
	if attached != follower {
		t.Fatal("the no-follow read replaced the follower")
	}
}
