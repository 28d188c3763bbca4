package server

import (
	"bytes"
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

// split cuts wire into pooled buffers at the given offsets, as the transport
// hands a message over in frames.
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

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPipeUplinkDataStaysInTransportBuffers(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB: a 3-byte length
	wire := marshal(t, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: data}})
	for _, cuts := range [][]int{nil, {1}, {2}, {4}, {4 + 16384, 4 + 32768}, {3, 5, 7, 9}} {
		pool := &countingPool{}
		in := split(wire, pool, cuts...)
		var m pipeUplink
		if err := Codec().Unmarshal(in, &m); err != nil {
			t.Fatalf("cuts %v: %v", cuts, err)
		}
		if m.req != nil || m.data == nil {
			t.Fatalf("cuts %v: decoded in full, want the data left in place", cuts)
		}
		if got := bytes.Join(m.iov(), nil); !bytes.Equal(got, data) {
			t.Fatalf("cuts %v: iov holds %d bytes that differ from the %d sent", cuts, len(got), len(data))
		}
		in.Free() // what gRPC does when Unmarshal returns
		if n := pool.put.Load(); n != 0 {
			t.Fatalf("cuts %v: %d buffers went back to the pool while the request holds them", cuts, n)
		}
		m.release()
		pooled := 0
		for _, b := range in {
			if _, small := b.(mem.SliceBuffer); !small {
				pooled++
			}
		}
		if n := pool.put.Load(); n != int64(pooled) {
			t.Fatalf("cuts %v: release gave back %d of %d buffers", cuts, n, pooled)
		}
	}
}

func TestPipeUplinkOtherRequestsDecodeInFull(t *testing.T) {
	withUnknown := protowire.AppendTag(marshal(t, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: []byte("ab")}}), 9, protowire.VarintType)
	withUnknown = protowire.AppendVarint(withUnknown, 1)
	cases := map[string]struct {
		wire []byte
		want *sockdv1.PipeRequest
	}{
		"socket id":   {marshal(t, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: "s1"}}), &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: "s1"}}},
		"close write": {marshal(t, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_CloseWrite{CloseWrite: true}}), &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_CloseWrite{CloseWrite: true}}},
		"empty data":  {marshal(t, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{}}), &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: []byte{}}}},
		"empty":       {nil, &sockdv1.PipeRequest{}},
		// The later oneof field wins: the data must not be sent.
		"data then close": {
			append(marshal(t, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: []byte("ab")}}),
				marshal(t, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Close{Close: true}})...),
			&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Close{Close: true}},
		},
		"data and unknown field": {withUnknown, nil},
	}
	for name, tc := range cases {
		var m pipeUplink
		if err := Codec().Unmarshal(split(tc.wire, mem.DefaultBufferPool(), 1), &m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.data != nil {
			t.Fatalf("%s: took the fast path", name)
		}
		want := tc.want
		if want == nil {
			want = new(sockdv1.PipeRequest)
			if err := proto.Unmarshal(tc.wire, want); err != nil {
				t.Fatal(err)
			}
		}
		if !proto.Equal(m.req, want) {
			t.Fatalf("%s: decoded %v, want %v", name, m.req, want)
		}
	}
}

func TestPipeUplinkMalformedIsAnError(t *testing.T) {
	for name, wire := range map[string][]byte{
		"length past the end": {0x12, 0x05, 'a'},
		"truncated varint":    {0x12, 0x80},
		"bad wire type":       {0x17},
	} {
		var m pipeUplink
		if err := Codec().Unmarshal(split(wire, mem.DefaultBufferPool()), &m); err == nil {
			t.Errorf("%s: decoded %v, %d data bytes; want an error", name, m.req, len(bytes.Join(m.iov(), nil)))
		}
	}
}

func TestPipeDownlinkEncodesAPipeResponse(t *testing.T) {
	for _, data := range [][]byte{[]byte("x"), bytes.Repeat([]byte{7}, 200), bytes.Repeat([]byte{9}, 64<<10)} {
		out, err := Codec().Marshal(&pipeDownlink{data: data})
		if err != nil {
			t.Fatal(err)
		}
		var got sockdv1.PipeResponse
		if err := proto.Unmarshal(out.Materialize(), &got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.GetData(), data) || got.GetEof() || got.GetError() != nil {
			t.Fatalf("%d bytes encoded as %v", len(data), &got)
		}
	}
}

// FuzzPipeUplink checks that the uplink's decoding agrees with protobuf's on
// any input, cut into frames anywhere.
func FuzzPipeUplink(f *testing.F) {
	f.Add(marshal(f, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: []byte("hello")}}), 1, 3)
	f.Add(marshal(f, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: "s"}}), 0, 0)
	f.Add([]byte{0x12, 0x80, 0x01}, 2, 2)
	f.Fuzz(func(t *testing.T, wire []byte, cut1, cut2 int) {
		var m pipeUplink
		err := Codec().Unmarshal(split(wire, mem.DefaultBufferPool(), cut1, cut2), &m)
		defer m.release()
		var want sockdv1.PipeRequest
		wantErr := proto.Unmarshal(wire, &want)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("error %v, protobuf says %v", err, wantErr)
		}
		if err != nil {
			return
		}
		got := m.req
		if m.data != nil {
			got = &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: bytes.Join(m.iov(), nil)}}
		}
		if !proto.Equal(got, &want) {
			t.Fatalf("decoded %v, protobuf says %v", got, &want)
		}
	})
}
