package server

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// BenchmarkServiceRecv measures what the service adds to a Recv of data
// already in the socket: the handler body bench/recvbench times through gRPC,
// without gRPC. Like engine's BenchmarkRecvReady and BenchmarkRecvRawSyscall
// it reads 64 bytes a plain write(2) put in a local stream socket, so the
// three, run together, show what each layer costs per call.
func BenchmarkServiceRecv(b *testing.B) {
	e, err := engine.New(engine.Config{Loops: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	svc := New(Config{Engine: e})
	p := Principal{Kind: "uid", UID: 1000}
	sess, _, err := svc.sessions.create(p, "", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	defer svc.sessions.end(sess)

	ln, err := e.Open(sess, unix.AF_UNIX, unix.SOCK_STREAM, 0, engine.OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	path := filepath.Join(b.TempDir(), "s")
	if err := ln.Bind(engine.SockAddr{Family: engine.FamilyLocal, Path: []byte(path)}); err != nil {
		b.Fatal(err)
	}
	if err := ln.Listen(1); err != nil {
		b.Fatal(err)
	}
	peerConn, err := net.Dial("unix", path)
	if err != nil {
		b.Fatal(err)
	}
	defer peerConn.Close()
	acc := ln.Accept(context.Background(), sess, engine.Timeout{Kind: engine.WaitInfinity})
	if acc.Err != nil {
		b.Fatal(acc.Err)
	}
	defer acc.Socket.Close()
	sess.adopt(acc.Socket)

	// The context a gRPC call carries: the connection's principal and the
	// session metadata.
	ctx := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: peerAuth{principal: p}})
	ctx = metadata.NewIncomingContext(ctx, metadata.Pairs(SessionMetadataKey, sess.id))
	// Write with a bare write(2), as the engine benchmarks do.
	raw, err := peerConn.(*net.UnixConn).SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	var peerFD int
	raw.Control(func(fd uintptr) { peerFD = int(fd) })
	msg := make([]byte, 64)
	req := &sockdv1.RecvRequest{SocketId: acc.Socket.ID(), Length: int64(len(msg))}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unix.Write(peerFD, msg); err != nil {
			b.Fatal(err)
		}
		resp, err := svc.Recv(ctx, req)
		if err != nil || resp.Error != nil || len(resp.Data) != len(msg) {
			b.Fatalf("recv: %v %v", err, resp)
		}
	}
}
