// Package pipewire is the gRPC codec of sockd's Pipe streams, used by the
// daemon and by the client's net.Conn. It writes and reads protobuf's wire
// format, but a Pipe message that holds data and nothing else is neither
// copied into a message on receipt nor copied out of one on sending: its
// bytes stay in gRPC's transport buffers (received) or in the sender's
// slice (sent). gRPC's protobuf codec copies received bytes twice (into one
// buffer, then into the message's bytes field) and sent bytes once, which
// made copying, not the socket, the cost of a Pipe. Every other message is
// left to protobuf.
package pipewire

import (
	"encoding/binary"

	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the protobuf codec this one extends
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/internal/inflight"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// TransportBuffer is the size of the HTTP/2 read and write buffers the
// daemon and its client both use. gRPC's 32 KiB default costs a Pipe about
// 10% of its throughput with large messages (BENCHMARKS.md). gRPC shares
// write buffers (releasing them after each flush), and takes a read buffer
// only while the connection has bytes (on the daemon, inflight.Conn does),
// so that an idle connection holds neither.
const TransportBuffer = 128 << 10

// StreamWindow is the daemon's HTTP/2 receive window per stream: what a
// client may send on a stream before the daemon reads it, such as a Pipe's
// bytes while its socket takes nothing, held by the daemon uncounted, and
// in small frames at several times its size (a reviewer measured 3.8 MiB
// of heap for a 1 MiB window of 1 KiB writes). A fixed window turns off
// gRPC's BDP estimation, which may grow every stream's window to 16 MiB on
// a connection that moves much. Pipe uploads are as fast with it
// (bulkbench -only pipe, alternating with the estimating build: 866 and
// 831 MB/s against 709 and 834), and with 256 KiB as with 1 MiB (686 and
// 652 against 623 and 631).
const StreamWindow = 256 << 10

// ConnWindow is the daemon's HTTP/2 receive window per connection. gRPC
// gives it back as bytes arrive, not as they are read, so it bounds no
// memory: it is large so that streams do not wait on each other.
const ConnWindow = 16 << 20

// MaxRequest is the largest request the daemon accepts: gRPC's 4 MiB
// default and room for a request's envelope around 4 MiB of data. gRPC
// reads a request whole before any of the daemon's checks: what a client's
// unfinished requests hold is bounded apart (internal/inflight), and each
// may hold this much; 16 MiB let one stalled stream hold 17 MB.
const MaxRequest = 4<<20 + 64<<10

// MaxAnswer is the largest answer the daemon sends and its client takes.
// Answers stay within gRPC's 4 MiB default, which other clients keep,
// except WhichSockets of more than about 120,000 sockets (34 bytes each),
// which the daemon may have where descriptors allow: the shipped systemd
// unit's 1,048,576 give 943,719 sockets, 32 MB of ids. 64 MiB holds two
// million.
const MaxAnswer = 64 << 20

// Codec returns the codec: gRPC's protobuf codec, plus the fast paths of
// Outgoing, Request and Response, and the accounting of Accounted. Install
// it with grpc.ForceServerCodecV2 on a server or grpc.ForceCodecV2 on a call.
func Codec() encoding.CodecV2 { return codec{proto: encoding.GetCodecV2("proto")} }

type codec struct{ proto encoding.CodecV2 }

func (codec) Name() string { return "proto" }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *Outgoing:
		return m.encode(), nil
	case *Accounted:
		return m.encode()
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(decoder); ok {
		return m.decode(data, c.proto)
	}
	return c.proto.Unmarshal(data, v)
}

// The data fields, from the messages' descriptors rather than copied out of
// the .proto file.
var (
	requestData  = (&sockdv1.PipeRequest{}).ProtoReflect().Descriptor().Fields().ByName("data").Number()
	responseData = (&sockdv1.PipeResponse{}).ProtoReflect().Descriptor().Fields().ByName("data").Number()
)

// Outgoing is a data-only Pipe message to send, encoded around its bytes:
// they must not change until the transport has written them, which may be
// after SendMsg returns. Give it slices nobody writes to again, or a
// mem.Buffer, which the transport frees when it is done with it.
type Outgoing struct {
	field protowire.Number
	data  mem.Buffer
}

// RequestBuffer is a client's PipeRequest{data}; sending it hands data over
// to gRPC.
func RequestBuffer(data mem.Buffer) *Outgoing { return &Outgoing{field: requestData, data: data} }

// ResponseBuffer is the daemon's PipeResponse{data}; sending it hands data
// over to gRPC.
func ResponseBuffer(data mem.Buffer) *Outgoing { return &Outgoing{field: responseData, data: data} }

// encode writes the field even when empty: PipeRequest's data is a oneof
// member, whose presence is its meaning (protobuf writes it too); for
// PipeResponse's plain field an empty one decodes as none, as protobuf
// would leave it out.
func (m *Outgoing) encode() mem.BufferSlice {
	head := protowire.AppendTag(make([]byte, 0, 1+binary.MaxVarintLen64), m.field, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(m.data.Len()))
	if m.data.Len() == 0 {
		m.data.Free()
		return mem.BufferSlice{mem.SliceBuffer(head)}
	}
	return mem.BufferSlice{mem.SliceBuffer(head), m.data}
}

// decoder is a received message the codec fills.
type decoder interface {
	decode(data mem.BufferSlice, full encoding.CodecV2) error
}

// Request is a PipeRequest as the daemon receives it: a data-only request
// keeps its data in the transport's buffers (Data), any other is decoded in
// full into Msg.
type Request struct {
	Msg *sockdv1.PipeRequest
	Data
	size int
}

// Size is the request's size as decoded (without its gRPC prefix): as it
// came, unless it came compressed.
func (r *Request) Size() int { return r.size }

func (r *Request) decode(data mem.BufferSlice, full encoding.CodecV2) (err error) {
	*r = Request{size: data.Len()}
	r.Msg, err = decodeMessage[sockdv1.PipeRequest](&r.Data, data, requestData, full)
	return err
}

// Response is a PipeResponse as a client receives it: a data-only response
// keeps its data in the transport's buffers (Data), any other is decoded in
// full into Msg.
type Response struct {
	Msg *sockdv1.PipeResponse
	Data
}

func (r *Response) decode(data mem.BufferSlice, full encoding.CodecV2) (err error) {
	*r = Response{}
	r.Msg, err = decodeMessage[sockdv1.PipeResponse](&r.Data, data, responseData, full)
	return err
}

// decodeMessage leaves a data-only message's data in the transport's
// buffers (d), and decodes any other in full into a new message.
func decodeMessage[M any, P interface {
	*M
	proto.Message
}](d *Data, data mem.BufferSlice, field protowire.Number, full encoding.CodecV2) (P, error) {
	if d.take(data, field) {
		return nil, nil
	}
	msg := P(new(M))
	return msg, full.Unmarshal(data, msg)
}

// Data is a received message's data left in the transport's buffers. Its
// holder gives them back with Release (or leaves them to the garbage
// collector, which only costs the pool its buffers).
type Data struct {
	held bool
	bufs mem.BufferSlice // the buffers that still hold unread data
	skip int             // bytes of bufs[0] already consumed
}

// DataOf is b as Data, for data that came in a message decoded in full.
func DataOf(b []byte) Data {
	if len(b) == 0 {
		return Data{}
	}
	return Data{bufs: mem.BufferSlice{mem.SliceBuffer(b)}}
}

// take holds on to data if it is the exact encoding of a lone bytes field
// number field, whose meaning cannot differ from a full decoding's.
func (d *Data) take(data mem.BufferSlice, field protowire.Number) bool {
	var head [1 + binary.MaxVarintLen64]byte // a one-byte tag and the length
	n := prefix(data, head[:])
	num, typ, tagLen := protowire.ConsumeTag(head[:n])
	if tagLen <= 0 || num != field || typ != protowire.BytesType {
		return false
	}
	size, sizeLen := protowire.ConsumeVarint(head[tagLen:n])
	if sizeLen <= 0 || size == 0 || uint64(tagLen+sizeLen)+size != uint64(data.Len()) {
		return false
	}
	if len(data) > 1 && heldCost(data) > 2*int64(data.Len()) {
		// Small frames: each is a buffer of its own, with its bookkeeping,
		// up to many times its bytes, which a Pipe's count of the data it
		// holds would not see. One copy holds the bytes alone.
		d.held, d.bufs = true, mem.BufferSlice{mem.SliceBuffer(data.Materialize())}
	} else {
		data.Ref()
		d.held, d.bufs = true, data
	}
	d.consume(tagLen + sizeLen)
	return true
}

// heldCost is what the transport's buffers of a message cost: more than
// twice its bytes, and take copies them out. A client that sends a message
// in frames of a byte each made a pipe hold 200 MB for 600 KiB of data, and
// frames just over a power of two take buffers twice their size (with
// gRPC's default pool, frames just over 4 KiB took 16 KiB buffers: 4 pipes
// held 65 MiB for 16 MiB); gRPC's own clients send 16 KiB frames but the
// last, which costs them nothing near twice.
func heldCost(data mem.BufferSlice) int64 {
	var cost int64
	for _, b := range data {
		cost += inflight.FrameCost(b.Len())
	}
	return cost
}

// consume drops n bytes from the front, giving back the buffers emptied.
func (d *Data) consume(n int) {
	d.skip += n
	for len(d.bufs) > 0 && d.skip >= d.bufs[0].Len() {
		d.skip -= d.bufs[0].Len()
		d.bufs[0].Free()
		d.bufs = d.bufs[1:]
	}
}

// Held reports whether the message was data-only, its data held here.
func (d *Data) Held() bool { return d.held }

// Len is the unread data's length.
func (d *Data) Len() int { return d.bufs.Len() - d.skip }

// Iov is the unread data as views of the transport's buffers, valid until
// Release.
func (d *Data) Iov() [][]byte {
	iov := make([][]byte, 0, len(d.bufs))
	for i, b := range d.bufs {
		p := b.ReadOnlyData()
		if i == 0 {
			p = p[d.skip:]
		}
		iov = append(iov, p)
	}
	return iov
}

// Read moves unread data into p and returns how much.
func (d *Data) Read(p []byte) int {
	n := 0
	for n < len(p) && len(d.bufs) > 0 {
		c := copy(p[n:], d.bufs[0].ReadOnlyData()[d.skip:])
		n += c
		d.consume(c)
	}
	return n
}

// Release gives the transport's buffers back; no data is left.
func (d *Data) Release() {
	d.bufs.Free()
	d.bufs, d.skip = nil, 0
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
