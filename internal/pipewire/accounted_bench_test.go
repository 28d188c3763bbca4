package pipewire

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// BenchmarkAnswer measures an answer's encoding and its buffer's return, as
// the transport does for every unary call: accounted, against gRPC's own
// protobuf codec.
func BenchmarkAnswer(b *testing.B) {
	for _, size := range []int{64, 4096, 64 << 10} {
		msg := &sockdv1.RecvResponse{Data: make([]byte, size)}
		b.Run(fmt.Sprintf("accounted/%d", size), func(b *testing.B) {
			account := new(countingAccount)
			b.ReportAllocs()
			for b.Loop() {
				data, err := Codec().Marshal(&Accounted{Msg: msg, Account: account})
				if err != nil {
					b.Fatal(err)
				}
				data.Free()
			}
		})
		b.Run(fmt.Sprintf("grpc/%d", size), func(b *testing.B) {
			codec := encoding.GetCodecV2(proto.Name)
			b.ReportAllocs()
			for b.Loop() {
				data, err := codec.Marshal(msg)
				if err != nil {
					b.Fatal(err)
				}
				data.Free()
			}
		})
	}
}
