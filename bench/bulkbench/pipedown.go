package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"

	"google.golang.org/grpc"

	"github.com/sockd/sockd/bench/internal/proc"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// The downlink of Pipe: a local source writes total bytes into a TCP
// connection; the client reads them from the other end, which is
//   - a daemon socket, through a client.Conn (Pipe), as a Go program using
//     sockd reads;
//   - a connection of the bare anchor, which streams what it reads in
//     messages of pipeDownChunk bytes, as much as the daemon reads per
//     PipeResponse;
//   - socat (default block size) relaying it to a unix socket.
// The client reads into a buffer of 256 KiB in all three.

// pipeDownChunk is the daemon's read per PipeResponse (server.pipeChunk).
const pipeDownChunk = 64 << 10

func (b *bench) pipeDownAll(ctx context.Context, total int64) error {
	return b.compare(fmt.Sprintf("pipe down %d MiB", total>>20), "pipe down CPU of the daemon / anchor", total, []path{
		b.throughDaemon("sockd Pipe via client.Conn", "Pipe", func() (float64, error) { return b.pipeDownSockd(ctx, total) }),
		{label: "bare gRPC stream", ratio: "bare", round: "bare", cpu: "bare gRPC server", run: func() (float64, time.Duration, error) { return b.pipeDownBare(total) }},
		{label: "socat", ratio: "socat", round: "socat", run: func() (float64, time.Duration, error) { return b.pipeDownSocat(total) }},
	})
}

// source serves one TCP connection: it writes total bytes in chunks and
// closes it, then reports how that went.
func (b *bench) source(total int64) (string, <-chan error, error) {
	done := make(chan error, 1)
	addr, err := acceptOne(func(c net.Conn) error {
		src, err := newSource(b.chunk, b.endpoints == "zerocopy")
		if err != nil {
			return err
		}
		defer src.close()
		if err := src.sendAll(c, total); err != nil {
			return err
		}
		done <- nil
		return nil
	}, func(err error) { done <- err })
	return addr, done, err
}

// drain reads r to its end and returns MB/s since it began.
func drain(r io.Reader, total int64, source <-chan error) (float64, error) {
	start := time.Now()
	n, err := io.CopyBuffer(io.Discard, r, make([]byte, 256<<10))
	end := time.Now()
	if err != nil {
		return 0, err
	}
	if err := <-source; err != nil {
		return 0, err
	}
	if n != total {
		return 0, fmt.Errorf("read %d bytes, want %d", n, total)
	}
	return float64(n) / end.Sub(start).Seconds() / 1e6, nil
}

func (b *bench) pipeDownSockd(ctx context.Context, total int64) (float64, error) {
	addr, source, err := b.source(total)
	if err != nil {
		return 0, err
	}
	conn, err := b.sess.Dial(ctx, "tcp4", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return drain(conn, total, source)
}

// pipeDownBare returns the bare stream's throughput and the CPU time its
// server used.
func (b *bench) pipeDownBare(total int64) (float64, time.Duration, error) {
	conn, anchor, err := b.startAnchor("bare-down.sock")
	if err != nil {
		return 0, 0, err
	}
	defer proc.Stop(anchor)
	defer conn.Close()
	addr, source, err := b.source(total)
	if err != nil {
		return 0, 0, err
	}
	desc := &grpc.StreamDesc{StreamName: "PipeDown", ClientStreams: true, ServerStreams: true}
	cs, err := conn.NewStream(context.Background(), desc, "/bench.Anchor/PipeDown")
	if err != nil {
		return 0, 0, err
	}
	if err := cs.SendMsg(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: addr}}); err != nil {
		return 0, 0, err
	}
	before := proc.CPUTime(anchor.Process.Pid)
	rate, err := drain(&streamReader{cs: cs}, total, source)
	return rate, proc.CPUTime(anchor.Process.Pid) - before, err
}

// streamReader reads the data of a stream of PipeResponses, as a client of
// a bare gRPC service would.
type streamReader struct {
	cs   grpc.ClientStream
	left []byte
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.left) == 0 {
		m := new(sockdv1.PipeResponse)
		if err := r.cs.RecvMsg(m); err != nil {
			return 0, err // io.EOF when the anchor returns
		}
		r.left = m.GetData()
	}
	n := copy(p, r.left)
	r.left = r.left[n:]
	return n, nil
}

// pipeDownHandler serves bench.Anchor/PipeDown: the first message names a
// TCP address to dial, whose bytes are streamed back in messages of
// pipeDownChunk until its end.
func pipeDownHandler(_ any, ss grpc.ServerStream) error {
	c, err := dialNamed(ss)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, pipeDownChunk)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			// gRPC's codec copies the bytes as it sends: buf can be read
			// into again as soon as SendMsg returns.
			if err := ss.SendMsg(&sockdv1.PipeResponse{Data: buf[:n]}); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// pipeDownSocat returns socat's throughput and the CPU time it used.
func (b *bench) pipeDownSocat(total int64) (float64, time.Duration, error) {
	addr, source, err := b.source(total)
	if err != nil {
		return 0, 0, err
	}
	sock := filepath.Join(b.dir, "socat-down.sock")
	return b.throughSocat(func() (float64, error) {
		c, err := proc.Dial("unix", sock)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return drain(c, total, source)
	}, "-u", "TCP4:"+addr, "UNIX-LISTEN:"+sock)
}
