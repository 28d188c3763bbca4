package inflight

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/mem"
)

// client writes a client's side of an HTTP/2 connection with x/net's
// framer, as bytes for a Conn to read.
type client struct {
	t   testing.TB
	buf bytes.Buffer
	fr  *http2.Framer
	hb  bytes.Buffer
	enc *hpack.Encoder
}

func newClient(t testing.TB) *client {
	c := &client{t: t}
	c.buf.WriteString(http2.ClientPreface)
	c.fr = http2.NewFramer(&c.buf, nil)
	c.enc = hpack.NewEncoder(&c.hb)
	if err := c.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *client) open(id uint32, endStream bool) {
	c.hb.Reset()
	for _, kv := range [][2]string{{":method", "POST"}, {":path", "/sockd.v1.SocketService/Send"}, {"content-type", "application/grpc"}} {
		c.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hb.Bytes(), EndHeaders: true, EndStream: endStream}); err != nil {
		c.t.Fatal(err)
	}
}

// data writes a DATA frame; pad > 0 pads it.
func (c *client) data(id uint32, endStream bool, b []byte, pad int) {
	var err error
	if pad > 0 {
		err = c.fr.WriteDataPadded(id, endStream, b, make([]byte, pad))
	} else {
		err = c.fr.WriteData(id, endStream, b)
	}
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) reset(id uint32) {
	if err := c.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
		c.t.Fatal(err)
	}
}

// prefix is a gRPC message prefix for n bytes.
func prefix(n uint32) []byte {
	p := make([]byte, grpcPrefixLen)
	binary.BigEndian.PutUint32(p[1:], n)
	return p
}

// pipeConn is the connection under a Conn: reads come from in, chunk bytes
// at a time, writes go nowhere.
type pipeConn struct {
	net.Conn
	in     *bytes.Reader
	chunk  int
	closed bool
}

func (p *pipeConn) Read(b []byte) (int, error) {
	return p.in.Read(b[:min(len(b), p.chunk)])
}
func (p *pipeConn) Write(b []byte) (int, error) { return len(b), nil }

// readyConn is a pipeConn that reads on ready, as the daemon's
// connections do: a buffer from pool once there are bytes.
type readyConn struct{ *pipeConn }

func (r readyConn) ReadOnReady(bufSize int, pool mem.BufferPool) (*[]byte, int, error) {
	b := pool.Get(bufSize)
	n, err := r.Read(*b)
	if n == 0 {
		pool.Put(b)
		return nil, 0, err
	}
	return b, n, err
}
func (p *pipeConn) Close() error { p.closed = true; return nil }

// readAll reads everything through a Conn charged to budgets, chunk bytes
// at a time, and returns the Conn and the first error other than EOF.
func readAll(in []byte, chunk int, budgets ...*Budget) (*Conn, *pipeConn, error) {
	under := &pipeConn{in: bytes.NewReader(in), chunk: chunk}
	c := Wrap(under, Config{Budgets: budgets, StreamBudgets: budgets})
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			if err == io.EOF {
				err = nil
			}
			return c, under, err
		}
	}
}

// While a message is unfinished, each frame it spans is charged what gRPC
// holds for it, by the frame's length; a later message keeps its charge
// once finished, until the daemon has read it (TestWholeMessagesAreChargedUntilRead),
// a stream's first one (a unary call's request, which gRPC holds until the
// client ends its side) until the stream ends, and padded frames (no gRPC
// client pads) until the daemon ends it.
func TestUnfinishedMessagesAreCharged(t *testing.T) {
	msg := bytes.Repeat([]byte("x"), 40<<10)
	c := newClient(t)
	c.open(1, false)
	c.data(1, false, append(prefix(3), "abc"...), 0) // finished, but first
	c.data(1, false, append(prefix(uint32(len(msg))), msg[:10]...), 0)
	c.data(1, false, msg[10:20<<10], 0)
	c.data(1, false, msg[20<<10:20<<10+100], 200)
	unfinished := c.buf.Len()
	c.data(1, false, msg[20<<10+100:], 0)
	finished := c.buf.Len()
	c.data(1, true, nil, 0)
	padded := FrameCost(1 + 100 + 200) // until the daemon ends the stream
	first := FrameCost(grpcPrefixLen+3) + padded
	later := FrameCost(grpcPrefixLen+10) + FrameCost(20<<10-10)
	unread := later + FrameCost(len(msg)-20<<10-100)
	for _, chunk := range []int{1, 7, 64 << 10} {
		for _, step := range []struct {
			end  int
			want int64
		}{{unfinished, StreamCost + first + later}, {finished, StreamCost + first + unread}, {c.buf.Len(), StreamCost + padded + unread}} {
			b := NewBudget("test", 1<<30)
			conn, _, err := readAll(c.buf.Bytes()[:step.end], chunk, b)
			if err != nil || conn.Held() != step.want || b.Used() != step.want {
				t.Errorf("chunk %d, %d bytes: held %d, budget used %d, want %d (%v)", chunk, step.end, conn.Held(), b.Used(), step.want, err)
			}
		}
	}
}

// windowUpdate is the daemon's WINDOW_UPDATE for a stream.
func windowUpdate(id, increment uint32) []byte {
	var out bytes.Buffer
	http2.NewFramer(&out, nil).WriteWindowUpdate(id, increment)
	return out.Bytes()
}

// Whole later messages stay charged until the daemon's WINDOW_UPDATEs for
// their stream say it has read them (gRPC gives a stream's window back as
// its handler reads), in proportion to their bytes; bytes the daemon has
// opened the window for ahead of them are not charged at all; and the
// client's end of its side does not give back what is not read.
func TestWholeMessagesAreChargedUntilRead(t *testing.T) {
	c := newClient(t)
	c.open(1, false)
	c.data(1, false, append(prefix(1), 'a'), 0) // the first message
	frame := append(prefix(1), 'b')
	for range 100 {
		c.data(1, false, frame, 0)
	}
	// The first message and the open stream, until the stream ends.
	first, each := StreamCost+FrameCost(len(frame)), FrameCost(len(frame))
	b := NewBudget("test", 1<<30)
	conn, under, err := readAll(c.buf.Bytes(), 64<<10, b)
	if err != nil || conn.Held() != first+100*each {
		t.Fatalf("held %d, want %d (%v)", conn.Held(), first+100*each, err)
	}
	// The first message and 40 later ones read: 40 frames given back.
	for _, b := range windowUpdate(1, uint32(41*len(frame))) { // a byte a write
		conn.Write([]byte{b})
	}
	if want := first + 60*each; conn.Held() != want || b.Used() != want {
		t.Fatalf("after 41 frames read: held %d, used %d, want %d", conn.Held(), b.Used(), want)
	}
	// Stream 0's window says nothing of the stream.
	conn.Write(windowUpdate(0, 1<<20))
	if want := first + 60*each; conn.Held() != want {
		t.Fatalf("after the connection's window update: held %d, want %d", conn.Held(), want)
	}
	// The client ends its side: what is not read stays charged.
	c.buf.Reset()
	c.data(1, true, nil, 0)
	under.in = bytes.NewReader(c.buf.Bytes())
	conn.Read(make([]byte, 100))
	if want := StreamCost + 60*each; conn.Held() != want {
		t.Fatalf("after the client's end: held %d, want %d", conn.Held(), want)
	}
	conn.Write(windowUpdate(1, uint32(60*len(frame))))
	if conn.Held() != StreamCost || b.Used() != StreamCost {
		t.Fatalf("after all was read: held %d, used %d, want the open stream's %d", conn.Held(), b.Used(), StreamCost)
	}

	// A window opened ahead of the data (gRPC does so for a large message
	// it has begun to read) leaves the data it covers uncharged.
	c = newClient(t)
	c.open(3, false)
	c.data(3, false, append(prefix(1), 'a'), 0)
	ahead := c.buf.Len()
	for range 10 {
		c.data(3, false, frame, 0)
	}
	b = NewBudget("test", 1<<30)
	conn, under, _ = readAll(c.buf.Bytes()[:ahead], 64<<10, b)
	conn.Write(windowUpdate(3, uint32(len(frame)+8*len(frame))))
	under.in = bytes.NewReader(c.buf.Bytes()[ahead:])
	for _, err := conn.Read(make([]byte, 100)); err == nil; _, err = conn.Read(make([]byte, 100)) {
	}
	if want := first + 2*each; conn.Held() != want {
		t.Fatalf("with 9 frames' window opened ahead: held %d, want %d", conn.Held(), want)
	}
}

// Small whole messages queued unread are charged no more than gRPC's
// compaction of the stream's queue lets them hold (a stalled pipe's 1-byte
// writes were charged 4.5 MB a pipe for 640 KB held), and what the daemon
// reads of them goes back within that bound; without compaction
// (GRPC_GO_EXPERIMENTAL_ENABLE_RECEIVE_BUFFER_COMPACTION=false) each frame
// is charged whole.
func TestQueuedSmallFramesAreChargedWithinCompaction(t *testing.T) {
	c := newClient(t)
	c.open(1, false)
	c.data(1, false, append(prefix(1), 'a'), 0) // the first message
	frame := append(prefix(1), 'b')
	const frames = 40_000
	for range frames {
		c.data(1, false, frame, 0)
	}
	first, each, bytes := StreamCost+FrameCost(len(frame)), FrameCost(len(frame)), uint64(frames*len(frame))
	for _, compaction := range []bool{true, false} {
		compacts = compaction
		b := NewBudget("test", 1<<30)
		conn, _, err := readAll(c.buf.Bytes(), 64<<10, b)
		want := first + min(frames*each, queueBound(bytes))
		if !compaction {
			want = first + frames*each
		}
		if err != nil || conn.Held() != want || b.Used() != want {
			t.Fatalf("compaction %v: held %d, used %d, want %d (%v)", compaction, conn.Held(), b.Used(), want, err)
		}
		// The first message and half the others read.
		conn.Write(windowUpdate(1, uint32(len(frame)+frames/2*len(frame))))
		want = first + min(frames/2*each, queueBound(bytes/2))
		if !compaction {
			want = first + frames/2*each
		}
		if conn.Held() != want || b.Used() != want {
			t.Fatalf("compaction %v, half read: held %d, used %d, want %d", compaction, conn.Held(), b.Used(), want)
		}
		conn.Write(windowUpdate(1, uint32(frames/2*len(frame))))
		if conn.Held() != first || b.Used() != first {
			t.Fatalf("compaction %v, all read: held %d, used %d, want %d", compaction, conn.Held(), b.Used(), first)
		}
	}
	compacts = true
	if queueBound(bytes) >= frames*each/2 {
		t.Fatalf("the bound (%d) should be well below the frames' own cost (%d) here", queueBound(bytes), frames*each)
	}
}

// daemonFrames writes the daemon's frames with fr for a Conn to follow.
func daemonFrames(conn *Conn, write func(fr *http2.Framer)) {
	var out bytes.Buffer
	write(http2.NewFramer(&out, nil))
	for _, b := range out.Bytes() { // a byte a write
		conn.Write([]byte{b})
	}
}

// A client may have as many streams open as the daemon's SETTINGS say,
// counting those whose answers the daemon has not finished writing (gRPC
// no longer counts them once their handler has returned); one more closes
// the connection. Before the daemon's SETTINGS, HTTP/2's advised 100.
func TestStreamsPastTheLimitCloseTheConnection(t *testing.T) {
	for _, limit := range []uint32{0, 150} {
		c := newClient(t)
		var refused error
		conn := Wrap(&pipeConn{in: bytes.NewReader(nil), chunk: 1 << 20}, Config{Refused: func(err error) { refused = err }})
		if limit > 0 {
			daemonFrames(conn, func(fr *http2.Framer) {
				fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 14},
					http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: limit})
			})
		}
		want := max(limit, minStreams)
		read := func() error {
			t.Helper()
			conn.Conn.(*pipeConn).in = bytes.NewReader(c.buf.Bytes())
			c.buf.Reset()
			_, err := conn.Read(make([]byte, 1<<20))
			return err
		}
		id := uint32(1)
		for ; id < 2*want; id += 2 {
			c.open(id, id%4 == 1) // half of them ended by the client at once
		}
		c.data(1, false, prefix(1), 0) // not a new stream
		if err := read(); err != nil {
			t.Fatalf("limit %d: %d streams: %v", want, want, err)
		}
		// The daemon ends 10 (trailers or a reset), the client resets 5:
		// 15 more may open.
		daemonFrames(conn, func(fr *http2.Framer) {
			for id := uint32(1); id < 21; id += 2 {
				if id%3 == 0 {
					fr.WriteRSTStream(id, http2.ErrCodeNo)
				} else {
					fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: []byte{0x88}, EndHeaders: true, EndStream: true})
				}
			}
		})
		for id := uint32(21); id < 31; id += 2 {
			c.reset(id)
		}
		c.reset(7) // ended already: counts once
		for range 15 {
			c.open(id, false)
			id += 2
		}
		if err := read(); err != nil {
			t.Fatalf("limit %d: 15 more after 15 ended: %v", want, err)
		}
		c.open(id, false)
		var tooMany *StreamsError
		if err := read(); !errors.As(err, &tooMany) || tooMany.Limit != want || refused != err {
			t.Fatalf("limit %d: one more stream: %v (refused: %v)", want, err, refused)
		}
	}
}

// A stream that ends, by either side, gives its charge back, and data on a
// stream that is not open is not charged.
func TestEndedStreamsGiveBack(t *testing.T) {
	c := newClient(t)
	c.open(1, false)
	c.open(3, false)
	c.open(5, false)
	c.open(7, true) // no data will follow
	for _, id := range []uint32{1, 3, 5, 7, 9} {
		c.data(id, false, prefix(100), 0)
	}
	b := NewBudget("test", 1<<30)
	conn, _, err := readAll(c.buf.Bytes(), 1<<10, b)
	if err != nil {
		t.Fatal(err)
	}
	if want := 4*StreamCost + 3*FrameCost(grpcPrefixLen); conn.Held() != want {
		t.Fatalf("held %d, want %d (streams 1, 3 and 5, and 7 open)", conn.Held(), want)
	}
	// The daemon's trailers end 1, its reset 3; the client resets 5.
	daemonFrames(conn, func(fr *http2.Framer) {
		fr.WriteSettings()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x88}, EndHeaders: true, EndStream: true})
		fr.WriteRSTStream(3, http2.ErrCodeNo)
	})
	if want := 2*StreamCost + FrameCost(grpcPrefixLen); conn.Held() != want {
		t.Fatalf("after the daemon ended 1 and 3: held %d, want %d", conn.Held(), want)
	}
	c.buf.Reset()
	c.reset(5)
	conn.Conn.(*pipeConn).in = bytes.NewReader(c.buf.Bytes())
	conn.Read(make([]byte, 100))
	if conn.Held() != StreamCost || b.Used() != StreamCost {
		t.Fatalf("after the client reset 5: held %d, budget used %d, want 7's, open", conn.Held(), b.Used())
	}
}

// A frame that would pass a budget closes the connection, is not passed on,
// and everything the connection held is given back, to every budget.
func TestExceededBudgetClosesTheConnection(t *testing.T) {
	c := newClient(t)
	c.open(1, false)
	c.data(1, false, prefix(1<<20), 0)
	for range 100 {
		c.data(1, false, []byte{0}, 0)
	}
	principal, daemon := NewBudget("principal", StreamCost+50*FrameCost(1)), NewBudget("daemon", 1<<30)
	var refused error
	closed := false
	under := &pipeConn{in: bytes.NewReader(c.buf.Bytes()), chunk: 1 << 20}
	conn := Wrap(under, Config{Budgets: []*Budget{principal, daemon}, StreamBudgets: []*Budget{principal, daemon},
		Refused: func(e error) { refused = e },
		Closed:  func() { closed = true }})
	n, err := conn.Read(make([]byte, 1<<20))
	var exceeded *ExceededError
	if n != 0 || !errors.As(err, &exceeded) || exceeded.Budget != "principal" || refused == nil {
		t.Fatalf("Read = %d, %v (refused %v), want 0 and the principal's budget exceeded", n, err, refused)
	}
	if !under.closed || !closed || principal.Used() != 0 || daemon.Used() != 0 {
		t.Fatalf("closed %v, Closed called %v, budgets used %d and %d after the refusal", under.closed, closed, principal.Used(), daemon.Used())
	}
	if _, err := conn.Read(make([]byte, 10)); !errors.As(err, &exceeded) {
		t.Fatalf("a later Read = %v", err)
	}
}

// Each open stream is charged what its handler and gRPC's state for it
// cost, before any message: a client's idle calls (a request never ended, a
// health Watch) held 1.8 GB uncharged. A stream past the budget is counted
// too (the server refuses it); one ended gives its charge back.
func TestOpenStreamsAreCharged(t *testing.T) {
	c := newClient(t)
	for id := uint32(1); id <= 7; id += 2 {
		c.open(id, false)
	}
	b := NewBudget("principal", 4*StreamCost)
	conn, _, err := readAll(c.buf.Bytes(), 1<<10, b)
	if err != nil || conn.Held() != 4*StreamCost || b.Used() != 4*StreamCost {
		t.Fatalf("4 streams open: held %d, used %d, want %d (%v)", conn.Held(), b.Used(), 4*StreamCost, err)
	}
	daemonFrames(conn, func(fr *http2.Framer) { fr.WriteRSTStream(3, http2.ErrCodeNo) })
	if conn.Held() != 3*StreamCost {
		t.Fatalf("after one stream ended: held %d, want %d", conn.Held(), 3*StreamCost)
	}
	// Streams past the budget are counted, not refused: the server refuses
	// them, each alone.
	c.open(9, false)
	c.open(11, false)
	b = NewBudget("principal", 4*StreamCost)
	conn, _, err = readAll(c.buf.Bytes(), 1<<10, b)
	if err != nil || b.Used() != 6*StreamCost || !b.Full() {
		t.Fatalf("6 streams open under a budget of 4: %v, used %d, want %d counted", err, b.Used(), 6*StreamCost)
	}
	conn.Close()
	if b.Used() != 0 {
		t.Fatalf("after Close: used %d", b.Used())
	}
	// Streams are charged to their own budgets, not the messages'.
	messages, streams := NewBudget("messages", 1<<30), NewBudget("streams", 1<<30)
	conn = Wrap(&pipeConn{in: bytes.NewReader(c.buf.Bytes()), chunk: 1 << 20}, Config{Budgets: []*Budget{messages}, StreamBudgets: []*Budget{streams}})
	conn.Read(make([]byte, 1<<20))
	if messages.Used() != 0 || streams.Used() != 6*StreamCost {
		t.Errorf("6 streams open: messages' budget used %d, streams' %d; want 0 and %d", messages.Used(), streams.Used(), 6*StreamCost)
	}
}

// What is not HTTP/2 is left to gRPC: nothing charged, nothing refused.
func TestNotHTTP2IsLeftToGRPC(t *testing.T) {
	b := NewBudget("test", 1)
	conn, _, err := readAll(bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 100), 3, b)
	if err != nil || conn.Held() != 0 || b.Used() != 0 {
		t.Fatalf("held %d, used %d, %v", conn.Held(), b.Used(), err)
	}
}

// FuzzConn: whatever a client sends, read in any chunks, gives the same
// outcome, never a negative charge, whatever the daemon reads of it, and
// closing gives everything back.
func FuzzConn(f *testing.F) {
	c := newClient(f)
	c.open(1, false)
	c.data(1, false, append(prefix(3), "abc"...), 0)
	c.data(1, false, prefix(1000), 10)
	c.data(1, false, make([]byte, 100), 0)
	c.reset(1)
	f.Add(c.buf.Bytes(), 5, uint32(20))
	f.Add([]byte(http2.ClientPreface), 1, uint32(0))
	f.Add(append([]byte(http2.ClientPreface), 0, 0, 5, 0, 8, 0, 0, 0, 1, 9, 1, 2, 3, 4), 2, uint32(1<<31))
	f.Fuzz(func(t *testing.T, in []byte, chunk int, read uint32) {
		chunk = 1 + int(uint(chunk)%97)
		whole := NewBudget("whole", 1<<20)
		c1, _, err1 := readAll(in, len(in)+1, whole)
		parts := NewBudget("parts", 1<<20)
		c2, _, err2 := readAll(in, chunk, parts)
		if (err1 == nil) != (err2 == nil) || c1.Held() != c2.Held() || whole.Used() != parts.Used() {
			t.Fatalf("whole: held %d (%v); in chunks of %d: held %d (%v)", c1.Held(), err1, chunk, c2.Held(), err2)
		}
		// Through a read buffer, in reads of chunk bytes: the same.
		buffered := NewBudget("buffered", 1<<20)
		var under net.Conn = &pipeConn{in: bytes.NewReader(in), chunk: 2*chunk + 1}
		if chunk%2 == 1 {
			under = readyConn{under.(*pipeConn)}
		}
		c3 := Wrap(under, Config{ReadBuffer: 3 * chunk, Budgets: []*Budget{buffered}, StreamBudgets: []*Budget{buffered}})
		var err3 error
		for p := make([]byte, chunk); err3 == nil; _, err3 = c3.Read(p) {
		}
		if (err1 == nil) != (err3 == io.EOF) || c1.Held() != c3.Held() || whole.Used() != buffered.Used() || c3.buf != nil && c3.pooled {
			t.Fatalf("whole: held %d (%v); buffered, read in chunks of %d: held %d (%v)", c1.Held(), err1, chunk, c3.Held(), err3)
		}
		if c1.Held() < 0 || whole.Used() < 0 {
			t.Fatalf("negative charge %d", c1.Held())
		}
		for id := range uint32(8) {
			c1.Write(windowUpdate(id, read))
			if c1.Held() < 0 || c1.Held() != whole.Used() {
				t.Fatalf("after the daemon read %d bytes of stream %d: held %d, budget used %d", read, id, c1.Held(), whole.Used())
			}
			Stream{c: c3, id: id}.Read(int(read % (1 << 20)))
			if c3.Held() < 0 || c3.Held() != buffered.Used() {
				t.Fatalf("after stream %d's handler read %d bytes: held %d, budget used %d", id, read, c3.Held(), buffered.Used())
			}
		}
		c1.Close()
		c2.Close()
		c3.Close()
		if whole.Used() != 0 || parts.Used() != 0 || buffered.Used() != 0 {
			t.Fatalf("closed connections still hold %d, %d and %d", whole.Used(), parts.Used(), buffered.Used())
		}
	})
}

// Padded frames stay charged until the daemon ends their stream, though
// their messages are whole and the client has ended its side: padding costs
// gRPC its buffer until a handler reads the message, and no gRPC client pads.
func TestPaddedFramesAreChargedUntilTheDaemonEndsTheStream(t *testing.T) {
	c := newClient(t)
	c.open(1, false)
	c.data(1, false, append(prefix(1), 'a'), 0) // the first message
	for range 10 {
		c.data(1, false, append(prefix(1), 'b'), 255)
	}
	padded := c.buf.Len()
	c.data(1, true, nil, 0)
	first, pads := StreamCost+FrameCost(grpcPrefixLen+1), 10*FrameCost(1+grpcPrefixLen+1+255)
	b := NewBudget("test", 1<<30)
	if conn, _, err := readAll(c.buf.Bytes()[:padded], 64<<10, b); err != nil || conn.Held() != first+pads {
		t.Fatalf("held %d, want %d (%v)", conn.Held(), first+pads, err)
	}
	b = NewBudget("test", 1<<30)
	conn, _, _ := readAll(c.buf.Bytes(), 64<<10, b)
	if conn.Held() != StreamCost+pads {
		t.Fatalf("after the client's end of the stream: held %d, want the open stream's and the padded frames' %d", conn.Held(), StreamCost+pads)
	}
	daemonFrames(conn, func(fr *http2.Framer) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x88}, EndHeaders: true, EndStream: true})
	})
	if conn.Held() != 0 || b.Used() != 0 {
		t.Fatalf("after the daemon's end of the stream: held %d, budget used %d", conn.Held(), b.Used())
	}
}

// What the daemon reads of a stream gives back the charge of the frames it
// read, not a share of all by their bytes: large frames read ahead of
// small ones leave the small ones' charge (a reviewer's stalled pipes held
// 2.2 times their charge so).
func TestReadFramesGiveBackTheirOwnCharge(t *testing.T) {
	c := newClient(t)
	c.open(1, false)
	first := append(prefix(1), 'a')
	c.data(1, false, first, 0)
	large := append(prefix(16<<10-grpcPrefixLen), make([]byte, 16<<10-grpcPrefixLen)...)
	for range 12 {
		c.data(1, false, large, 0)
	}
	small := append(prefix(1), 'b')
	for range 50 {
		c.data(1, false, small, 0)
	}
	b := NewBudget("test", 1<<30)
	conn, _, err := readAll(c.buf.Bytes(), 64<<10, b)
	held := StreamCost + FrameCost(len(first))
	if want := held + 12*FrameCost(len(large)) + 50*FrameCost(len(small)); err != nil || conn.Held() != want {
		t.Fatalf("held %d, want %d (%v)", conn.Held(), want, err)
	}
	conn.Write(windowUpdate(1, uint32(len(first)+12*len(large)))) // the large ones read
	if want := held + 50*FrameCost(len(small)); conn.Held() != want || b.Used() != want {
		t.Fatalf("after the large frames were read: held %d, used %d, want %d", conn.Held(), b.Used(), want)
	}
	conn.Write(windowUpdate(1, uint32(25*len(small))))
	if want := held + 25*FrameCost(len(small)); conn.Held() != want {
		t.Fatalf("after half the small ones were read: held %d, want %d", conn.Held(), want)
	}
}

// The padding gRPC gives back to the window as a padded frame arrives does
// not say that anything was read: a reviewer's padded frames after unread
// messages made them look read, and stalled pipes held 2.4 times their
// charge.
func TestPaddingGivenBackIsNotRead(t *testing.T) {
	c := newClient(t)
	c.open(1, false)
	c.data(1, false, append(prefix(1), 'a'), 0) // the first message
	frame := append(prefix(1), 'b')
	for range 10 {
		c.data(1, false, frame, 0)
	}
	for range 5 {
		c.data(1, false, nil, 255)
	}
	b := NewBudget("test", 1<<30)
	conn, _, err := readAll(c.buf.Bytes(), 64<<10, b)
	want := StreamCost + 11*FrameCost(len(frame)) + 5*FrameCost(256)
	if err != nil || conn.Held() != want {
		t.Fatalf("held %d, want %d (%v)", conn.Held(), want, err)
	}
	conn.Write(windowUpdate(1, 5*256)) // the padding, given back
	if conn.Held() != want {
		t.Fatalf("after the padding was given back: held %d, want %d", conn.Held(), want)
	}
	conn.Write(windowUpdate(1, uint32(11*len(frame)))) // what was read
	if want := StreamCost + FrameCost(len(frame)) + 5*FrameCost(256); conn.Held() != want {
		t.Fatalf("after the messages were read: held %d, want %d", conn.Held(), want)
	}
}

// A client's end of its side gives back its first message's charge (gRPC
// runs a unary call then, which reads it), not an unfinished later one's,
// which a handler that is not reading holds until the stream ends.
func TestEndOfClientKeepsAnUnfinishedLaterMessageCharged(t *testing.T) {
	c := newClient(t)
	c.open(1, false)
	c.data(1, false, append(prefix(1), 'a'), 0) // the first message
	c.data(1, false, prefix(1<<20), 0)
	for range 10 {
		c.data(1, false, []byte{0}, 0)
	}
	c.data(1, true, nil, 0)
	b := NewBudget("test", 1<<30)
	conn, _, err := readAll(c.buf.Bytes(), 64<<10, b)
	if want := StreamCost + FrameCost(grpcPrefixLen) + 10*FrameCost(1); err != nil || conn.Held() != want {
		t.Fatalf("held %d after the client's end, want the unfinished message's %d (%v)", conn.Held(), want, err)
	}
	daemonFrames(conn, func(fr *http2.Framer) { fr.WriteRSTStream(1, http2.ErrCodeNo) })
	if conn.Held() != 0 || b.Used() != 0 {
		t.Fatalf("held %d, used %d after the daemon's end", conn.Held(), b.Used())
	}
}

// A whole later message in the frame that ends the client's side is held by
// gRPC until the handler reads it, as the same message followed by an empty
// END_STREAM frame is: it should be charged the same.
func TestEndStreamFrameIsChargedAsAnEmptyEndFrameIs(t *testing.T) {
	held := func(split bool) int64 {
		c := newClient(t)
		c.open(1, false)
		c.data(1, false, append(prefix(1), 'a'), 0) // the first message
		later := append(prefix(20000), make([]byte, 20000)...)
		if split {
			c.data(1, false, later[:16384], 0)
			c.data(1, false, later[16384:], 0)
			c.data(1, true, nil, 0)
		} else {
			c.data(1, false, later[:16384], 0)
			c.data(1, true, later[16384:], 0)
		}
		b := NewBudget("b", 1<<30)
		conn := Wrap(&pipeConn{in: bytes.NewReader(c.buf.Bytes()), chunk: 1 << 20}, Config{Budgets: []*Budget{b}})
		p := make([]byte, 1<<20)
		for {
			if _, err := conn.Read(p); err != nil {
				break
			}
		}
		return conn.Held()
	}
	sep, joined := held(true), held(false)
	if sep != joined {
		t.Fatalf("unread later message: charged %d when END_STREAM comes in an empty frame, %d when on its last frame", sep, joined)
	}
}

// A whole later message in one frame carrying END_STREAM is charged.
func TestEndStreamFrameWithAWholeLaterMessageIsCharged(t *testing.T) {
	c := newClient(t)
	c.open(1, false)
	c.data(1, false, append(prefix(1), 'a'), 0) // the first message
	c.data(1, true, append(prefix(16000), make([]byte, 16000)...), 0)
	b := NewBudget("b", 1<<30)
	conn := Wrap(&pipeConn{in: bytes.NewReader(c.buf.Bytes()), chunk: 1 << 20}, Config{Budgets: []*Budget{b}})
	p := make([]byte, 1<<20)
	for {
		if _, err := conn.Read(p); err != nil {
			break
		}
	}
	if conn.Held() < FrameCost(16005) {
		t.Fatalf("a whole later message, unread, in the frame that ends the client's side: charged %d, want at least %d", conn.Held(), FrameCost(16005))
	}
}

// writeSpy is a connection whose Write calls look first.
type writeSpy struct {
	net.Conn
	look func()
}

func (w *writeSpy) Write(b []byte) (int, error) { w.look(); return len(b), nil }

// The daemon's frames are followed before they are written: a client that
// sees a stream end may open the next before a scan after the write runs.
func TestDaemonFramesAreFollowedBeforeTheyAreWritten(t *testing.T) {
	spy := &writeSpy{}
	conn := Wrap(spy, Config{})
	conn.streams[1] = &stream{}
	open := -1
	spy.look = func() { open = len(conn.streams) }
	var out bytes.Buffer
	http2.NewFramer(&out, nil).WriteRSTStream(1, http2.ErrCodeNo)
	conn.Write(out.Bytes())
	if open != 0 {
		t.Fatalf("%d streams open when the daemon's reset was written, want 0", open)
	}
}

// framerReads reads through conn as an unbuffered HTTP/2 framer does (the
// client preface, if still to come, then a frame's header, then its
// payload), calling after with each frame's header.
func framerReads(t *testing.T, conn *Conn, after func(typ byte, stream uint32)) {
	t.Helper()
	preface := make([]byte, conn.in.preface)
	if _, err := io.ReadFull(conn, preface); err != nil {
		t.Fatal(err)
	}
	for {
		var h [headerLen]byte
		if _, err := io.ReadFull(conn, h[:]); err == io.EOF {
			return
		} else if err != nil {
			t.Fatal(err)
		}
		n := int(h[0])<<16 | int(h[1])<<8 | int(h[2])
		if _, err := io.ReadFull(conn, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		after(h[3], binary.BigEndian.Uint32(h[5:])&0x7fffffff)
	}
}

// With a read buffer, Conn follows the bytes as it hands them over: when
// gRPC has a stream's headers whole (its tap runs then), LastOpened is that
// stream, and the stream budgets count it and the streams before it, not
// those after, though one read from the connection brought them all.
func TestLastOpenedIsTheStreamWhoseHeadersWereHandedOver(t *testing.T) {
	c := newClient(t)
	for id := uint32(1); id <= 9; id += 2 {
		c.open(id, true)
	}
	streams := NewBudget("streams", 1<<30)
	under := &pipeConn{in: bytes.NewReader(c.buf.Bytes()), chunk: 1 << 20}
	conn := Wrap(under, Config{ReadBuffer: 32 << 10, StreamBudgets: []*Budget{streams}})
	var tapped []uint32
	framerReads(t, conn, func(typ byte, id uint32) {
		if typ != frameHeaders {
			return
		}
		last := conn.LastOpened()
		if last.id != id || streams.Used() != int64(id+1)/2*StreamCost {
			t.Errorf("at stream %d's headers: LastOpened %d, %d streams counted", id, last.id, streams.Used()/StreamCost)
		}
		tapped = append(tapped, id)
	})
	if len(tapped) != 5 {
		t.Fatalf("headers of %v handed over, want 5 streams'", tapped)
	}
	if under.in.Len() != 0 {
		t.Fatalf("%d bytes left unread", under.in.Len())
	}
}

// A stream the tap refused counts no more among the open streams at once,
// before its reset is written; the reset then gives nothing back twice.
func TestRefusedStreamCountsNoMore(t *testing.T) {
	c := newClient(t)
	for id := uint32(1); id <= 5; id += 2 {
		c.open(id, true)
	}
	streams := NewBudget("streams", 1<<30)
	under := &pipeConn{in: bytes.NewReader(c.buf.Bytes()), chunk: 1 << 20}
	conn := Wrap(under, Config{ReadBuffer: 32 << 10, StreamBudgets: []*Budget{streams}})
	framerReads(t, conn, func(typ byte, id uint32) {
		if typ == frameHeaders && id == 3 {
			conn.LastOpened().Refused()
		}
	})
	if got := streams.Used(); got != 2*StreamCost {
		t.Fatalf("%d streams counted with the second refused, want 2", got/StreamCost)
	}
	daemonFrames(conn, func(fr *http2.Framer) { fr.WriteRSTStream(3, http2.ErrCodeRefusedStream) })
	if got := streams.Used(); got != 2*StreamCost {
		t.Fatalf("%d streams counted after the refused one's reset, want 2", got/StreamCost)
	}
}

// What a stream's handler says it has read gives its frames' charge back
// at once, where the daemon's WINDOW_UPDATEs, a quarter window late, would
// leave it charged; a WINDOW_UPDATE later gives nothing back twice.
func TestStreamReadGivesBackWhatTheHandlerRead(t *testing.T) {
	c := newClient(t)
	c.open(1, false)
	c.data(1, false, append(prefix(1), 'a'), 0) // the first message
	frame := append(prefix(3), "bcd"...)
	for range 100 {
		c.data(1, false, frame, 0)
	}
	first, each := FrameCost(5+1), FrameCost(len(frame))
	b := NewBudget("test", 1<<30)
	under := &pipeConn{in: bytes.NewReader(c.buf.Bytes()), chunk: 1 << 20}
	conn := Wrap(under, Config{ReadBuffer: 4 << 10, Budgets: []*Budget{b}})
	var st Stream
	framerReads(t, conn, func(typ byte, id uint32) {
		if typ == frameHeaders {
			st = conn.LastOpened()
		}
	})
	if want := first + 100*each; conn.Held() != want {
		t.Fatalf("held %d, want %d", conn.Held(), want)
	}
	st.Read(1) // the first message
	for range 60 {
		st.Read(3)
	}
	if want := first + 40*each; conn.Held() != want || b.Used() != want {
		t.Fatalf("after 60 messages read: held %d, used %d, want %d", conn.Held(), b.Used(), want)
	}
	conn.Write(windowUpdate(1, uint32(6+59*len(frame)))) // late: 60 messages, less one
	if want := first + 40*each; conn.Held() != want {
		t.Fatalf("after a late WINDOW_UPDATE: held %d, want %d", conn.Held(), want)
	}
	for range 40 {
		st.Read(3)
	}
	if conn.Held() != first {
		t.Fatalf("after all was read: held %d, want %d", conn.Held(), first)
	}
	Stream{}.Read(10) // a stream the daemon does not follow: nothing happens

	// A stream that sent a compressed message: what its handler read, as
	// decoded, says nothing of its frames.
	c.buf.Reset()
	c.open(3, false)
	c.data(3, false, append(prefix(1), 'a'), 0)
	compressed := append(prefix(3), "xyz"...)
	compressed[0] = 1
	c.data(3, false, compressed, 0)
	for range 10 {
		c.data(3, false, frame, 0)
	}
	under.in = bytes.NewReader(c.buf.Bytes())
	var st3 Stream
	framerReads(t, conn, func(typ byte, id uint32) {
		if typ == frameHeaders {
			st3 = conn.LastOpened()
		}
	})
	held := conn.Held()
	st3.Read(1)
	st3.Read(64 << 10) // the compressed message, decoded
	if conn.Held() != held {
		t.Fatalf("after reads of a stream that sent a compressed message: held %d, want %d", conn.Held(), held)
	}
	conn.Close()
	st.Read(3) // an ended stream: nothing happens
	if b.Used() != 0 {
		t.Fatalf("after Close: used %d", b.Used())
	}
}

// A Conn over a connection that reads on ready holds a read buffer only
// while it has bytes gRPC has not taken: an idle connection holds none
// (gRPC's buffer of each connection held 128 KiB for its life).
func TestReadBufferIsHeldOnlyWhileItHasBytes(t *testing.T) {
	c := newClient(t)
	c.open(1, false)
	c.data(1, false, append(prefix(3), "abc"...), 0)
	under := readyConn{&pipeConn{in: bytes.NewReader(c.buf.Bytes()), chunk: 1 << 20}}
	conn := Wrap(under, Config{ReadBuffer: 4 << 10})
	var got bytes.Buffer
	p := make([]byte, 10)
	for {
		n, err := conn.Read(p)
		got.Write(p[:n])
		if err != nil {
			break
		}
		if conn.buf == nil != (got.Len() == c.buf.Len()) {
			t.Fatalf("after %d of %d bytes: read buffer held %v", got.Len(), c.buf.Len(), conn.buf != nil)
		}
	}
	if !bytes.Equal(got.Bytes(), c.buf.Bytes()) {
		t.Fatalf("read %d bytes, not the %d sent", got.Len(), c.buf.Len())
	}
}
