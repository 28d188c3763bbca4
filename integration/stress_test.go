package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// The stress tests drive a daemon of their own with several sessions at once,
// each doing random operations over a small shared pool of loopback sockets,
// and check invariants that must hold whatever the interleaving:
//   - no call fails with codes.Internal or codes.Unknown;
//   - every async handle ends exactly once: a completion or abort event, a
//     select the session answers by retrying (or cancelling), a Cancel that
//     returned ok, or a later call of the session in the same lane (rule 2
//     voids the old handle); after a Cancel that returned ok no completion
//     or abort arrives, and after any Cancel returned no event at all (the
//     session's last sequence, read right after Cancel, fences it);
//   - each session's events are numbered contiguously, across dropped and
//     resumed streams, with no gap (the backlog is never allowed to overflow),
//     but for the sequences of events a Cancel took back before a stream took
//     them (never past that Cancel's fence),
//     and a stream ends only when its client drops it or the session ends;
//   - once every session is gone, the daemon holds as many descriptors and
//     registered sockets as before, and it exits 0 on SIGTERM.
//
// SOCKD_STRESS_SEED fixes the seed (each worker derives its own generator
// from it, so a worker's choices repeat; the interleaving does not);
// failures name the socket's history. SOCKD_STRESS=1 enables the long run, SOCKD_STRESS_DURATION bounds
// it (default 2m).

// stressConfig bounds one run.
type stressConfig struct {
	sessions  int           // concurrent workers, each a sequence of sessions
	lifetimes int           // sessions per worker (0: until budget)
	ops       int           // operations per session
	budget    time.Duration // wall-clock bound on the whole run
}

// TestStressShort is the always-on variant: a few seconds under -race.
func TestStressShort(t *testing.T) {
	runStress(t, stressConfig{sessions: 6, lifetimes: 3, ops: 80, budget: 4 * time.Second})
}

// TestStressRandomOperations is the long run, for SOCKD_STRESS=1.
func TestStressRandomOperations(t *testing.T) {
	if os.Getenv("SOCKD_STRESS") != "1" {
		t.Skip("set SOCKD_STRESS=1 to run the long stress test")
	}
	budget := 2 * time.Minute
	if s := os.Getenv("SOCKD_STRESS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("SOCKD_STRESS_DURATION: %v", err)
		}
		budget = d
	}
	runStress(t, stressConfig{sessions: 8, ops: 400, budget: budget})
}

func stressSeed(t *testing.T) uint64 {
	if s := os.Getenv("SOCKD_STRESS_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SOCKD_STRESS_SEED: %v", err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

func runStress(t *testing.T, cfg stressConfig) {
	seed := stressSeed(t)
	t.Logf("seed %d (rerun with SOCKD_STRESS_SEED=%d)", seed, seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d: rerun with SOCKD_STRESS_SEED=%d", seed, seed)
		}
	})

	d, err := StartDaemon(t.TempDir(), "--session-grace=2s")
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			d.Kill()
		}
	})
	api := d.Dial(t)
	baselineSockets := numberOf(t, api) // connects api before the fds are counted
	baselineFDs := d.settledFDs()

	run := &stressRun{t: t, cfg: cfg, daemon: d, deadline: time.Now().Add(cfg.budget), outcomes: map[string]int{}, traces: map[string][]string{}}
	var wg sync.WaitGroup
	for w := range cfg.sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run.worker(w, rand.New(rand.NewPCG(seed, uint64(w))))
		}()
	}
	wg.Wait()
	t.Logf("%d sessions, %d operations, %d events, %d async handles, %d cancels ok",
		run.stats.sessions.Load(), run.stats.ops.Load(), run.stats.events.Load(),
		run.stats.handles.Load(), run.stats.cancels.Load())
	t.Logf("outcomes: %v", run.outcomes)

	if err := syscall.Kill(d.cmd.Process.Pid, 0); err != nil {
		t.Fatalf("sockd is gone: %v", err)
	}
	deadline := time.Now().Add(eventWait)
	for n := numberOf(t, api); n != baselineSockets; n = numberOf(t, api) {
		if time.Now().After(deadline) {
			t.Errorf("NumberOf = %d after all sessions closed, %d before", n, baselineSockets)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.checkFDs(baselineFDs); err != nil {
		t.Error(err)
	}
	stopped = true
	if err := d.Stop(); err != nil {
		t.Errorf("stopping sockd: %v", err)
	}
}

func numberOf(t *testing.T, api sockdv1.SocketServiceClient) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := api.NumberOf(ctx, &sockdv1.NumberOfRequest{})
	if err != nil {
		t.Fatalf("NumberOf: %v", err)
	}
	return resp.GetCount()
}

// stressRun is the state all workers share.
type stressRun struct {
	t        *testing.T
	cfg      stressConfig
	daemon   *Daemon
	deadline time.Time

	mu   sync.Mutex
	pool []*stressSocket // every socket some live session opened or accepted

	stats struct {
		sessions, ops, events, handles, cancels atomic.Int64
	}
	// outcomes counts the answers of the async-capable calls by kind, to
	// show in the log what the random mix actually exercised.
	outcomes map[string]int
	traces   map[string][]string // socket id -> what sessions did to it
}

// trace records what happened to a socket, for failure messages.
func (r *stressRun) trace(id, format string, args ...any) {
	r.mu.Lock()
	if len(r.traces[id]) < 64 {
		r.traces[id] = append(r.traces[id], fmt.Sprintf(format, args...))
	}
	r.mu.Unlock()
}

func (r *stressRun) history(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.traces[id])
}

func (r *stressRun) note(outcome string) {
	r.mu.Lock()
	r.outcomes[outcome]++
	r.mu.Unlock()
}

// stressSocket is a socket of the pool. addr and listening are guarded by
// stressRun.mu.
type stressSocket struct {
	id        string
	v         variant
	owner     string // session id
	addr      *sockdv1.SockAddr
	listening bool
	connected bool // a connect succeeded, or accept returned it
}

func (r *stressRun) add(s *stressSocket) {
	r.mu.Lock()
	r.pool = append(r.pool, s)
	r.mu.Unlock()
}

func (r *stressRun) remove(pred func(*stressSocket) bool) {
	r.mu.Lock()
	kept := r.pool[:0]
	for _, s := range r.pool {
		if !pred(s) {
			kept = append(kept, s)
		}
	}
	clear(r.pool[len(kept):])
	r.pool = kept
	r.mu.Unlock()
}

// all returns the pool sockets for which pred holds.
func (r *stressRun) all(pred func(*stressSocket) bool) []*stressSocket {
	r.mu.Lock()
	defer r.mu.Unlock()
	var match []*stressSocket
	for _, s := range r.pool {
		if pred(s) {
			match = append(match, s)
		}
	}
	return match
}

// pick returns a random pool socket for which pred holds, or nil.
func (r *stressRun) pick(rng *rand.Rand, pred func(*stressSocket) bool) *stressSocket {
	match := r.all(pred)
	if len(match) == 0 {
		return nil
	}
	return match[rng.IntN(len(match))]
}

func (r *stressRun) worker(w int, rng *rand.Rand) {
	for n := 0; r.cfg.lifetimes == 0 || n < r.cfg.lifetimes; n++ {
		if time.Now().After(r.deadline) || r.t.Failed() {
			return
		}
		s := r.newSession(w, rng)
		if s == nil {
			return
		}
		abrupt := rng.IntN(4) == 0
		for i := 0; i < r.cfg.ops && time.Now().Before(r.deadline); i++ {
			s.step()
			r.stats.ops.Add(1)
		}
		if abrupt {
			s.closeAbruptly()
		} else {
			s.finish()
		}
	}
}

// handleState is where an async handle is in its life.
type handleState int

const (
	handlePending   handleState = iota // returned, nothing arrived yet
	handleSelected                     // select arrived and was answered
	handleCancelled                    // Cancel returned ok
	handleRefused                      // Cancel answered an error: already over
	handleDone                         // completion or abort arrived
)

type stressHandle struct {
	info   *sockdv1.AsyncInfo
	socket string
	lane   string // socket and lane: a later call there may void the handle
	op     *asyncCall
	state  handleState
	// superseded: the session called again in the same lane, which voids
	// the handle if it was the current requestor (rule 2) and leaves it
	// alone if it was queued.
	superseded bool
	// fence is the session's last sequence when a Cancel of the handle
	// returned: no event for the handle may come after it.
	fence uint64
	// refused is the answer of a Cancel that did not return ok, cancelErr
	// the error of one that failed.
	refused   *sockdv1.SocketError
	cancelErr error
}

// asyncCall is an operation that may answer select or completion; do makes
// the call once with the given timeout.
type asyncCall struct {
	name   string
	socket *stressSocket
	do     func(ctx context.Context, to *sockdv1.Timeout) (asyncResponse, error)
}

// stressSession is one session of a worker; only the worker's goroutine uses it.
type stressSession struct {
	run  *stressRun
	t    *testing.T
	rng  *rand.Rand
	conn *grpc.ClientConn
	api  sockdv1.SocketServiceClient
	id   string
	name string
	// sessionName is the session's name, name the worker's label for messages.
	sessionName string

	events       chan *sockdv1.EventsResponse // closed when the stream ends
	streamCancel context.CancelFunc
	lastSeq      uint64
	maxFence     uint64 // the highest fence read after a Cancel
	withdrawable uint64 // events the Cancels so far may have taken back, not yet seen skipped
	nextHandle   uint64
	handles      map[uint64]*stressHandle
	monitors     map[string]bool // monitor id -> cancelled (removed)
	finishing    bool
	closing      atomic.Bool // CloseSession was called: the stream ends
}

func (r *stressRun) newSession(w int, rng *rand.Rand) *stressSession {
	// A connection per session, closed with it, so that the daemon's
	// descriptors can be compared with the baseline at the end.
	conn, err := grpc.NewClient(r.daemon.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		r.t.Errorf("worker %d: dial: %v", w, err)
		return nil
	}
	api := sockdv1.NewSocketServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	// Named, so that asking for it again tells its last sequence (fence).
	sessionName := fmt.Sprintf("stress-%d-%d", w, r.stats.sessions.Load())
	resp, err := api.CreateSession(ctx, &sockdv1.CreateSessionRequest{Name: sessionName, Grace: durationpb.New(time.Minute)})
	if err != nil {
		conn.Close()
		r.t.Errorf("worker %d: CreateSession: %v", w, err)
		return nil
	}
	r.stats.sessions.Add(1)
	s := &stressSession{
		run: r, t: r.t, rng: rng, conn: conn, api: api, id: resp.GetSessionId(), sessionName: sessionName,
		name:     fmt.Sprintf("worker %d session %s", w, resp.GetSessionId()),
		handles:  map[uint64]*stressHandle{},
		monitors: map[string]bool{},
	}
	s.attach()
	return s
}

func (s *stressSession) ctx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	return metadata.AppendToOutgoingContext(ctx, "sockd-session", s.id), cancel
}

// rpc checks the error of a call: the daemon may refuse a call, never fail it.
func (s *stressSession) rpc(what string, err error) bool {
	if err == nil {
		return true
	}
	if c := codeOf(err); c == codes.Internal || c == codes.Unknown {
		s.t.Errorf("%s: %s: %v", s.name, what, err)
	}
	return false
}

// ---------------------------------------------------------------------------
// Events.

func (s *stressSession) attach() {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := s.api.Events(ctx, &sockdv1.EventsRequest{SessionId: s.id, AfterSequence: s.lastSeq})
	if err != nil {
		cancel()
		s.t.Errorf("%s: Events: %v", s.name, err)
		s.events = make(chan *sockdv1.EventsResponse)
		close(s.events)
		s.streamCancel = func() {}
		return
	}
	// Larger than the daemon's backlog, so the reader never stalls the stream.
	ch := make(chan *sockdv1.EventsResponse, 8192)
	go func() {
		defer close(ch)
		for {
			ev, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					s.rpc("event stream", err)
				}
				if ctx.Err() == nil && !s.closing.Load() {
					s.t.Errorf("%s: event stream ended while in use: %v", s.name, err)
				}
				return
			}
			ch <- ev
		}
	}()
	s.events, s.streamCancel = ch, cancel
}

// detach drops the stream, handling what it had already delivered.
func (s *stressSession) detach() {
	s.streamCancel()
	for ev := range s.events {
		s.handle(ev)
	}
}

// pump handles the events that have arrived, waiting up to wait for more
// while until reports false.
func (s *stressSession) pump(wait time.Duration, until func() bool) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for until == nil || !until() {
		var ev *sockdv1.EventsResponse
		var ok bool
		select {
		case ev, ok = <-s.events:
		default: // nothing has arrived: wait only if until asks for more
			if until == nil {
				return
			}
			select {
			case ev, ok = <-s.events:
			case <-timer.C:
				return
			}
		}
		if !ok {
			return
		}
		s.handle(ev)
	}
}

func (s *stressSession) handle(ev *sockdv1.EventsResponse) {
	if ev.GetGap() != nil {
		s.t.Errorf("%s: gap marker %v: the backlog overflowed", s.name, ev)
		return
	}
	if ev.GetCaughtUp() != nil {
		return
	}
	s.run.stats.events.Add(1)
	s.run.trace(ev.GetSocketId(), "%s: event %v", s.name, ev)
	// Sequences rise by one, but for events a Cancel took back before the
	// stream took them (their sequences are skipped): those were logged
	// before the Cancel returned, so at or below its fence, and a Cancel
	// takes back at most the select and the final event of its handle.
	if seq := ev.GetSequence(); s.lastSeq != 0 && seq != s.lastSeq+1 {
		skipped := seq - s.lastSeq - 1
		if seq <= s.lastSeq || seq-1 > s.maxFence || skipped > s.withdrawable {
			s.t.Errorf("%s: event sequence %d after %d (latest fence %d, %d events Cancels may have taken back): %v",
				s.name, seq, s.lastSeq, s.maxFence, s.withdrawable, ev)
		} else {
			s.withdrawable -= skipped
		}
	}
	s.lastSeq = max(s.lastSeq, ev.GetSequence())

	switch e := ev.GetEvent().(type) {
	case *sockdv1.EventsResponse_Down:
		if removed, ok := s.monitors[e.Down.GetMonitorId()]; !ok || removed {
			s.t.Errorf("%s: down for a monitor unknown or removed: %v", s.name, ev)
		}
		delete(s.monitors, e.Down.GetMonitorId())
	case *sockdv1.EventsResponse_Select:
		h := s.handleOf(ev, e.Select.GetHandle())
		if h == nil {
			return
		}
		switch {
		case h.info.GetMode() == sockdv1.AsyncMode_ASYNC_MODE_COMPLETION:
			s.t.Errorf("%s: select for completion-mode handle: %v", s.name, ev)
		case h.state == handleCancelled || h.state == handleRefused:
			// Sent before the Cancel returned (handleOf checked the fence).
		case h.state != handlePending:
			s.t.Errorf("%s: select for %s handle in state %d: %v", s.name, h.op.name, h.state, ev)
		default:
			s.answerSelect(h)
		}
	case *sockdv1.EventsResponse_Completion:
		h := s.handleOf(ev, e.Completion.GetHandle())
		if h == nil {
			return
		}
		if h.info.GetMode() != sockdv1.AsyncMode_ASYNC_MODE_COMPLETION || (h.state != handlePending && h.state != handleRefused) {
			s.t.Errorf("%s: completion for %s handle in state %d (mode %v): %v", s.name, h.op.name, h.state, h.info.GetMode(), ev)
		}
		h.state = handleDone
		if st := completionStatus(e.Completion); st != nil {
			s.noteAccepted(h.op.socket, st)
		} else {
			s.t.Errorf("%s: completion without status: %v", s.name, ev)
		}
	case *sockdv1.EventsResponse_Abort:
		h := s.handleOf(ev, e.Abort.GetHandle())
		if h == nil {
			return
		}
		// An abort may race with the answer to a select (the socket was
		// closed before the retry), or precede a Cancel that then finds
		// nothing; after a successful Cancel or a final event it is a
		// defect.
		if h.state == handleCancelled || h.state == handleDone {
			s.t.Errorf("%s: abort for handle in state %d (after %s): %v; history:\n\t%s", s.name, h.state, h.op.name, ev, strings.Join(s.run.history(h.socket), "\n\t"))
		}
		h.state = handleDone
	}
}

func (s *stressSession) handleOf(ev *sockdv1.EventsResponse, handle uint64) *stressHandle {
	h := s.handles[handle]
	if h == nil {
		s.t.Errorf("%s: event for a handle never returned: %v", s.name, ev)
		return nil
	}
	if ev.GetSocketId() != h.socket {
		s.t.Errorf("%s: event for handle %d of socket %s names socket %s", s.name, handle, h.socket, ev.GetSocketId())
	}
	if (h.state == handleCancelled || h.state == handleRefused) && ev.GetSequence() > h.fence {
		s.t.Errorf("%s: event %d for %s handle %d after its Cancel returned %v at sequence %d: %v; history:\n\t%s",
			s.name, ev.GetSequence(), h.op.name, handle, h.refused, h.fence, ev, strings.Join(s.run.history(h.socket), "\n\t"))
	}
	return h
}

// answerSelect retries the operation (or, sometimes and while finishing,
// cancels it, which must succeed even though the select was sent).
func (s *stressSession) answerSelect(h *stressHandle) {
	h.state = handleSelected
	if s.finishing || s.rng.IntN(5) == 0 {
		ctx, cancel := s.ctx()
		defer cancel()
		resp, err := s.api.Cancel(ctx, &sockdv1.CancelRequest{SocketId: h.socket, Info: h.info})
		if s.rpc("cancel after select", err) {
			h.fence = s.fence()
			if se := resp.GetError(); se != nil && se.GetKind() != sockdv1.SocketError_KIND_CLOSED && !h.superseded {
				s.t.Errorf("%s: cancel of %s handle %d after its select: %v, want ok", s.name, h.op.name, h.info.GetHandle(), se)
			}
		}
		return
	}
	s.call(h.op, s.nowait(false))
}

// ---------------------------------------------------------------------------
// Async calls.

func (s *stressSession) nowait(completion bool) *sockdv1.Timeout {
	s.nextHandle++
	mode := sockdv1.AsyncMode_ASYNC_MODE_SELECT
	if completion {
		mode = sockdv1.AsyncMode_ASYNC_MODE_COMPLETION
	}
	return &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Handle: s.nextHandle, Mode: mode}}}
}

// randomTimeout is one of the four ways to wait, bounded.
func (s *stressSession) randomTimeout() *sockdv1.Timeout {
	switch s.rng.IntN(6) {
	case 0:
		return millis(0)
	case 5:
		return infinity() // bounded by the call's deadline (see call)
	case 1:
		return millis(int64(1 + s.rng.IntN(30)))
	case 2:
		return s.nowait(true)
	default:
		return s.nowait(false)
	}
}

// call makes op with timeout to and records the handle it may return. An
// infinite wait is bounded by a short deadline, which the daemon turns into
// an in-band timeout.
func (s *stressSession) call(op *asyncCall, to *sockdv1.Timeout) {
	lane := op.socket.id + "/" + op.lane()
	for _, h := range s.handles {
		if h.lane == lane && h.state == handlePending {
			h.superseded = true
		}
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if to.GetInfinity() {
		var cancelShort context.CancelFunc
		ctx, cancelShort = context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancelShort()
	}
	resp, err := op.do(ctx, to)
	s.run.trace(op.socket.id, "%s: %s %v -> %v %v", s.name, op.name, to, resp, err)
	if !s.rpc(op.name, err) {
		s.run.note(op.name + ":" + codeOf(err).String())
		return
	}
	switch {
	case resp.GetAsync() != nil:
		s.run.note(op.name + ":" + resp.GetAsync().GetMode().String())
	case resp.GetError() != nil:
		s.run.note(op.name + ":" + resp.GetError().GetReason())
	default:
		s.run.note(op.name + ":ok")
	}
	s.noteAccepted(op.socket, resp)
	info := resp.GetAsync()
	if info == nil {
		return
	}
	nw := to.GetNowait()
	if nw == nil {
		s.t.Errorf("%s: %s with timeout %v answered async %v", s.name, op.name, to, info)
		return
	}
	if info.GetHandle() != nw.GetHandle() || info.GetMode() != nw.GetMode() {
		s.t.Errorf("%s: %s nowait %v answered async %v", s.name, op.name, nw, info)
	}
	if _, dup := s.handles[info.GetHandle()]; dup {
		s.t.Errorf("%s: %s: handle %d returned twice", s.name, op.name, info.GetHandle())
		return
	}
	s.run.stats.handles.Add(1)
	s.handles[info.GetHandle()] = &stressHandle{info: info, socket: op.socket.id, lane: lane, op: op}
}

// lane names the queue of a socket the operation waits in.
func (op *asyncCall) lane() string {
	switch op.name {
	case "recv", "recvfrom", "recvmsg":
		return "read"
	case "send", "sendto":
		return "write"
	}
	return op.name
}

// fence returns the session's last event sequence.
func (s *stressSession) fence() uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := s.api.CreateSession(ctx, &sockdv1.CreateSessionRequest{Name: s.sessionName, Grace: durationpb.New(time.Minute)})
	if !s.rpc("fence", err) {
		return 0
	}
	if resp.GetSessionId() != s.id || !resp.GetExisting() {
		s.t.Errorf("%s: session %q answered as %v", s.name, s.sessionName, resp)
	}
	s.maxFence = max(s.maxFence, resp.GetLastSequence())
	s.withdrawable += 2 // fence follows each Cancel: its handle's select and final event
	return resp.GetLastSequence()
}

// noteAccepted adds an accepted connection to the pool, and notes a
// successful connect of the socket.
func (s *stressSession) noteAccepted(listener *stressSocket, resp asyncResponse) {
	if a, ok := resp.(*sockdv1.AcceptResponse); ok && a.GetSocketId() != "" {
		s.run.add(&stressSocket{id: a.GetSocketId(), v: listener.v, owner: s.id, connected: true})
		s.run.trace(a.GetSocketId(), "%s: accepted from %s", s.name, listener.id)
	}
	if _, ok := resp.(*sockdv1.ConnectResponse); ok && resp.GetAsync() == nil && resp.GetError() == nil {
		s.run.mu.Lock()
		listener.connected = true
		s.run.mu.Unlock()
	}
}

// cancelRandom cancels a random open handle of the session.
func (s *stressSession) cancelRandom() {
	for _, h := range s.handles {
		if h.state == handlePending {
			s.cancel(h)
			return
		}
	}
}

func (s *stressSession) cancel(h *stressHandle) {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.api.Cancel(ctx, &sockdv1.CancelRequest{SocketId: h.socket, Info: h.info})
	if !s.rpc("cancel", err) {
		h.cancelErr = err
		return
	}
	h.fence = s.fence()
	if h.refused = resp.GetError(); h.refused == nil {
		s.run.stats.cancels.Add(1)
		h.state = handleCancelled
	} else {
		h.state = handleRefused
	}
}

// ---------------------------------------------------------------------------
// Random steps.

func (s *stressSession) own() func(*stressSocket) bool {
	return func(k *stressSocket) bool { return k.owner == s.id }
}

func (s *stressSession) step() {
	s.pump(0, nil)
	r := s.run
	anySocket := func(*stressSocket) bool { return true }
	switch n := s.rng.IntN(100); {
	case n < 12:
		if r.pick(s.rng, s.own()) == nil || s.countOwn() < 8 {
			s.open()
		} else {
			s.closeSocket(r.pick(s.rng, s.own()))
		}
	case n < 20:
		if k := r.pick(s.rng, func(k *stressSocket) bool { return k.addr == nil }); k != nil {
			s.bind(k)
		}
	case n < 25:
		if k := r.pick(s.rng, func(k *stressSocket) bool { return k.v.connectionOriented() && k.addr != nil && !k.listening }); k != nil {
			s.listen(k)
		}
	case n < 35:
		s.connect()
	case n < 43:
		if k := r.pick(s.rng, func(k *stressSocket) bool { return k.listening }); k != nil {
			s.accept(k)
		}
	case n < 58:
		if k := s.pickData(); k != nil {
			s.send(k)
		}
	case n < 73:
		if k := s.pickData(); k != nil {
			s.recv(k)
		}
	case n < 78:
		s.cancelRandom()
	case n < 82:
		if k := r.pick(s.rng, anySocket); k != nil {
			s.closeSocket(k)
		}
	case n < 85:
		if k := r.pick(s.rng, anySocket); k != nil {
			s.shutdown(k)
		}
	case n < 91:
		if k := r.pick(s.rng, anySocket); k != nil {
			s.option(k)
		}
	case n < 96:
		s.monitor()
	default:
		s.detach()
		s.attach()
	}
}

// pickData picks a socket for data calls, mostly a connected one.
func (s *stressSession) pickData() *stressSocket {
	if s.rng.IntN(5) != 0 {
		if k := s.run.pick(s.rng, func(k *stressSocket) bool { return k.connected }); k != nil {
			return k
		}
	}
	return s.run.pick(s.rng, func(*stressSocket) bool { return true })
}

func (s *stressSession) countOwn() int {
	s.run.mu.Lock()
	defer s.run.mu.Unlock()
	n := 0
	for _, k := range s.run.pool {
		if k.owner == s.id {
			n++
		}
	}
	return n
}

var stressVariants = []variant{tcp4, tcp6, tcpL, udp4, udp6, udpL}

func (s *stressSession) open() {
	v := stressVariants[s.rng.IntN(len(stressVariants))]
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.api.Open(ctx, &sockdv1.OpenRequest{Domain: v.domain, Type: v.typ, Protocol: v.proto})
	if s.rpc("open", err) && resp.GetSocketId() != "" {
		s.run.trace(resp.GetSocketId(), "%s: opened %s", s.name, v.name)
		s.run.add(&stressSocket{id: resp.GetSocketId(), v: v, owner: s.id})
	}
}

func (s *stressSession) bind(k *stressSocket) {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.api.Bind(ctx, &sockdv1.BindRequest{SocketId: k.id, Address: k.v.loopback(s.t)})
	s.run.trace(k.id, "%s: bind -> %v %v", s.name, resp, err)
	if !s.rpc("bind", err) || resp.GetError() != nil {
		return
	}
	name, err := s.api.SockName(ctx, &sockdv1.SockNameRequest{SocketId: k.id})
	if s.rpc("sockname", err) && name.GetError() == nil {
		s.run.mu.Lock()
		k.addr = name.GetAddress()
		s.run.mu.Unlock()
	}
}

func (s *stressSession) listen(k *stressSocket) {
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.api.Listen(ctx, &sockdv1.ListenRequest{SocketId: k.id})
	s.run.trace(k.id, "%s: listen -> %v %v", s.name, resp, err)
	if s.rpc("listen", err) && resp.GetError() == nil {
		s.run.mu.Lock()
		k.listening = true
		s.run.mu.Unlock()
	}
}

// connect connects a socket to a listener (stream) or a bound socket (dgram)
// of the same kind.
func (s *stressSession) connect() {
	k := s.run.pick(s.rng, func(k *stressSocket) bool { return !k.listening })
	if k == nil {
		return
	}
	peer := s.run.pick(s.rng, func(p *stressSocket) bool {
		return p.v == k.v && p.addr != nil && (p.listening || !k.v.connectionOriented())
	})
	if peer == nil {
		return
	}
	s.run.mu.Lock()
	addr := peer.addr
	s.run.mu.Unlock()
	op := &asyncCall{name: "connect", socket: k, do: func(ctx context.Context, to *sockdv1.Timeout) (asyncResponse, error) {
		return s.api.Connect(ctx, &sockdv1.ConnectRequest{SocketId: k.id, Address: addr, Timeout: to})
	}}
	s.call(op, s.randomTimeout())
}

func (s *stressSession) accept(k *stressSocket) {
	op := &asyncCall{name: "accept", socket: k, do: func(ctx context.Context, to *sockdv1.Timeout) (asyncResponse, error) {
		return s.api.Accept(ctx, &sockdv1.AcceptRequest{SocketId: k.id, Timeout: to})
	}}
	s.call(op, s.randomTimeout())
}

func (s *stressSession) send(k *stressSocket) {
	data := payload("stress", s.rng.IntN(3000))
	if s.rng.IntN(10) == 0 {
		data = nil
	}
	var op *asyncCall
	if dest := s.run.pick(s.rng, func(p *stressSocket) bool { return p.v == k.v && p.addr != nil && !p.listening }); dest != nil && !k.v.connectionOriented() && s.rng.IntN(2) == 0 {
		s.run.mu.Lock()
		addr := dest.addr
		s.run.mu.Unlock()
		op = &asyncCall{name: "sendto", socket: k, do: func(ctx context.Context, to *sockdv1.Timeout) (asyncResponse, error) {
			return s.api.SendTo(ctx, &sockdv1.SendToRequest{SocketId: k.id, Data: data, Address: addr, Timeout: to})
		}}
	} else {
		op = &asyncCall{name: "send", socket: k, do: func(ctx context.Context, to *sockdv1.Timeout) (asyncResponse, error) {
			return s.api.Send(ctx, &sockdv1.SendRequest{SocketId: k.id, Data: data, Timeout: to})
		}}
	}
	s.call(op, s.randomTimeout())
}

func (s *stressSession) recv(k *stressSocket) {
	size := int64(s.rng.IntN(3000))
	var op *asyncCall
	switch s.rng.IntN(3) {
	case 0:
		op = &asyncCall{name: "recv", socket: k, do: func(ctx context.Context, to *sockdv1.Timeout) (asyncResponse, error) {
			return s.api.Recv(ctx, &sockdv1.RecvRequest{SocketId: k.id, Length: size, Timeout: to})
		}}
	case 1:
		op = &asyncCall{name: "recvfrom", socket: k, do: func(ctx context.Context, to *sockdv1.Timeout) (asyncResponse, error) {
			return s.api.RecvFrom(ctx, &sockdv1.RecvFromRequest{SocketId: k.id, BufferSize: size, Timeout: to})
		}}
	default:
		op = &asyncCall{name: "recvmsg", socket: k, do: func(ctx context.Context, to *sockdv1.Timeout) (asyncResponse, error) {
			return s.api.RecvMsg(ctx, &sockdv1.RecvMsgRequest{SocketId: k.id, BufferSize: size, Timeout: to})
		}}
	}
	s.call(op, s.randomTimeout())
}

func (s *stressSession) closeSocket(k *stressSocket) {
	if k == nil {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	resp, err := s.api.Close(ctx, &sockdv1.CloseRequest{SocketId: k.id})
	s.run.trace(k.id, "%s: close -> %v %v", s.name, resp, err)
	s.rpc("close", err)
	s.run.remove(func(p *stressSocket) bool { return p == k })
}

func (s *stressSession) shutdown(k *stressSocket) {
	ctx, cancel := s.ctx()
	defer cancel()
	how := sockdv1.ShutdownHow(1 + s.rng.IntN(3))
	resp, err := s.api.Shutdown(ctx, &sockdv1.ShutdownRequest{SocketId: k.id, How: how})
	s.run.trace(k.id, "%s: shutdown %v -> %v %v", s.name, how, resp, err)
	s.rpc("shutdown", err)
}

func (s *stressSession) option(k *stressSocket) {
	type opt struct {
		name  string
		value *sockdv1.OptionValue
	}
	opts := []opt{
		{"reuseaddr", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: s.rng.IntN(2) == 0}}},
		{"keepalive", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: s.rng.IntN(2) == 0}}},
		{"rcvbuf", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: int64(1024 + s.rng.IntN(65536))}}},
		{"sndbuf", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: int64(1024 + s.rng.IntN(65536))}}},
		{"linger", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Linger{Linger: &sockdv1.Linger{Onoff: s.rng.IntN(2) == 0, Linger: 1}}}},
	}
	o := opts[s.rng.IntN(len(opts))]
	key := &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, Name: o.name}
	ctx, cancel := s.ctx()
	defer cancel()
	if s.rng.IntN(2) == 0 {
		resp, err := s.api.SetOpt(ctx, &sockdv1.SetOptRequest{SocketId: k.id, Key: key, Value: o.value})
		s.run.trace(k.id, "%s: setopt %s %v -> %v %v", s.name, o.name, o.value, resp, err)
		s.rpc("setopt "+o.name, err)
	} else {
		_, err := s.api.GetOpt(ctx, &sockdv1.GetOptRequest{SocketId: k.id, Key: key})
		s.rpc("getopt "+o.name, err)
	}
}

// monitor monitors a random socket, or cancels one of the session's monitors.
func (s *stressSession) monitor() {
	ctx, cancel := s.ctx()
	defer cancel()
	for id, removed := range s.monitors {
		if !removed && s.rng.IntN(2) == 0 {
			resp, err := s.api.CancelMonitor(ctx, &sockdv1.CancelMonitorRequest{MonitorId: id})
			if s.rpc("cancel monitor", err) && resp.GetRemoved() {
				s.monitors[id] = true
			}
			return
		}
	}
	k := s.run.pick(s.rng, func(*stressSocket) bool { return true })
	if k == nil {
		return
	}
	resp, err := s.api.Monitor(ctx, &sockdv1.MonitorRequest{SocketId: k.id})
	if s.rpc("monitor", err) {
		s.monitors[resp.GetMonitorId()] = false
	}
}

// ---------------------------------------------------------------------------
// Ends of sessions.

// finish ends the session cleanly: every handle still open is cancelled or
// must end with an event, then the session is closed.
func (s *stressSession) finish() {
	s.finishing = true
	s.pump(0, nil)
	for _, h := range s.handles {
		if h.state == handlePending {
			s.cancel(h)
		}
	}
	open := func() bool {
		for _, h := range s.handles {
			if h.state == handlePending && !h.superseded {
				return false
			}
		}
		return true
	}
	s.pump(eventWait, open)
	for _, h := range s.handles {
		if h.state == handlePending && !h.superseded {
			s.t.Errorf("%s: %s handle %d (%v) on %s never ended: no event, cancel answered %v, %v; the socket's history:\n\t%s",
				s.name, h.op.name, h.info.GetHandle(), h.info.GetMode(), h.socket, h.refused, h.cancelErr,
				strings.Join(s.run.history(h.socket), "\n\t"))
		}
	}
	s.closeSession()
}

// closeAbruptly closes the session while one of its calls waits in the daemon.
func (s *stressSession) closeAbruptly() {
	k := s.run.pick(s.rng, s.own())
	var waiting <-chan error
	if k != nil {
		ctx, cancel := s.ctx()
		waiting = goCall(func() error {
			defer cancel()
			_, err := s.api.Recv(ctx, &sockdv1.RecvRequest{SocketId: k.id, Timeout: millis(300)})
			return err
		})
		time.Sleep(time.Duration(s.rng.IntN(20)) * time.Millisecond)
	}
	if k != nil {
		s.run.trace(k.id, "%s: closing the session during a blocking recv", s.name)
	}
	s.closeSession()
	if waiting != nil {
		select {
		case err := <-waiting:
			s.run.trace(k.id, "%s: blocking recv during session close -> %v", s.name, err)
			s.rpc("recv during session close", err)
		case <-time.After(callTimeout):
			s.t.Errorf("%s: recv did not return after its session closed", s.name)
		}
	}
}

func (s *stressSession) closeSession() {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	s.closing.Store(true)
	_, err := s.api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: s.id})
	for _, k := range s.run.all(s.own()) {
		s.run.trace(k.id, "%s: session closed", s.name)
	}
	s.rpc("close session", err)
	s.run.remove(s.own())
	// The stream ends with the session; what it still delivers must obey
	// the same rules.
	timer := time.NewTimer(eventWait)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.streamCancel()
				s.conn.Close()
				return
			}
			s.handle(ev)
		case <-timer.C:
			s.t.Errorf("%s: event stream did not end after CloseSession", s.name)
			s.detach()
			s.conn.Close()
			return
		}
	}
}
