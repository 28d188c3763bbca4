package pipewire

import (
	"bytes"
	"slices"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// countingPool counts the buffers given back to it.
type countingPool struct{ put atomic.Int64 }

func (p *countingPool) Get(n int) *[]byte { b := make([]byte, n); return &b }
func (p *countingPool) Put(*[]byte)       { p.put.Add(1) }

// split cuts wire into buffers at the given offsets, as the transport hands
// a message over in frames.
func split(wire []byte, pool mem.BufferPool, cuts ...int) mem.BufferSlice {
	var s mem.BufferSlice
	at := 0
	for _, c := range append(cuts, len(wire)) {
		if c <= at || c > len(wire) {
			continue
		}
		b := pool.Get(c - at)
		copy(*b, wire[at:c])
		s = append(s, mem.NewBuffer(b, pool)) // pooled only above mem's threshold
		at = c
	}
	return s
}

// pooled counts the buffers of s that go back to a pool when freed.
func pooled(s mem.BufferSlice) int64 {
	n := int64(0)
	for _, b := range s {
		if _, small := b.(mem.SliceBuffer); !small {
			n++
		}
	}
	return n
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dataRequest(b []byte) *sockdv1.PipeRequest {
	return &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: b}}
}

func dataResponse(b []byte) *sockdv1.PipeResponse {
	return &sockdv1.PipeResponse{Data: b}
}

func TestRequestDataStaysInTransportBuffers(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB: a 3-byte length
	wire := marshal(t, dataRequest(data))
	for _, cuts := range [][]int{nil, {1}, {2}, {4}, {4 + 16384, 4 + 32768}, {3, 5, 7, 9}} {
		// And where gRPC's 16 KiB frames end.
		for at := 16 << 10; at < len(wire); at += 16 << 10 {
			cuts = append(cuts, at)
		}
		slices.Sort(cuts)
		pool := &countingPool{}
		in := split(wire, pool, slices.Compact(cuts)...)
		var r Request
		if err := Codec().Unmarshal(in, &r); err != nil {
			t.Fatalf("cuts %v: %v", cuts, err)
		}
		if r.Msg != nil || !r.Held() {
			t.Fatalf("cuts %v: decoded in full, want the data left in place", cuts)
		}
		if got := bytes.Join(r.Iov(), nil); !bytes.Equal(got, data) || r.Len() != len(data) {
			t.Fatalf("cuts %v: iov holds %d bytes (Len %d) that differ from the %d sent", cuts, len(got), r.Len(), len(data))
		}
		in.Free() // what gRPC does when Unmarshal returns
		if n := pool.put.Load(); n != 0 {
			t.Fatalf("cuts %v: %d buffers went back to the pool while the request holds them", cuts, n)
		}
		r.Release()
		if n := pool.put.Load(); n != pooled(in) {
			t.Fatalf("cuts %v: release gave back %d of %d buffers", cuts, n, pooled(in))
		}
	}
}

func TestResponseDataIsReadPieceByPiece(t *testing.T) {
	data := make([]byte, 40000)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	wire := marshal(t, &sockdv1.PipeResponse{Data: data})
	pool := &countingPool{}
	in := split(wire, pool, 3, 16384, 32768)
	var r Response
	if err := Codec().Unmarshal(in, &r); err != nil {
		t.Fatal(err)
	}
	in.Free()
	if !r.Held() {
		t.Fatal("decoded in full, want the data left in place")
	}
	var got []byte
	for _, size := range []int{1, 100, 16000, 5, 30000, 10} {
		p := make([]byte, size)
		n := r.Read(p)
		got = append(got, p[:n]...)
		if r.Len() != len(data)-len(got) {
			t.Fatalf("after reading %d bytes Len is %d", len(got), r.Len())
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes that differ from the %d sent", len(got), len(data))
	}
	if n := pool.put.Load(); n != pooled(in) {
		t.Fatalf("reading all gave back %d of %d buffers", n, pooled(in))
	}
	r.Release() // nothing left: harmless
}

func TestOtherMessagesDecodeInFull(t *testing.T) {
	withUnknown := protowire.AppendTag(marshal(t, dataRequest([]byte("ab"))), 9, protowire.VarintType)
	withUnknown = protowire.AppendVarint(withUnknown, 1)
	cases := map[string]struct {
		wire []byte
		want *sockdv1.PipeRequest
	}{
		"socket id":   {marshal(t, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: "s1"}}), &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: "s1"}}},
		"close write": {marshal(t, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_CloseWrite{CloseWrite: true}}), &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_CloseWrite{CloseWrite: true}}},
		"empty data":  {marshal(t, dataRequest(nil)), dataRequest([]byte{})},
		"empty":       {nil, &sockdv1.PipeRequest{}},
		// The later oneof field wins: the data must not be sent.
		"data then close": {
			append(marshal(t, dataRequest([]byte("ab"))), marshal(t, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Close{Close: true}})...),
			&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Close{Close: true}},
		},
		"data and unknown field": {withUnknown, nil},
		// A response's data field is not a request's.
		"response data": {marshal(t, &sockdv1.PipeResponse{Data: []byte("x")}), nil},
	}
	for name, tc := range cases {
		var r Request
		if err := Codec().Unmarshal(split(tc.wire, mem.DefaultBufferPool(), 1), &r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Held() {
			t.Fatalf("%s: took the fast path", name)
		}
		want := tc.want
		if want == nil {
			want = new(sockdv1.PipeRequest)
			if err := proto.Unmarshal(tc.wire, want); err != nil {
				t.Fatal(err)
			}
		}
		if !proto.Equal(r.Msg, want) {
			t.Fatalf("%s: decoded %v, want %v", name, r.Msg, want)
		}
	}
	var r Response
	eof := marshal(t, &sockdv1.PipeResponse{Eof: true})
	if err := Codec().Unmarshal(split(eof, mem.DefaultBufferPool()), &r); err != nil || r.Held() || !r.Msg.GetEof() {
		t.Fatalf("eof response: held %v, %v, %v", r.Held(), r.Msg, err)
	}
}

func TestMalformedIsAnError(t *testing.T) {
	for name, wire := range map[string][]byte{
		"length past the end": {0x12, 0x05, 'a'},
		"truncated varint":    {0x12, 0x80},
		"bad wire type":       {0x17},
	} {
		var r Request
		if err := Codec().Unmarshal(split(wire, mem.DefaultBufferPool()), &r); err == nil {
			t.Errorf("%s: decoded %v, %d data bytes; want an error", name, r.Msg, r.Len())
		}
	}
}

func TestOutgoingEncodesAroundTheData(t *testing.T) {
	for _, data := range [][]byte{[]byte("x"), bytes.Repeat([]byte{7}, 200), bytes.Repeat([]byte{9}, 64<<10)} {
		out, err := Codec().Marshal(ResponseBuffer(mem.SliceBuffer(data)))
		if err != nil {
			t.Fatal(err)
		}
		if last := out[len(out)-1].ReadOnlyData(); &last[0] != &data[0] {
			t.Errorf("%d bytes: the data was copied", len(data))
		}
		var resp sockdv1.PipeResponse
		if err := proto.Unmarshal(out.Materialize(), &resp); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(resp.GetData(), data) || resp.GetEof() || resp.GetError() != nil {
			t.Fatalf("%d bytes encoded as %v", len(data), &resp)
		}
		out, _ = Codec().Marshal(RequestData(data))
		var req sockdv1.PipeRequest
		if err := proto.Unmarshal(out.Materialize(), &req); err != nil || !bytes.Equal(req.GetData(), data) {
			t.Fatalf("%d bytes encoded as %v (%v)", len(data), &req, err)
		}
	}
	// An empty data request is still a data request: the oneof is set.
	out, _ := Codec().Marshal(RequestData(nil))
	want, _ := proto.Marshal(dataRequest(nil))
	if got := out.Materialize(); !bytes.Equal(got, want) {
		t.Fatalf("empty data request encoded as %x, protobuf writes %x", got, want)
	}
}

// FuzzRequest checks that a Request's decoding agrees with protobuf's on any
// input, cut into frames anywhere, and that Read takes out what Iov shows.
func FuzzRequest(f *testing.F) {
	f.Add(marshal(f, dataRequest([]byte("hello"))), 1, 3)
	f.Add(marshal(f, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: "s"}}), 0, 0)
	f.Add([]byte{0x12, 0x80, 0x01}, 2, 2)
	f.Fuzz(func(t *testing.T, wire []byte, cut1, cut2 int) {
		var r Request
		err := Codec().Unmarshal(split(wire, mem.DefaultBufferPool(), cut1, cut2), &r)
		defer r.Release()
		decodesAsProtobuf(t, wire, err, r.Msg, &r.Data, dataRequest)
	})
}

// The client's decoder of what the daemon sends takes the same bytes as
// protobuf does, however gRPC cut them into buffers.
func FuzzResponse(f *testing.F) {
	f.Add(marshal(f, dataResponse([]byte("hello"))), 1, 3)
	f.Add(marshal(f, &sockdv1.PipeResponse{Ready: true, Eof: true}), 0, 0)
	f.Add([]byte{0x0a, 0x80, 0x01}, 2, 2)
	f.Fuzz(func(t *testing.T, wire []byte, cut1, cut2 int) {
		var r Response
		err := Codec().Unmarshal(split(wire, mem.DefaultBufferPool(), cut1, cut2), &r)
		defer r.Release()
		decodesAsProtobuf(t, wire, err, r.Msg, &r.Data, dataResponse)
	})
}

// decodesAsProtobuf checks a decoded message (msg, or held data that
// withData makes one of) against protobuf's decoding of wire.
func decodesAsProtobuf[M proto.Message](t *testing.T, wire []byte, err error, msg M, held *Data, withData func([]byte) M) {
	t.Helper()
	want := msg.ProtoReflect().Type().New().Interface()
	wantErr := proto.Unmarshal(wire, want)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("error %v, protobuf says %v", err, wantErr)
	}
	if err != nil {
		return
	}
	got := proto.Message(msg)
	if held.Held() {
		iov := bytes.Join(held.Iov(), nil)
		read := make([]byte, held.Len()+1)
		read = read[:held.Read(read)]
		if !bytes.Equal(iov, read) || held.Len() != 0 {
			t.Fatalf("Iov shows %q, Read took %q, %d left", iov, read, held.Len())
		}
		got = withData(read)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("decoded %v, protobuf says %v", got, want)
	}
}

// RequestData is a client's PipeRequest{data} around bytes that stay as
// they are.
func RequestData(data []byte) *Outgoing {
	return &Outgoing{field: requestData, data: mem.SliceBuffer(data)}
}

// Data that came in small frames is copied into one buffer: each frame's
// buffer costs far more than its bytes, and what a pipe holds is counted
// by its bytes.
func TestFragmentedDataIsCopied(t *testing.T) {
	for _, c := range []struct{ size, frame int }{{600, 1}, {64 << 10, 1025}} { // 1025: a 2 KiB buffer each
		data := bytes.Repeat([]byte("x"), c.size)
		wire := marshal(t, dataRequest(data))
		var cuts []int
		for i := c.frame; i < len(wire); i += c.frame {
			cuts = append(cuts, i)
		}
		pool := &countingPool{}
		in := split(wire, pool, cuts...)
		var r Request
		if err := Codec().Unmarshal(in, &r); err != nil {
			t.Fatal(err)
		}
		in.Free()
		if iov := r.Iov(); !r.Held() || len(iov) != 1 || !bytes.Equal(iov[0], data) {
			t.Fatalf("%d bytes in %d-byte frames: held %v, %d buffers: want the data in one", c.size, c.frame, r.Held(), len(iov))
		}
		r.Release()
	}
}

// What gRPC's clients send, 16 KiB frames but the last, stays in place
// whatever the message's size (sockctl nc sends io.Copy's 32 KiB).
func TestWholeFramesAreNotCopied(t *testing.T) {
	for _, size := range []int{20000, 32 << 10, 48 << 10, 1 << 20} {
		wire := marshal(t, dataRequest(make([]byte, size)))
		var cuts []int
		for at := 16 << 10; at < len(wire); at += 16 << 10 {
			cuts = append(cuts, at)
		}
		in := split(wire, &countingPool{}, cuts...)
		var r Request
		if err := Codec().Unmarshal(in, &r); err != nil {
			t.Fatal(err)
		}
		if n := len(r.Iov()); n != len(in) {
			t.Errorf("%d bytes in %d frames: held in %d buffers, want them left in place", size, len(in), n)
		}
		in.Free()
		r.Release()
	}
}
