package server

import (
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/internal/pipewire"
	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// A request that does not decode is the daemon's INVALID_ARGUMENT with its
// ErrorInfo, not gRPC's INTERNAL ("the daemon is broken"); one with too many
// fields is RESOURCE_EXHAUSTED; a good one decodes as protobuf decodes it.
func TestCodecRefusesMalformedRequests(t *testing.T) {
	badUTF8 := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "\xff\xfe")
	var tooMany []byte
	for range MaxRequestFields + 1 {
		tooMany = protowire.AppendTag(tooMany, 3, protowire.BytesType) // SendMsgRequest.iov
		tooMany = protowire.AppendBytes(tooMany, nil)
	}
	for _, c := range []struct {
		name   string
		wire   []byte
		into   func() any
		code   codes.Code
		reason string
	}{
		{"truncated varint", []byte{0x08, 0xff}, func() any { return new(sockdv1.InfoRequest) }, codes.InvalidArgument, reasons.MalformedRequest},
		{"invalid UTF-8", badUTF8, func() any { return new(sockdv1.InfoRequest) }, codes.InvalidArgument, reasons.MalformedRequest},
		{"bad wire type", []byte{0xff, 0xff, 0xff, 0xff}, func() any { return new(sockdv1.CreateSessionRequest) }, codes.InvalidArgument, reasons.MalformedRequest},
		{"pipe request", []byte{0x0a, 0x05, 'a'}, func() any { return new(pipewire.Request) }, codes.InvalidArgument, reasons.MalformedRequest},
		{"too many fields", tooMany, func() any { return new(sockdv1.SendMsgRequest) }, codes.ResourceExhausted, reasons.RequestTooComplex},
		{"good", protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "ab"), func() any { return new(sockdv1.InfoRequest) }, codes.OK, ""},
	} {
		v := c.into()
		if err := codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(c.wire)}, v); err != nil {
			t.Errorf("%s: Unmarshal = %v, want the request marked instead", c.name, err)
			continue
		}
		err := refusedByCodec(v)
		if status.Code(err) != c.code || (err != nil && reasonOf(err) != c.reason) {
			t.Errorf("%s: refusedByCodec = %v, want %v %s", c.name, err, c.code, c.reason)
		}
	}
	var good sockdv1.InfoRequest
	codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "ab"))}, &good)
	if good.GetSocketId() != "ab" || len(good.ProtoReflect().GetUnknown()) != 0 {
		t.Errorf("good request decoded as %v", &good)
	}
}

// FuzzCodec: whatever a client sends, the daemon's codec decodes it as
// protobuf does, or marks it refused with a status of the daemon's own; it
// never fails in a way gRPC would answer INTERNAL, and never panics.
func FuzzCodec(f *testing.F) {
	for _, m := range []proto.Message{
		&sockdv1.InfoRequest{SocketId: "00112233445566778899aabbccddeeff"},
		&sockdv1.SendMsgRequest{SocketId: "x", Iov: [][]byte{[]byte("a"), nil}},
		&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: []byte("data")}},
		&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: "s"}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Fuzz(func(t *testing.T, wire []byte, pipe bool) {
		var v any = new(sockdv1.SendMsgRequest)
		if pipe {
			v = new(pipewire.Request)
		}
		if err := codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, v); err != nil {
			t.Fatalf("Unmarshal = %v: gRPC would answer INTERNAL", err)
		}
		if err := refusedByCodec(v); err != nil {
			if c := status.Code(err); c != codes.InvalidArgument && c != codes.ResourceExhausted {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		var want sockdv1.SendMsgRequest
		if !pipe && proto.Unmarshal(wire, &want) == nil && !proto.Equal(v.(proto.Message), &want) {
			t.Fatalf("decoded %v, protobuf decodes %v", v, &want)
		}
	})
}

// reasonOf is the ErrorInfo reason of a status error, "" if it has none.
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}
