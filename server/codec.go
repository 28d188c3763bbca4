package server

import (
	"bytes"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/internal/pipewire"
	"github.com/sockd/sockd/internal/wirelimit"
)

// MaxRequestFields bounds the fields and list elements of one request, at
// every depth. A request within the message size limit could otherwise
// decode into far more memory than it is (a SendMsg of millions of empty
// iov entries: hundreds of megabytes from 16 MiB), before any handler, quota
// or policy could look at it. sockd's largest sensible requests (a SendMsg
// of IOV_MAX pieces and its control messages) have a few thousand.
const MaxRequestFields = 1 << 16

// Codec is the daemon's gRPC codec: pipewire's (Pipe data stays in the
// transport's buffers), with every other request counted by wirelimit
// before it is decoded. Install it with grpc.ForceServerCodecV2, together
// with the Service's interceptors, which answer a request it refused.
func Codec() encoding.CodecV2 { return boundedCodec{pipewire.Codec()} }

type boundedCodec struct{ encoding.CodecV2 }

func (c boundedCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok { // pipewire's Request and Response
		return c.CodecV2.Unmarshal(data, v)
	}
	// As gRPC's protobuf codec does, once the bytes are counted.
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	var tooMany *wirelimit.TooManyError
	if err := wirelimit.Check(b, m.ProtoReflect().Descriptor(), MaxRequestFields); errors.As(err, &tooMany) {
		// An error here would reach the client as gRPC's INTERNAL, the
		// status of a message that does not decode. The request is left
		// empty but for a mark the interceptors answer with the daemon's
		// own status.
		m.ProtoReflect().SetUnknown(refusedMark)
		return nil
	}
	return proto.Unmarshal(b, m)
}

// refusedMark is the unknown field the codec leaves in a request it did not
// decode. A client that sends it has its request refused, nothing more.
var refusedMark = protowire.AppendBytes(protowire.AppendTag(nil, protowire.MaxValidNumber, protowire.BytesType), []byte("sockd: too many fields"))

// refusedByCodec reports a request the codec did not decode, with the
// status to answer it with.
func refusedByCodec(req any) error {
	m, ok := req.(proto.Message)
	if !ok || !bytes.Equal(m.ProtoReflect().GetUnknown(), refusedMark) {
		return nil
	}
	return statusError(codes.ResourceExhausted, reasonRequestTooComplex,
		fmt.Sprintf("the request has more than %d fields and list elements", MaxRequestFields),
		map[string]string{"limit": fmt.Sprint(MaxRequestFields)}, nil)
}

// checkedStream answers a streamed request the codec did not decode.
type checkedStream struct{ grpc.ServerStream }

func (s checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return refusedByCodec(m)
}
