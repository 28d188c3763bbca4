package inflight

import (
	"encoding/binary"
	"net"
	"sync"

	"google.golang.org/grpc/mem"
)

// HTTP/2's frames, as far as Conn follows them (RFC 9113 §4, §6).
const (
	clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	headerLen     = 9

	frameData         = 0x0
	frameHeaders      = 0x1
	frameReset        = 0x3
	frameSettings     = 0x4
	frameWindowUpdate = 0x8

	settingMaxConcurrentStreams = 0x3
	settingLen                  = 6

	flagEndStream = 0x1
	flagAck       = 0x1
	flagPadded    = 0x8
)

// grpcPrefixLen is the length of the prefix of each gRPC message: a flag
// byte and the message's length.
const grpcPrefixLen = 5

// Conn is a server connection whose unfinished gRPC messages are charged to
// budgets; see the package doc. Read and Write are each called by one
// goroutine at a time, as gRPC does.
type Conn struct {
	net.Conn
	cfg Config

	in  frameScanner // Read's
	out frameScanner // Write's

	// Read's buffer (Config.ReadBuffer): bytes read from the connection
	// and not yet handed to gRPC, with the error that ended the last fill.
	// From readBuffers while it holds bytes when the connection reads on
	// ready (readyReader), else its own.
	buf     *[]byte
	pooled  bool
	bufR    int
	bufW    int
	fillErr error

	mu sync.Mutex
	// streams are the client's streams the daemon has not ended yet (its
	// trailers or a reset) nor the client reset: open ones, on the wire.
	streams map[uint32]*stream
	lastID  uint32 // the client's last new stream
	// maxStreams is the daemon's MAX_CONCURRENT_STREAMS, from its
	// SETTINGS; 0 until they are written.
	maxStreams uint32
	closed     bool // by Close: nothing more is charged

	// The payload of the daemon's frame being written, as far as Write's
	// frames need it: a WINDOW_UPDATE's increment, a SETTINGS entry.
	word  [settingLen]byte
	wordN int

	readErr error // Read's: what closed the connection, for every later Read
}

// stream is a client stream's messages so far. Its first message stays
// charged until the stream ends: gRPC runs a unary call only once the
// client ends its side, and holds the request whole until then.
type stream struct {
	open     int64 // StreamCost, while the stream is open
	prefix   [grpcPrefixLen]byte
	prefixN  int    // bytes of the message's prefix seen; 0 between messages
	left     uint32 // bytes of the message still to come, once its prefix is seen
	finished int    // messages finished
	first    bool   // the frame being read carries bytes of the first message
	held     int64  // charged for the frames of the first message, until the stream ends
	charged  int64  // charged for the frames of a later message, until it is finished
	// padded is charged for padded frames until the daemon ends the
	// stream: a client's end of its side does not make a handler read
	// what it has not read yet.
	padded int64
	ended  bool // by the client: its data is neither followed nor charged
	// compressed: a message of the stream came compressed, so what its
	// handler says it read is not what it took on the wire (Stream.Read).
	compressed bool

	// Whole later messages stay in gRPC's buffers until a handler reads
	// them: a Pipe whose socket does not take its data reads nothing, and
	// its stream's window of whole messages, in small frames, cost gRPC
	// twenty times their bytes. What the handler reads the daemon gives
	// back to the stream's window, so its WINDOW_UPDATEs say how far the
	// stream has been read (a quarter of the window late at most, and
	// sometimes ahead, when gRPC opens the window for a large message it
	// has begun to read). unread is charged for the frames of whole later
	// messages (runs) in the stream's flow-controlled bytes, and given back
	// as announced passes them.
	received uint64 // flow-controlled bytes of the stream's DATA frames
	// announced is the daemon's WINDOW_UPDATE increments for the stream:
	// how far into its flow-controlled bytes the daemon has read. They lag
	// its handler's reads by up to a quarter of the stream's window (gRPC
	// gives a stream's window back once that much is owed), for good when
	// the stream then idles: an idle pipe that read all its small messages
	// stayed charged for up to a quarter window's worth of them (1.1 MB for
	// 1-byte writes, 210 KB for 32-byte ones, 80 of which idle closed their
	// client's connection under a 16 MiB bound). Taking the lag as read
	// instead let stalled streams hold as much uncounted (a reviewer's 200
	// pipes: 71 MB past a 16 MiB bound), which a client chooses. So a
	// handler that reads a stream's messages says so (Stream.Read), which
	// consumed counts.
	announced uint64
	// consumed is the flow-controlled bytes of the messages the stream's
	// handler said it has read (Stream.Read): how far it has read, at
	// least, the padding of frames aside.
	consumed uint64
	// padding is the padding of the stream's frames so far, with their pad
	// length bytes: gRPC gives it back to the window as each frame arrives.
	padding uint64
	// runs are the unread frames, with what they cost one by one
	// (FrameCost); unread is what is charged for them: no more than gRPC's
	// compaction of the stream's queue lets them hold (queueBound).
	runs   []unreadRun
	unread int64
	// chargedFrom is where the frames charged to the unfinished later
	// message begin.
	chargedFrom uint64
}

// Config is what a Conn charges, and whom it tells.
type Config struct {
	// ReadBuffer, if positive, is the size of Read's buffer: Conn then
	// reads from the connection in ReadBuffer chunks (gRPC reading
	// unbuffered, grpc.ReadBufferSize(0)). Otherwise Conn reads only what
	// each Read asks for, from a connection that buffers what it reads
	// itself (TLS) or unbuffered. Either way it follows the bytes as it
	// hands them over.
	ReadBuffer int
	// Budgets are charged every unfinished message's frames: the client's
	// and the daemon's, say.
	Budgets []*Budget
	// StreamBudgets are charged StreamCost for each open stream, from its
	// HEADERS until it ends on the wire, without a look at their limits:
	// the server refuses a stream past one itself (a tap at its HEADERS,
	// which Conn has charged before gRPC sees them), the stream alone.
	StreamBudgets []*Budget
	// Refused, if set, is called once, with why the connection is closed
	// (an *ExceededError or a *StreamsError), before it closes.
	Refused func(error)
	// Closed, if set, is called once the connection has closed and given
	// back what it held.
	Closed func()
}

// Wrap returns c, a server connection before any of its bytes are read,
// with its unfinished messages charged as cfg says.
func Wrap(c net.Conn, cfg Config) *Conn {
	return &Conn{Conn: c, cfg: cfg, streams: map[uint32]*stream{}, in: frameScanner{preface: len(clientPreface)}}
}

// Read reads from the connection and follows the frames it hands over. A
// frame that would pass a budget closes the connection before gRPC sees it.
func (c *Conn) Read(p []byte) (int, error) {
	if c.readErr != nil {
		return 0, c.readErr
	}
	n, err := c.fill(p)
	if n > 0 {
		c.mu.Lock()
		c.readErr = c.in.scan(p[:n], c.received)
		c.mu.Unlock()
		if c.readErr != nil {
			if c.cfg.Refused != nil {
				c.cfg.Refused(c.readErr)
			}
			c.Close()
			return 0, c.readErr
		}
	}
	return n, err
}

// readyReader is a connection that takes a buffer to read into only once
// it has bytes (gRPC's readyreader.Reader, which it asks of connections it
// does not know, and which the daemon's connections are): an idle
// connection then holds none. gRPC's own buffer of a Conn, which is not
// one, held 128 KiB a connection for its life.
type readyReader interface {
	ReadOnReady(bufSize int, pool mem.BufferPool) (*[]byte, int, error)
}

// fill puts the next bytes of the connection in p: from Read's buffer, or
// straight from the connection when p is at least as large (as bufio
// does) or there is no buffer.
func (c *Conn) fill(p []byte) (int, error) {
	if c.bufR == c.bufW {
		if err := c.fillErr; err != nil {
			c.fillErr = nil
			return 0, err
		}
		if len(p) >= c.cfg.ReadBuffer {
			return c.Conn.Read(p)
		}
		var n int
		var err error
		if rr, ok := c.Conn.(readyReader); ok {
			c.buf, n, err = rr.ReadOnReady(c.cfg.ReadBuffer, &readBuffers)
			c.pooled = c.buf != nil
		} else {
			if c.buf == nil {
				buf := make([]byte, c.cfg.ReadBuffer)
				c.buf = &buf
			}
			n, err = c.Conn.Read(*c.buf)
		}
		c.bufR, c.bufW, c.fillErr = 0, n, err
		if n == 0 {
			c.fillErr = nil
			c.release()
			return 0, err
		}
	}
	n := copy(p, (*c.buf)[c.bufR:c.bufW])
	if c.bufR += n; c.bufR == c.bufW {
		c.release()
	}
	return n, nil
}

// release gives Read's buffer back to its pool once it holds nothing.
func (c *Conn) release() {
	if c.pooled {
		readBuffers.Put(c.buf)
		c.buf, c.pooled = nil, false
	}
}

// readBuffers is the pool of Conns' read buffers: a read buffer's bytes are
// only ever read once the connection has written them.
var readBuffers UnclearedPool

// UnclearedPool is a mem.BufferPool of buffers of one size, for buffers a
// read fills before anything reads them: unlike gRPC's pools it does not
// clear them. A buffer asked for larger than one put back is made anew.
type UnclearedPool struct{ pool sync.Pool }

// Get implements mem.BufferPool.
func (p *UnclearedPool) Get(size int) *[]byte {
	if b, _ := p.pool.Get().(*[]byte); b != nil && cap(*b) >= size {
		*b = (*b)[:size]
		return b
	}
	b := make([]byte, size)
	return &b
}

// Put implements mem.BufferPool.
func (p *UnclearedPool) Put(b *[]byte) { p.pool.Put(b) }

// Write follows the frames it writes, then writes them: a stream the
// daemon ends gives its charge back. Followed first, as the client may
// answer them before a scan after the write would run: a client that saw a
// stream's end and opened another was counted past its limit (a reviewer's
// grpc-go client, 90 calls at a time under a limit of 100).
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.out.scan(p, c.sent)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// Close closes the connection and gives back everything it held.
func (c *Conn) Close() error {
	c.mu.Lock()
	first := !c.closed
	if first {
		c.closed = true
		for id := range c.streams {
			c.end(id)
		}
	}
	c.mu.Unlock()
	err := c.Conn.Close()
	if first && c.cfg.Closed != nil {
		c.cfg.Closed()
	}
	return err
}

// Held is what the connection's unfinished messages hold now.
func (c *Conn) Held() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var held int64
	for _, st := range c.streams {
		held += st.open + st.held + st.charged + st.padded + st.unread
	}
	return held
}

// received follows a frame from the client: data of a frame, or its end.
func (c *Conn) received(f *frameScanner, data []byte, end bool) error {
	switch f.typ {
	case frameHeaders:
		if !end || c.closed {
			return nil
		}
		if f.stream > c.lastID && f.stream%2 == 1 {
			// A new stream (so the one LastOpened says, once gRPC has its
			// headers whole). gRPC ends a stream in its handler's goroutine,
			// so that an answer still waiting for the client's window no
			// longer counts among its concurrent streams: a client that
			// read no answers made the daemon hold all of them, 1.5 GB
			// for 300 Recv calls. They stay open on the wire, where the
			// client must count them.
			c.lastID = f.stream
			if limit := max(c.maxStreams, minStreams); uint32(len(c.streams)) >= limit {
				return &StreamsError{Limit: limit}
			}
			st := &stream{}
			c.streams[f.stream] = st
			if len(c.cfg.StreamBudgets) > 0 {
				for _, b := range c.cfg.StreamBudgets {
					// Refused, if at all, by the server: the stream alone.
					b.addUsed(StreamCost)
				}
				st.open = StreamCost
			}
		}
		if f.flags&flagEndStream != 0 {
			c.endOfClient(f.stream)
		}
	case frameReset:
		if end {
			c.end(f.stream)
		}
	case frameSettings, frameWindowUpdate:
		// The client's: nothing of them is charged.
	case frameData:
		st := c.streams[f.stream]
		if st == nil || st.ended {
			return nil // not open: gRPC drops it
		}
		if len(data) > 0 {
			st.first = st.first || st.finished == 0
			if before := st.finished; st.follow(data) > before && st.finished > 1 && st.charged > 0 {
				// A later message is finished: its frames before this
				// one stay charged until it is read.
				charged := st.charged
				st.charged = 0
				if err := c.addUnread(st, charged, charged, st.chargedFrom, st.received); err != nil {
					return err
				}
			}
		}
		if !end {
			return nil
		}
		start := st.received
		st.received += uint64(f.length)
		if f.flags&flagPadded != 0 {
			// gRPC's clients never pad; padding is given back to the
			// window at once, yet stays in the frame's buffer, so that
			// whole messages a handler has not read yet could come
			// padded several times over, uncharged.
			st.first = false
			st.padding += uint64(1 + f.padding)
			if err := c.charge(&st.padded, FrameCost(f.length)); err != nil {
				return err
			}
		}
		// The frame that ends the client's side is charged as any other:
		// gRPC keeps its later messages until the handler reads them (a
		// reviewer's whole message on it went uncharged, where the same
		// message before an empty END_STREAM frame was charged). Only the
		// first message's hold ends with it: the handler runs then.
		endsClient := f.flags&flagEndStream != 0
		var err error
		switch {
		case f.flags&flagPadded != 0:
		case f.length == 0: // gRPC keeps nothing of an empty frame
		case st.first:
			st.first = false
			if !endsClient {
				err = c.charge(&st.held, FrameCost(f.length))
			}
		case st.prefixN > 0:
			if st.charged == 0 {
				st.chargedFrom = start
			}
			err = c.charge(&st.charged, FrameCost(f.length))
		case f.length > 0: // the frame ends with a whole message
			err = c.addUnread(st, FrameCost(f.length), 0, start, st.received)
		}
		if endsClient {
			c.endOfClient(f.stream)
		}
		return err
	}
	return nil
}

// sent follows a frame the daemon sent: its trailers or a reset end a
// stream, its WINDOW_UPDATEs say how much of it has been read, its SETTINGS
// how many streams a client may have open.
func (c *Conn) sent(f *frameScanner, payload []byte, end bool) error {
	switch {
	case f.typ == frameSettings && f.flags&flagAck == 0:
		for len(payload) > 0 {
			var whole bool
			if payload, whole = gather(c.word[:settingLen], &c.wordN, payload); whole {
				c.wordN = 0
				if binary.BigEndian.Uint16(c.word[:2]) == settingMaxConcurrentStreams {
					c.maxStreams = binary.BigEndian.Uint32(c.word[2:])
				}
			}
		}
	case f.typ == frameWindowUpdate && !end:
		gather(c.word[:4], &c.wordN, payload)
	case !end:
	case f.typ == frameHeaders && f.flags&flagEndStream != 0, f.typ == frameReset:
		c.end(f.stream)
	case f.typ == frameWindowUpdate:
		if st := c.streams[f.stream]; st != nil && f.length == 4 && c.wordN == 4 {
			c.announce(st, binary.BigEndian.Uint32(c.word[:4])&0x7fffffff)
		}
	}
	if end {
		c.wordN = 0
	}
	return nil
}

// follow reads a stream's data, message after message, and returns how
// many messages the stream has finished.
func (st *stream) follow(data []byte) int {
	for len(data) > 0 {
		if st.prefixN < grpcPrefixLen {
			var whole bool
			if data, whole = gather(st.prefix[:], &st.prefixN, data); !whole {
				break
			}
			st.left = binary.BigEndian.Uint32(st.prefix[1:])
			st.compressed = st.compressed || st.prefix[0] != 0
		} else {
			n := uint32(min(uint64(st.left), uint64(len(data))))
			st.left -= n
			data = data[n:]
		}
		if st.left == 0 {
			st.prefixN = 0
			st.finished++
		}
	}
	return st.finished
}

// charge charges cost to one of a stream's charges, or refuses it for the
// first budget it would pass.
func (c *Conn) charge(into *int64, cost int64) error {
	if c.closed {
		return nil
	}
	for i, b := range c.cfg.Budgets {
		if !b.take(cost) {
			for _, taken := range c.cfg.Budgets[:i] {
				taken.give(cost)
			}
			return &ExceededError{Budget: b.name, Limit: b.limit}
		}
	}
	*into += cost
	return nil
}

// read is how far into its flow-controlled bytes the daemon has read the
// stream, at least: what its handler said it read, or what its
// WINDOW_UPDATEs gave back less the padding of the frames so far, which
// gRPC gives back as a frame arrives (a reviewer's padded frames made
// stalled pipes' unread messages look read).
func (st *stream) read() uint64 {
	return max(st.consumed, st.announced-min(st.announced, st.padding))
}

// unreadRun is a run of a stream's unread frames of about the same cost a
// byte: from..to in its flow-controlled bytes, what its frames cost one by
// one, and the least cost a byte among them, at which a read of part of the
// run gives its charge back, so that what stays charged is never below what
// the frames left cost (a reviewer's large frames read ahead of small ones
// gave back, in proportion to their bytes, three quarters of the charge
// while the costly small ones stayed).
type unreadRun struct {
	from, to uint64
	cost     int64
	rate     float64
}

// maxUnreadRuns bounds a stream's runs; past it, frames join the last run,
// at the lower of the two rates.
const maxUnreadRuns = 8

// addRun adds frames from..to of cost to the stream's unread runs.
func (st *stream) addRun(from, to uint64, cost int64) {
	rate := float64(cost) / float64(max(to-from, 1))
	if n := len(st.runs); n > 0 {
		last := &st.runs[n-1]
		similar := rate >= last.rate*7/8 && rate <= last.rate*9/8
		if n == maxUnreadRuns || similar && last.to == from {
			if last.to != from {
				// Bytes between that are not the run's (a padded frame's):
				// reading them gives nothing back, so the run gives back
				// only once passed whole.
				rate = 0
			}
			last.to = max(last.to, to)
			last.cost += cost
			last.rate = min(last.rate, rate)
			return
		}
	}
	st.runs = append(st.runs, unreadRun{from: from, to: to, cost: cost, rate: rate})
}

// unreadCost is what the unread frames cost one by one, and their bytes.
func (st *stream) unreadCost() (cost int64, bytes uint64) {
	for _, r := range st.runs {
		cost += r.cost
		bytes += r.to - r.from
	}
	return cost, bytes
}

// addUnread charges cost for frames of whole messages, from..to in the
// stream's flow-controlled bytes, until the daemon has read them; taken is
// what of it the frames were charged already (their unfinished message's
// charge). What the stream's unread frames are charged stays within what
// gRPC's queue may hold of them (queueBound).
func (c *Conn) addUnread(st *stream, cost, taken int64, from, to uint64) error {
	if st.read() >= to {
		// Read already, or gRPC opened the window ahead of the data.
		c.give(&taken)
		return nil
	}
	st.addRun(max(from, st.read()), to, cost)
	charged := st.unread + taken
	st.unread = 0
	err := c.settleUnread(st, &charged)
	st.unread = charged
	return err
}

// settleUnread brings *charged, what the stream's unread frames hold of the
// budgets, to what they cost within gRPC's bound for its queue.
func (c *Conn) settleUnread(st *stream, charged *int64) error {
	cost, bytes := st.unreadCost()
	if bound := queueBound(bytes); bound >= 0 {
		cost = min(cost, bound)
	}
	if cost <= *charged {
		extra := *charged - cost
		*charged = cost
		c.give(&extra)
		return nil
	}
	return c.charge(charged, cost-*charged)
}

// announce follows a WINDOW_UPDATE of the daemon's for a stream: what it
// gives back to the window it has read.
func (c *Conn) announce(st *stream, increment uint32) {
	st.announced += uint64(increment)
	c.passRead(st)
}

// passRead gives back the charge of the unread runs the stream has been
// read past, for a run passed in part at the run's least rate.
func (c *Conn) passRead(st *stream) {
	read := st.read()
	passed := 0
	for i := range st.runs {
		r := &st.runs[i]
		if read >= r.to {
			passed++
			continue
		}
		if read > r.from {
			r.cost -= min(r.cost, int64(float64(read-r.from)*r.rate))
			r.from = read
		}
		break
	}
	st.runs = append(st.runs[:0], st.runs[passed:]...)
	c.settleUnread(st, &st.unread) // less than before: it only gives back
}

func (c *Conn) give(charged *int64) { c.giveTo(c.cfg.Budgets, charged) }

// giveTo gives *charged back to budgets.
func (c *Conn) giveTo(budgets []*Budget, charged *int64) {
	if *charged == 0 {
		return
	}
	for _, b := range budgets {
		b.give(*charged)
	}
	*charged = 0
}

// end forgets a stream, giving all its charges back.
func (c *Conn) end(id uint32) {
	if st := c.streams[id]; st != nil {
		c.give(&st.held)
		c.give(&st.charged)
		c.give(&st.padded)
		c.give(&st.unread)
		c.giveTo(c.cfg.StreamBudgets, &st.open)
		st.runs = nil
		delete(c.streams, id)
	}
}

// Stream is a client stream of a Conn, for its handler to say what it has
// read of it.
type Stream struct {
	c  *Conn
	id uint32
}

// LastOpened is the stream gRPC was last handed the headers of: in gRPC's
// tap (grpc.InTapHandle), which runs on Read's goroutine once it has a
// stream's headers whole and before it reads on, the stream being tapped,
// and the StreamBudgets count the streams that came before it and not
// those after (a reviewer's bursts of 70 calls under a bound of 50, whose
// HEADERS bufio had read at once, had as few as 22 admitted). Only when
// gRPC reads unbuffered (grpc.ReadBufferSize(0)): its own buffer reads
// ahead.
func (c *Conn) LastOpened() Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stream{c: c, id: c.lastID}
}

// Refused says that gRPC's tap refused the stream: it holds nothing from
// now on, and counts no more among the open streams, though its reset is
// still to be written. Until then other streams' taps counted it open: a
// bound of 100 refused 21 of a burst of 120 under load, one too many.
func (s Stream) Refused() {
	if s.c == nil {
		return
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	s.c.end(s.id)
}

// Read says that the stream's handler has read its next message, of n
// bytes as decoded: the charge of its frames goes back once read, where the
// daemon's WINDOW_UPDATEs would say so only a quarter window later. On a
// stream that has sent a compressed message it says nothing: n is not what
// the message took on the wire (a reviewer's 300 bytes of gzip decoded to
// 256 KiB would have made the frames after it look read).
func (s Stream) Read(n int) {
	if s.c == nil {
		return
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if st := s.c.streams[s.id]; st != nil && !st.compressed {
		st.consumed += uint64(grpcPrefixLen + n)
		s.c.passRead(st)
	}
}

// endOfClient is the client's end of its side of a stream: gRPC then runs
// a unary call, which reads its request, but a handler that is not reading
// holds what it has not read yet (whole later messages, an unfinished one,
// padded frames), which stays charged until the daemon reads it or ends the
// stream too, as the stream stays open. (Giving back the unfinished message
// let stalled pipes hold 1 MB each uncounted: a reviewer.)
func (c *Conn) endOfClient(id uint32) {
	if st := c.streams[id]; st != nil {
		c.give(&st.held)
		st.ended = true
	}
}

// gather copies from p into buf, of which *have bytes are filled, and
// returns what is left of p and whether buf is now whole.
func gather(buf []byte, have *int, p []byte) ([]byte, bool) {
	n := copy(buf[*have:], p)
	*have += n
	return p[n:], *have == len(buf)
}

// frameScanner follows the frames of one direction of a connection as its
// bytes pass, holding nothing but a frame's header.
type frameScanner struct {
	preface int // bytes of the client preface still to come
	broken  bool

	header  [headerLen]byte
	headerN int

	// The current frame, once its header is read.
	length int
	typ    byte
	flags  byte
	stream uint32
	left   int // bytes of the frame's payload still to come
	// DATA frames' padding: whether the pad length is still to come, and
	// how many of the bytes left are padding.
	padLengthDue bool
	padding      int
}

// scan follows p, calling on with each frame's data (DATA frames' data,
// without padding; SETTINGS' and WINDOW_UPDATE's payload), and once more
// with end set when the frame has passed whole. A frame without payload is
// only ended.
func (f *frameScanner) scan(p []byte, on func(f *frameScanner, data []byte, end bool) error) error {
	if f.broken {
		return nil
	}
	if f.preface > 0 {
		n := min(f.preface, len(p))
		at := len(clientPreface) - f.preface
		if string(p[:n]) != clientPreface[at:at+n] {
			f.broken = true // gRPC refuses the connection
			return nil
		}
		f.preface -= n
		p = p[n:]
	}
	for len(p) > 0 {
		if f.headerN < headerLen {
			var whole bool
			if p, whole = gather(f.header[:], &f.headerN, p); !whole {
				return nil
			}
			f.length = int(f.header[0])<<16 | int(f.header[1])<<8 | int(f.header[2])
			f.typ, f.flags = f.header[3], f.header[4]
			f.stream = binary.BigEndian.Uint32(f.header[5:]) & 0x7fffffff
			f.left = f.length
			f.padLengthDue = f.typ == frameData && f.flags&flagPadded != 0
			f.padding = 0
			if f.left == 0 {
				if err := f.endFrame(on); err != nil {
					return err
				}
			}
			continue
		}
		n := min(f.left, len(p))
		payload := p[:n]
		p, f.left = p[n:], f.left-n
		if f.typ == frameSettings || f.typ == frameWindowUpdate {
			if err := on(f, payload, false); err != nil {
				return err
			}
		}
		if f.typ == frameData {
			if f.padLengthDue {
				f.padLengthDue = false
				f.padding = int(payload[0])
				payload = payload[1:]
				if f.padding > f.left+len(payload) {
					f.broken = true // gRPC closes the connection
					return nil
				}
			}
			// The data is what is not padding, which ends the frame.
			data := payload[:max(0, min(len(payload), len(payload)+f.left-f.padding))]
			if len(data) > 0 {
				if err := on(f, data, false); err != nil {
					return err
				}
			}
		}
		if f.left == 0 {
			if err := f.endFrame(on); err != nil {
				return err
			}
		}
	}
	return nil
}

func (f *frameScanner) endFrame(on func(f *frameScanner, data []byte, end bool) error) error {
	f.headerN = 0
	return on(f, nil, true)
}
