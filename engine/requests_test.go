package engine

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// wantRequests checks how many places r's requests hold, once the events
// on their way have been delivered.
func wantRequests(t *testing.T, r *recorder, want int64, when string) {
	t.Helper()
	eventually(t, when, func() bool { return r.requests.Load() == want })
}

func wantQuota(t *testing.T, err error, when string) {
	t.Helper()
	var q *QuotaError
	if !errors.As(err, &q) {
		t.Fatalf("%s: %v, want a quota error", when, err)
	}
}

// A RequestLimiter caller's nowait requests each hold a place while they
// wait in a lane, whichever rule put them there; a call past the limit is
// refused before any syscall, except one that replaces the caller's own
// request (rule 2), which takes over its place. Every way a request ends
// gives the place back.
func TestNowaitRequestsHoldTheirCallersPlaces(t *testing.T) {
	e := newEngine(t, Config{})
	c := newRecorder("c")
	c.requestQuota = 2
	a1, b1 := pair(t, e, c, unix.AF_INET)
	a2, b2 := pair(t, e, c, unix.AF_INET)
	a3, b3 := pair(t, e, c, unix.AF_INET)
	peer := newRecorder("peer") // sends for the peers, under no limit

	// Rule 1: a recv that waits holds a place; one that answers at once
	// holds none.
	mustSend(t, a3, peer, "there")
	eventually(t, "data", func() bool { return len(b3.Recv(bg, c, 5, unix.MSG_PEEK, poll).Data) == 5 })
	if r := b3.Recv(bg, c, 5, 0, nowait); string(r.Data) != "there" || r.Select != nil {
		t.Fatalf("nowait recv of data that is there: %+v", r)
	}
	r1 := b1.Recv(bg, c, 10, 0, withHandle(1))
	r2 := b2.Recv(bg, c, 10, 0, withHandle(2))
	if r1.Select == nil || r2.Select == nil {
		t.Fatalf("recvs on empty sockets: %+v %+v", r1, r2)
	}
	wantRequests(t, c, 2, "two waiting recvs")

	// Past the limit: refused, and the bytes there stay there.
	mustSend(t, a3, peer, "kept")
	eventually(t, "data", func() bool { return len(b3.Recv(bg, c, 4, unix.MSG_PEEK, poll).Data) == 4 })
	r := b3.Recv(bg, c, 10, 0, nowait)
	wantQuota(t, r.Err, "a third nowait recv")
	if r.Select != nil || len(r.Data) != 0 {
		t.Fatalf("a refused recv answered %+v", r)
	}
	if r := b3.Recv(bg, c, 10, 0, poll); string(r.Data) != "kept" {
		t.Fatalf("after the refusal the socket holds %q, want %q", r.Data, "kept")
	}
	// A poll never waits and takes no place; a call that may wait does,
	// unless it replaces the caller's own request (below).
	if r := b3.Recv(bg, c, 10, 0, poll); !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("a poll at the limit: %+v", r)
	}
	wantQuota(t, b3.Recv(bg, c, 10, 0, within(time.Millisecond)).Err, "a timed recv at the limit")
	if r := b2.Recv(bg, c, 10, 0, within(time.Millisecond)); !errors.Is(r.Err, ErrTimeout) {
		t.Fatalf("a timed recv replacing the caller's own request at the limit: %+v", r)
	}
	wantRequests(t, c, 1, "a timed recv that replaced a request and timed out")
	if r := b2.Recv(bg, c, 10, 0, withHandle(2)); r.Select == nil {
		t.Fatalf("recv: %+v", r)
	}

	// Rule 2 at the limit: the caller's own request is replaced, in
	// completion mode too.
	again := completion()
	again.Handle = 11
	if r := b1.Recv(bg, c, 0, 0, again); r.Select == nil || r.Err != nil {
		t.Fatalf("a recv replacing the caller's own: %+v", r)
	}
	wantRequests(t, c, 2, "a replaced request")

	// Rule 3: another caller's request queued behind holds its own place.
	d := newRecorder("d")
	d.requestQuota = 1
	if r := b1.Recv(bg, d, 10, 0, withHandle(21)); r.Select == nil {
		t.Fatalf("a queued recv: %+v", r)
	}
	wantRequests(t, d, 1, "a queued recv")
	if r := b2.Recv(bg, d, 10, 0, withHandle(22)); r.Select != nil {
		t.Fatalf("a queued recv past the limit: %+v", r)
	} else {
		wantQuota(t, r.Err, "a queued recv past the limit")
	}

	// A completion gives its place back; the queued request becomes
	// current (armed: the completion took the bytes) and keeps its own.
	mustSend(t, a1, peer, "one")
	c.expect(t, EventCompletion, 11)
	wantRequests(t, c, 1, "a completed request")
	wantRequests(t, d, 1, "a queued request made current")

	// A select's retry that gets its data ends the request.
	mustSend(t, a2, peer, "two")
	c.expect(t, EventSelect, 2)
	if r := b2.Recv(bg, c, 0, 0, withHandle(2)); string(r.Data) != "two" || r.Select != nil {
		t.Fatalf("the retry: %+v", r)
	}
	wantRequests(t, c, 0, "a retried request")

	// Cancel, and the caller's drop.
	if r := b2.Recv(bg, c, 10, 0, withHandle(3)); r.Select == nil {
		t.Fatalf("recv: %+v", r)
	}
	if _, err := b2.Cancel(c, SelectInfo{Op: OpRecv, Handle: 3}); err != nil {
		t.Fatal(err)
	}
	wantRequests(t, c, 0, "a cancelled request")
	if r := b2.Recv(bg, c, 10, 0, withHandle(4)); r.Select == nil {
		t.Fatalf("recv: %+v", r)
	}
	b2.DropCaller(c)
	wantRequests(t, c, 0, "a dropped caller")

	// select_read: a read that got data and waits on holds its place.
	b3.SetSelectRead(true)
	mustSend(t, a3, peer, "more")
	eventually(t, "data", func() bool { return len(b3.Recv(bg, c, 4, unix.MSG_PEEK, poll).Data) == 4 })
	if r := b3.Recv(bg, c, 0, 0, withHandle(5)); len(r.Data) == 0 || r.Select == nil {
		t.Fatalf("recv with select_read: %+v", r)
	}
	wantRequests(t, c, 1, "a read kept on by select_read")

	// Close aborts the rest.
	b1.Close()
	b3.Close()
	d.expectAbort(t, 21)
	wantRequests(t, d, 0, "requests of a closed socket")
	wantRequests(t, c, 0, "requests of a closed socket")
}
