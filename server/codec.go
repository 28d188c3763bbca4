package server

import (
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/internal/pipewire"
	"github.com/sockd/sockd/internal/wirelimit"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// MaxRequestFields bounds the fields and list elements of one request, at
// every depth. A request within the message size limit could otherwise
// decode into far more memory than it is (a SendMsg of millions of empty
// iov entries: hundreds of megabytes from 16 MiB, the limit then), before any handler, quota
// or policy could look at it. sockd's largest sensible requests (a SendMsg
// of IOV_MAX pieces and its control messages) have a few thousand.
const MaxRequestFields = 1 << 16

// boundedCodec is the daemon's gRPC codec: pipewire's (Pipe data stays in
// the transport's buffers), with every other request counted by wirelimit
// before it is decoded. The service's interceptors answer a request it
// refused (ServerOptions installs both).
type boundedCodec struct{ encoding.CodecV2 }

func codec() encoding.CodecV2 { return boundedCodec{pipewire.Codec()} }

func (c boundedCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok { // pipewire's Request and Response
		err := c.CodecV2.Unmarshal(data, v)
		if r, ok := v.(*pipewire.Request); ok && err != nil {
			r.Msg = new(sockdv1.PipeRequest)
			markRefused(r.Msg, refusedMalformed, err)
			return nil
		}
		return err
	}
	// As gRPC's protobuf codec does, once the bytes are counted.
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	var tooMany *wirelimit.TooManyError
	if err := wirelimit.Check(b, m.ProtoReflect().Descriptor(), MaxRequestFields); errors.As(err, &tooMany) {
		markRefused(m, refusedTooComplex, nil)
		return nil
	}
	if err := proto.Unmarshal(b, m); err != nil {
		markRefused(m, refusedMalformed, err)
	}
	return nil
}

// A request the codec refuses is left empty but for a mark, an unknown field
// the interceptors answer with the daemon's own status: an error from the
// codec would reach the client as gRPC's INTERNAL, which says the daemon is
// broken, without the ErrorInfo every status of sockd's carries. A client
// that sends the mark itself has its request refused, nothing more.
const (
	refusedTooComplex = "sockd: too many fields"
	refusedMalformed  = "sockd: malformed: "
)

// markRefused empties m and marks it refused for reason (and err).
func markRefused(m proto.Message, reason string, err error) {
	proto.Reset(m)
	why := reason
	if err != nil {
		why += err.Error()
	}
	m.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, protowire.MaxValidNumber, protowire.BytesType), []byte(why)))
}

// refusedByCodec reports a request the codec did not decode, with the
// status to answer it with.
func refusedByCodec(req any) error {
	if r, ok := req.(*pipewire.Request); ok {
		if r.Msg == nil {
			return nil
		}
		req = r.Msg
	}
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	why, ok := refusal(m.ProtoReflect().GetUnknown())
	switch {
	case !ok:
		return nil
	case why == refusedTooComplex:
		return requestTooComplex()
	}
	return malformedRequest(string(m.ProtoReflect().Descriptor().FullName()), strings.TrimPrefix(why, refusedMalformed))
}

// refusal returns the reason of a refusal mark, if unknown is one.
func refusal(unknown []byte) (string, bool) {
	num, typ, n := protowire.ConsumeTag(unknown)
	if n < 0 || num != protowire.MaxValidNumber || typ != protowire.BytesType {
		return "", false
	}
	why, m := protowire.ConsumeBytes(unknown[n:])
	if m < 0 || n+m != len(unknown) {
		return "", false
	}
	if s := string(why); s == refusedTooComplex || strings.HasPrefix(s, refusedMalformed) {
		return s, true
	}
	return "", false
}

// checkedStream answers a streamed request the codec did not decode.
type checkedStream struct{ grpc.ServerStream }

func (s checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return refusedByCodec(m)
}
