package server

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// BenchmarkServiceRecv measures what the service adds to a Recv of data
// already in the socket: the handler body bench/recvbench times through gRPC,
// without gRPC. Like engine's BenchmarkRecvReady and BenchmarkRecvRawSyscall
// it reads 64 bytes a plain write(2) put in a local stream socket, so the
// three, run together, show what each layer costs per call.
func BenchmarkServiceRecv(b *testing.B) {
	l := newLive(b, Limits{})
	sock, peerConn := l.connected(b)
	// Write with a bare write(2), as the engine benchmarks do.
	raw, err := peerConn.(*net.UnixConn).SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	var peerFD int
	raw.Control(func(fd uintptr) { peerFD = int(fd) })
	msg := make([]byte, 64)
	req := &sockdv1.RecvRequest{SocketId: sock.ID(), Length: int64(len(msg))}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unix.Write(peerFD, msg); err != nil {
			b.Fatal(err)
		}
		resp, err := l.svc.Recv(l.ctx, req)
		if err != nil || resp.Error != nil || len(resp.Data) != len(msg) {
			b.Fatalf("recv: %v %v", err, resp)
		}
	}
}
