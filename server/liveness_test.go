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
	// Its grace runs out once and is deferred: no timer fires while the
	// call runs. (Waited for: a loaded machine fires the timer late.)
	deferred := func() (bool, uint64) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.graceDeferred.Load() && s.timer == nil, s.graces
	}
	eventually(t, "the grace to run out and be deferred", func() bool { d, _ := deferred(); return d })
	time.Sleep(4 * grace)
	if s.isDead() {
		t.Fatal("the session ended while a call of it was running")
	}
	if d, graces := deferred(); !d || graces != 1 {
		t.Fatalf("grace while a call runs: deferred %v, %d periods started; want deferred after 1", d, graces)
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

// A grace shorter than MinGrace is raised to it: a timer firing every few
// microseconds for each of many sessions would keep the daemon busy.
func TestGraceHasAFloor(t *testing.T) {
	_, m, _ := newTestSession(t)
	s, _, err := m.create(Principal{Kind: "uid", UID: 1000}, "", time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	if s.grace != MinGrace {
		t.Fatalf("grace %v, want the floor %v", s.grace, MinGrace)
	}
}

// A call that ends just as its session's grace runs out, before or after
// the grace is deferred for it, leaves a session that still ends: whichever
// of expire and leaveCall looks last starts the grace again.
func TestGraceEndsAfterCallsEndingAtItsEnd(t *testing.T) {
	_, m, _ := newTestSession(t)
	var made []*Session
	for i := range 60 {
		s, _, err := m.create(Principal{Kind: "uid", UID: 1000}, "", MinGrace)
		if err != nil {
			t.Fatal(err)
		}
		s.enterCall()
		time.AfterFunc(MinGrace+time.Duration(i%12-6)*time.Millisecond/2, s.leaveCall)
		made = append(made, s)
	}
	eventually(t, "every session to end once its call has", func() bool {
		for _, s := range made {
			if !s.isDead() {
				return false
			}
		}
		return true
	})
}
