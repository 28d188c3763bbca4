package engine

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Epoll interest: everything, edge-triggered, registered once per fd.
const (
	epollInterest = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	readEdges     = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLPRI | unix.EPOLLHUP | unix.EPOLLERR
	writeEdges    = unix.EPOLLOUT | unix.EPOLLHUP | unix.EPOLLERR
)

// wakeToken marks the loop's own eventfd; socket tokens are never 0
// because generations start at 1.
const wakeToken = 0

// A loop waits on one epoll instance and turns edges into lane progress.
type loop struct {
	epfd   int
	file   *os.File        // owns epfd: closing it closes the set
	poller syscall.RawConn // waits, in the runtime's poller, for the set to be ready
	wakefd int             // eventfd: written to stop the loop
	slots  *slots
	log    *slog.Logger

	// harvests counts the epoll_wait calls that returned events; every edge carries
	// the count of the harvest it came from (see side.emptyAt).
	harvests atomic.Uint64

	stopping atomic.Bool
	done     chan struct{}
}

func newLoop(sl *slots, log *slog.Logger) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setToken(&ev, wakeToken)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, err
	}
	// Nonblocking, so that os.NewFile hands the fd to the runtime's poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, err
	}
	file := os.NewFile(uintptr(epfd), "engine-epoll")
	poller, err := file.SyscallConn()
	if err == nil && file.SetReadDeadline(time.Time{}) == os.ErrNoDeadline {
		// os.NewFile fell back to blocking use: the loop could never park.
		err = errors.New("engine: the runtime's poller refused the epoll fd")
	}
	if err != nil {
		unix.Close(wakefd)
		file.Close()
		return nil, err
	}
	l := &loop{epfd: epfd, file: file, poller: poller, wakefd: wakefd, slots: sl, log: log, done: make(chan struct{})}
	go l.run()
	return l, nil
}

// The 64 bits of epoll data hold the token: Fd and Pad on every Linux ABI.
func setToken(ev *unix.EpollEvent, tok uint64) {
	ev.Fd = int32(uint32(tok))
	ev.Pad = int32(uint32(tok >> 32))
}

func tokenOf(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// run harvests the epoll set until stop. It never blocks a thread: when the
// set has nothing, it parks in the runtime's poller, which watches the epoll
// fd itself (an epoll fd is readable while its set holds ready events).
func (l *loop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, 256)
	var failed error
	err := l.poller.Read(func(uintptr) bool {
		for !l.stopping.Load() {
			n, err := unix.EpollWait(l.epfd, events, 0)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				failed = err
				return true
			case n == 0:
				return false // park in the runtime's poller until the set is ready
			}
			l.dispatch(events[:n])
		}
		return true
	})
	if err == nil {
		err = failed
	}
	if err != nil {
		l.log.Error("engine: epoll_wait failed; loop stops", "err", err)
	}
}

// dispatch turns one harvest's events into lane progress.
func (l *loop) dispatch(events []unix.EpollEvent) {
	harvest := l.harvests.Add(1)
	for i := range events {
		ev := &events[i]
		tok := tokenOf(ev)
		if tok == wakeToken {
			var buf [8]byte
			unix.Read(l.wakefd, buf[:])
			continue
		}
		// A stale token (the socket closed, its slot reused) finds no
		// socket or another generation, and is dropped.
		if s := l.slots.lookup(tok); s != nil {
			s.onEdges(ev.Events, harvest)
		}
	}
}

// stop ends the loop and closes its descriptors.
func (l *loop) stop() {
	l.stopping.Store(true)
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(l.wakefd, one[:])
	<-l.done
	l.file.Close()
	unix.Close(l.wakefd)
}

func (l *loop) add(fd int, tok uint64) error {
	ev := unix.EpollEvent{Events: epollInterest}
	setToken(&ev, tok)
	return unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}

func (l *loop) remove(fd int) {
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// watch puts the fd in its loop's epoll set the first time a requestor must
// wait for an edge. Until then a socket costs epoll nothing, and sockets whose
// operations all complete at once (open/close churn, reads of data already
// there) never register or wake a loop. Registering late loses nothing: an
// edge-triggered ADD of a ready fd reports it at once, and that report is
// harvested after the syscall that found the side empty. Called with a side
// lock held, so the socket is open and its fd valid. An error (ENOMEM,
// fs.epoll.max_user_watches) means no edge will ever come: the requestor
// that would wait is answered with it instead.
func (s *Socket) watch() error {
	if s.watching.Load() {
		return nil
	}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watching.Load() {
		return nil
	}
	if err := s.loop.add(s.fd, s.token); err != nil {
		s.e.cfg.Logger.Error("engine: epoll registration failed", "socket", s.id, "err", err)
		return err
	}
	s.watching.Store(true)
	return nil
}

// onEdges records an edge on each side it concerns.
func (s *Socket) onEdges(events uint32, harvest uint64) {
	if events&readEdges != 0 {
		s.edge(&s.rd, harvest, events)
	}
	if events&writeEdges != 0 {
		s.edge(&s.wr, harvest, events)
	}
}

// edge marks sd ready and lets its lanes proceed, unless the edge was
// harvested before a syscall found the side empty: then it describes a past
// the syscall already saw, and acting on it would only send a spurious
// select (typically the edge every fresh socket reports at registration).
func (s *Socket) edge(sd *side, harvest uint64, events uint32) {
	var out outbox
	sd.mu.Lock()
	if !s.closed.Load() && harvest > sd.emptyAt && !s.pacedWriter(sd) && !s.noNews(sd, events) {
		sd.ready, sd.peeked = true, 0
		for _, l := range sd.lanes {
			s.advance(sd, l, &out)
		}
	}
	sd.mu.Unlock()
	out.flush(s)
}

// A local datagram socket that sends to an address (sendto, sendmsg with
// one) finds the receiver's queue full with EAGAIN, and has no edge to wait
// for: the kernel frees the datagram it had charged to the sender within
// the failed call, which reports room to write, and keeps reporting it
// (poll of an unconnected socket does not look at any receiver). Waiting for
// an edge then retried at once, forever, a core's worth of syscalls for as
// long as the receiver stayed full. Such a send waits for a timer instead,
// backing off from minPace to maxPace while it keeps finding the receiver
// full; a blocking send(2) would sleep on the receiver's queue, which only
// the sending thread can do.
var (
	minPace = time.Millisecond      // a test may set it
	maxPace = 64 * time.Millisecond // a test may set it
)

// pace makes sd, just found full by a send that cannot wait for an edge,
// ready again after its backoff; sd.mu is held.
func (s *Socket) pace(sd *side) {
	if sd.paced {
		return
	}
	sd.paced = true
	sd.backoff = min(max(2*sd.backoff, minPace), maxPace)
	time.AfterFunc(sd.backoff, func() {
		var out outbox
		sd.mu.Lock()
		sd.paced = false
		if !s.closed.Load() {
			sd.ready, sd.peeked = true, 0
			for _, l := range sd.lanes {
				s.advance(sd, l, &out)
			}
		}
		sd.mu.Unlock()
		out.flush(s)
	})
}

// pacedWriter reports, with sd locked, an edge the current writer waits
// for a timer instead of (pace): a send to an address on a paced side.
// Another writer (a send to the connected peer, after the paced one
// timed out) takes its edges as ever.
func (s *Socket) pacedWriter(sd *side) bool {
	return sd.paced && sd == &s.wr && s.writers.current != nil && s.writers.current.addressed
}

// noNews reports, with sd locked and the socket open, a read edge that
// brings a peek waiting for more nothing it has not seen: epoll reports a
// socket's whole readiness at each wakeup, so one for room to write (a
// local peer reading what this socket sent) also reports the bytes the peek
// looked at, and would wake it, or send its caller a select, for nothing.
func (s *Socket) noNews(sd *side, events uint32) bool {
	if sd != &s.rd || sd.peeked == 0 || events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLPRI) != 0 {
		return false
	}
	n, err := unix.IoctlGetInt(s.fd, unix.SIOCINQ)
	return err == nil && n <= sd.peeked
}

// harvest is the loop's harvest count, read before a syscall whose EAGAIN
// may mark a side empty.
func (s *Socket) harvest() uint64 { return s.loop.harvests.Load() }

// slots maps epoll tokens to sockets without a lock on the lookup path.
// A token is a slot index (low 32 bits) and the slot's generation at
// allocation (high 32 bits), so an event for a closed socket's token never
// reaches the socket that reuses its slot.
type slots struct {
	mu     sync.Mutex
	free   []uint32
	next   uint32   // slots below next have been used
	gens   []uint32 // generation per used slot
	chunks []atomic.Pointer[slotChunk]
}

const slotChunkSize = 1024

type slotChunk [slotChunkSize]atomic.Pointer[Socket]

func newSlots(max int) *slots {
	return &slots{chunks: make([]atomic.Pointer[slotChunk], (max+slotChunkSize-1)/slotChunkSize)}
}

// alloc gives s a slot and sets s.token; false when all are in use.
func (t *slots) alloc(s *Socket) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	var idx uint32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if int(t.next) >= len(t.chunks)*slotChunkSize {
			return false
		}
		idx = t.next
		t.next++
		t.gens = append(t.gens, 0)
		if idx%slotChunkSize == 0 {
			t.chunks[idx/slotChunkSize].Store(new(slotChunk))
		}
	}
	t.gens[idx]++
	if t.gens[idx] == 0 {
		t.gens[idx] = 1
	}
	s.token = uint64(t.gens[idx])<<32 | uint64(idx)
	t.chunks[idx/slotChunkSize].Load()[idx%slotChunkSize].Store(s)
	return true
}

func (t *slots) release(tok uint64) {
	idx := uint32(tok)
	t.mu.Lock()
	t.chunks[idx/slotChunkSize].Load()[idx%slotChunkSize].Store(nil)
	t.free = append(t.free, idx)
	t.mu.Unlock()
}

func (t *slots) lookup(tok uint64) *Socket {
	idx := uint32(tok)
	ci := int(idx / slotChunkSize)
	if ci >= len(t.chunks) {
		return nil
	}
	chunk := t.chunks[ci].Load()
	if chunk == nil {
		return nil
	}
	s := chunk[idx%slotChunkSize].Load()
	if s == nil || s.token != tok {
		return nil
	}
	return s
}
