package server

import (
	"encoding/binary"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the protobuf codec Codec wraps
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Codec is the daemon's gRPC codec, to be installed with
// grpc.ForceServerCodecV2. It is gRPC's protobuf codec, except that a Pipe's
// bytes are not copied on their way between the transport and the socket:
// the standard codec copies each message twice on receipt (into one buffer,
// then into the message's bytes field) and once on sending, which made
// copying, not the socket, the cost of a Pipe. The wire format is
// protobuf's either way.
func Codec() encoding.CodecV2 {
	return codec{proto: encoding.GetCodecV2("proto")}
}

type codec struct{ proto encoding.CodecV2 }

func (codec) Name() string { return "proto" }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*pipeDownlink); ok {
		return m.encode(), nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*pipeUplink); ok {
		return m.decode(data, c.proto)
	}
	return c.proto.Unmarshal(data, v)
}

// Field numbers of the messages the codec encodes or decodes by hand, from
// their descriptors rather than copied out of the .proto file.
var (
	pipeRequestData  = fieldNumber((&sockdv1.PipeRequest{}).ProtoReflect().Descriptor().Fields().ByName("data").Number())
	pipeResponseData = fieldNumber((&sockdv1.PipeResponse{}).ProtoReflect().Descriptor().Fields().ByName("data").Number())
)

type fieldNumber = protowire.Number

// pipeUplink is a PipeRequest as the Pipe handler receives it. A request
// that holds data and nothing else keeps that data in the transport's
// buffers (data, from skip on), and its receiver must call release; any
// other request is decoded in full into req.
type pipeUplink struct {
	req  *sockdv1.PipeRequest
	data mem.BufferSlice
	skip int // bytes of data before the field's contents: its tag and length
}

// decode takes the fast path only for the exact encoding of a lone data
// field, whose meaning cannot differ from the full decoding's; every other
// message, unknown fields included, goes through protobuf.
func (m *pipeUplink) decode(data mem.BufferSlice, full encoding.CodecV2) error {
	*m = pipeUplink{}
	var head [1 + binary.MaxVarintLen64]byte // a one-byte tag and the length
	n := prefix(data, head[:])
	num, typ, tagLen := protowire.ConsumeTag(head[:n])
	if tagLen > 0 && num == pipeRequestData && typ == protowire.BytesType {
		size, sizeLen := protowire.ConsumeVarint(head[tagLen:n])
		if sizeLen > 0 && size > 0 && uint64(tagLen+sizeLen)+size == uint64(data.Len()) {
			data.Ref()
			m.data, m.skip = data, tagLen+sizeLen
			return nil
		}
	}
	m.req = new(sockdv1.PipeRequest)
	return full.Unmarshal(data, m.req)
}

// iov is the request's data as views of the transport's buffers.
func (m *pipeUplink) iov() [][]byte {
	iov := make([][]byte, 0, len(m.data))
	skip := m.skip
	for _, b := range m.data {
		d := b.ReadOnlyData()
		if skip >= len(d) {
			skip -= len(d)
			continue
		}
		iov = append(iov, d[skip:])
		skip = 0
	}
	return iov
}

// release gives the transport's buffers back.
func (m *pipeUplink) release() {
	if m.data != nil {
		m.data.Free()
		m.data = nil
	}
}

// prefix copies the first bytes of data into buf and says how many.
func prefix(data mem.BufferSlice, buf []byte) int {
	n := 0
	for _, b := range data {
		n += copy(buf[n:], b.ReadOnlyData())
		if n == len(buf) {
			break
		}
	}
	return n
}

// pipeDownlink is a PipeResponse that holds data and nothing else, encoded
// around the data rather than by copying it. The data must not change
// until the transport has written it: Pipe hands it fresh slices.
type pipeDownlink struct{ data []byte }

func (m *pipeDownlink) encode() mem.BufferSlice {
	if len(m.data) == 0 {
		return nil // the empty PipeResponse
	}
	head := protowire.AppendTag(make([]byte, 0, 1+binary.MaxVarintLen64), pipeResponseData, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(len(m.data)))
	return mem.BufferSlice{mem.SliceBuffer(head), mem.SliceBuffer(m.data)}
}
