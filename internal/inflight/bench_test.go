package inflight

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/net/http2"
)

// BenchmarkUnaryCall measures what following a connection costs a unary
// call: the client's HEADERS and request, the daemon's HEADERS, answer and
// trailers, as gRPC reads and writes them (one read, one write).
func BenchmarkUnaryCall(b *testing.B) {
	under := &pipeConn{in: bytes.NewReader(nil), chunk: 1 << 20}
	conn := Wrap(under, Config{Budgets: []*Budget{NewBudget("principal", 1<<30), NewBudget("daemon", 1<<30)}})
	setup := newClient(b)
	under.in.Reset(setup.buf.Bytes())
	buf := make([]byte, 128<<10)
	if _, err := conn.Read(buf); err != nil {
		b.Fatal(err)
	}

	// One call's frames, on stream 1; each iteration renumbers them.
	call := newClient(b)
	call.buf.Reset()
	call.open(1, false)
	call.data(1, true, append(prefix(40), make([]byte, 40)...), 0)
	request := bytes.Clone(call.buf.Bytes())
	var out bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x88}, EndHeaders: true})
	fr.WriteData(1, false, append(prefix(70), make([]byte, 70)...))
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x88}, EndHeaders: true, EndStream: true})
	answer := out.Bytes()

	b.ReportAllocs()
	id := uint32(1)
	for b.Loop() {
		renumber(request, id)
		renumber(answer, id)
		under.in.Reset(request)
		if _, err := conn.Read(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := conn.Write(answer); err != nil {
			b.Fatal(err)
		}
		id += 2
	}
	if conn.Held() != 0 {
		b.Fatalf("held %d after every call ended", conn.Held())
	}
}

// renumber sets the stream of every frame in p.
func renumber(p []byte, id uint32) {
	for len(p) >= headerLen {
		n := int(p[0])<<16 | int(p[1])<<8 | int(p[2])
		binary.BigEndian.PutUint32(p[5:9], id)
		p = p[headerLen+n:]
	}
}
