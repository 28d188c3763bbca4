package server

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// BenchmarkServiceRecv measures what the service adds to a Recv of data
// already in the socket: the handler body bench/recvbench times through gRPC,
// without gRPC. It reads 64 bytes at a time from a local stream socket that
// a plain write(2) filled; engine's BenchmarkRecvReady and
// BenchmarkRecvRawSyscall, run with it, show what the layers below cost.
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
	// The socket holds a backlog, as recvbench's feeders keep it full: a
	// write per recv would add an epoll edge, and its wakeup, to each.
	backlog := make([]byte, 1024*len(msg))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%1024 == 0 {
			if _, err := unix.Write(peerFD, backlog); err != nil {
				b.Fatal(err)
			}
		}
		resp, err := l.svc.Recv(l.ctx, req)
		if err != nil || resp.Error != nil || len(resp.Data) != len(msg) {
			b.Fatalf("recv: %v %v", err, resp)
		}
	}
}
