package server

import (
	"testing"
	"time"
)

// A session without a stream lives while a long call of it runs, and for a
// grace period after its last call; then it ends.
func TestDetachedSessionLivesWhileInUse(t *testing.T) {
	_, m, _ := newTestSession(t)
	const grace = 100 * time.Millisecond
	s, _, err := m.create(Principal{Kind: "uid", UID: 1000}, "", grace)
	if err != nil {
		t.Fatal(err)
	}
	s.enterCall() // a blocking accept, say
	time.Sleep(4 * grace)
	if s.isDead() {
		t.Fatal("the session ended while a call of it was running")
	}
	s.leaveCall()
	for range 8 { // short calls, each within a grace period of the last
		time.Sleep(grace / 2)
		s.noteCall()
	}
	if s.isDead() {
		t.Fatal("the session ended while calls kept coming")
	}
	last := time.Now()
	eventually(t, "the idle session to end", s.isDead)
	if idle := time.Since(last); idle < grace {
		t.Errorf("the session ended %v after its last call, before its %v grace", idle, grace)
	}
}
