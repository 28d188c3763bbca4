// Command recvbench measures sockd's per-call cost: a Recv of data that is
// already in the socket (so the operation never waits), against its anchor, a
// bare gRPC unary call answering the same payload size on the same kind of
// listener (a unix socket). Both servers run as separate processes and are
// measured in one run, with 1 and 32 concurrent callers.
//
//	go build -o bin/ ./cmd/sockd ./bench/recvbench
//	bin/recvbench -sockd bin/sockd -size 64,4096 -callers 1,32 -duration 2s -rounds 5
//
// With -against, it compares two sockd builds instead, measured at the same
// time (runAgainst): what a change costs, to a percent.
//
//	bin/recvbench -sockd bin/sockd -against /tmp/sockd.before -size 64 -callers 1,16 -rounds 8
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sockd/sockd/bench/internal/proc"
	"github.com/sockd/sockd/bench/internal/stat"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func main() {
	var (
		sockdPath = flag.String("sockd", "bin/sockd", "the sockd binary")
		sizes     = flag.String("size", "64,4096", "payload sizes in bytes, comma-separated")
		callers   = flag.String("callers", "1,32", "concurrent callers, comma-separated")
		duration  = flag.Duration("duration", 2*time.Second, "measuring time per case and round")
		rounds    = flag.Int("rounds", 5, "rounds per case, sockd and the anchor taking turns; medians are reported")
		serveBare = flag.String("serve-bare", "", "internal: serve the bare anchor on this unix socket path")
		against   = flag.String("against", "", "another sockd binary to compare -sockd with, both measured at the same time, instead of the anchor")
	)
	flag.Parse()
	if *serveBare != "" {
		if err := serveAnchor(*serveBare); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	measure := run
	if *against != "" {
		measure = func(sockdPath string, sizes, callers []int, d time.Duration, rounds int) error {
			return runAgainst(sockdPath, *against, sizes, callers, d, rounds)
		}
	}
	if err := measure(*sockdPath, ints(*sizes), ints(*callers), *duration, max(1, *rounds)); err != nil {
		fmt.Fprintln(os.Stderr, "recvbench:", err)
		os.Exit(1)
	}
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bad number %q\n", f)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

func run(sockdPath string, sizes, callers []int, d time.Duration, rounds int) error {
	dir, err := os.MkdirTemp("", "recvbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	sockdSock := filepath.Join(dir, "sockd.sock")
	bareSock := filepath.Join(dir, "bare.sock")
	sockd := exec.Command(sockdPath, "--listen", "unix://"+sockdSock, "--log-level", "warn")
	if err := proc.Start(sockd, "unix", sockdSock); err != nil {
		return err
	}
	defer proc.Stop(sockd)
	anchor, err := proc.AnchorBinary(dir)
	if err != nil {
		return err
	}
	bare := exec.Command(anchor, "-serve-bare", bareSock)
	if err := proc.Start(bare, "unix", bareSock); err != nil {
		return err
	}
	defer proc.Stop(bare)

	fmt.Printf("%-5s %-7s %12s %12s %6s %10s %10s %6s %12s %12s %11s %11s  %s\n", "size", "callers", "sockd ops/s", "bare ops/s", "ratio",
		"sockd p50", "bare p50", "ratio", "sockd cpu/op", "bare cpu/op", "sockd cs/op", "bare cs/op", "ratios per round (rate/p50)")
	for _, size := range sizes {
		for _, n := range callers {
			// sockd and the anchor take turns, round after round, so that a
			// slow moment of the machine falls on both alike; every column
			// is the median over the rounds.
			var sr, br, sp, bp, sc, bc, ss, bs, rateRatio, p50Ratio []float64
			var perRound []string
			for range rounds {
				before, switches := proc.CPUTime(sockd.Process.Pid), proc.Switches(sockd.Process.Pid)
				s, err := measureSockd(sockdSock, size, n, d)
				if err != nil {
					return err
				}
				sc = append(sc, float64((proc.CPUTime(sockd.Process.Pid)-before)/time.Duration(s.rate*d.Seconds())))
				ss = append(ss, float64(proc.Switches(sockd.Process.Pid)-switches)/(s.rate*d.Seconds()))
				before, switches = proc.CPUTime(bare.Process.Pid), proc.Switches(bare.Process.Pid)
				b, err := measureBare(bareSock, size, n, d)
				if err != nil {
					return err
				}
				bc = append(bc, float64((proc.CPUTime(bare.Process.Pid)-before)/time.Duration(b.rate*d.Seconds())))
				bs = append(bs, float64(proc.Switches(bare.Process.Pid)-switches)/(b.rate*d.Seconds()))
				sr, br = append(sr, s.rate), append(br, b.rate)
				sp, bp = append(sp, float64(s.p50)), append(bp, float64(b.p50))
				rateRatio = append(rateRatio, s.rate/b.rate)
				p50Ratio = append(p50Ratio, float64(s.p50)/float64(b.p50))
				perRound = append(perRound, fmt.Sprintf("%.2f/%.2f", s.rate/b.rate, float64(s.p50)/float64(b.p50)))
			}
			us := func(ns float64) time.Duration { return time.Duration(ns).Round(time.Microsecond / 10) }
			fmt.Printf("%-5d %-7d %12.0f %12.0f %6.2f %10v %10v %6.2f %12v %12v %11.1f %11.1f  %s\n", size, n,
				stat.Median(sr), stat.Median(br), stat.Median(rateRatio), us(stat.Median(sp)), us(stat.Median(bp)), stat.Median(p50Ratio),
				us(stat.Median(sc)), us(stat.Median(bc)), stat.Median(ss), stat.Median(bs), strings.Join(perRound, " "))
		}
	}
	return nil
}

type result struct {
	rate float64
	p50  time.Duration
}

// measure runs call from n goroutines for d and reports the rate and median latency.
func measure(n int, d time.Duration, call func(worker int) error) (result, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		lat   []time.Duration
		first error
	)
	deadline := time.Now().Add(d)
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1<<16)
			for time.Now().Before(deadline) {
				start := time.Now()
				if err := call(w); err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				local = append(local, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if first != nil {
		return result{}, first
	}
	slices.Sort(lat)
	return result{rate: float64(len(lat)) / d.Seconds(), p50: lat[len(lat)/2]}, nil
}

func dial(sock string) (*grpc.ClientConn, error) {
	return grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// measureSockd gives each caller its own accepted TCP socket in sockd, kept
// full by a local writer, and times Recv(length = size) on it.
func measureSockd(sock string, size, n int, d time.Duration) (result, error) {
	conn, err := dial(sock)
	if err != nil {
		return result{}, err
	}
	defer conn.Close()
	api := sockdv1.NewSocketServiceClient(conn)
	sess, err := api.CreateSession(context.Background(), &sockdv1.CreateSessionRequest{})
	if err != nil {
		return result{}, err
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "sockd-session", sess.SessionId)
	defer api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: sess.SessionId})

	lsn, port, err := sockdListener(ctx, api)
	if err != nil {
		return result{}, err
	}
	stopFeed := make(chan struct{})
	var feeders sync.WaitGroup
	defer func() { close(stopFeed); feeders.Wait() }()
	ids := make([]string, n)
	for i := range ids {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return result{}, err
		}
		acc, err := api.Accept(ctx, &sockdv1.AcceptRequest{SocketId: lsn})
		if err != nil || acc.Error != nil {
			return result{}, fmt.Errorf("accept: %v %v", err, acc.GetError())
		}
		ids[i] = acc.SocketId
		feeders.Add(1)
		go func() {
			defer feeders.Done()
			defer c.Close()
			feed(c, stopFeed)
		}()
	}
	// Let the feeders fill the socket buffers before timing.
	time.Sleep(100 * time.Millisecond)
	return measure(n, d, func(w int) error {
		resp, err := api.Recv(ctx, &sockdv1.RecvRequest{SocketId: ids[w], Length: int64(size)})
		if err != nil {
			return err
		}
		if resp.Error != nil || len(resp.Data) != size {
			return fmt.Errorf("recv: %v, %d bytes", resp.Error, len(resp.Data))
		}
		return nil
	})
}

func sockdListener(ctx context.Context, api sockdv1.SocketServiceClient) (string, uint32, error) {
	open, err := api.Open(ctx, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM, Protocol: sockdv1.Protocol_PROTOCOL_TCP})
	if err != nil || open.Error != nil {
		return "", 0, fmt.Errorf("open: %v %v", err, open.GetError())
	}
	loopback := &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet{Inet: &sockdv1.InetAddr{Host: &sockdv1.InetAddr_Shortcut{Shortcut: sockdv1.AddrShortcut_ADDR_SHORTCUT_LOOPBACK}}}}
	if r, err := api.Bind(ctx, &sockdv1.BindRequest{SocketId: open.SocketId, Address: loopback}); err != nil || r.Error != nil {
		return "", 0, fmt.Errorf("bind: %v %v", err, r.GetError())
	}
	backlog := int32(128)
	if r, err := api.Listen(ctx, &sockdv1.ListenRequest{SocketId: open.SocketId, Backlog: &backlog}); err != nil || r.Error != nil {
		return "", 0, fmt.Errorf("listen: %v %v", err, r.GetError())
	}
	name, err := api.SockName(ctx, &sockdv1.SockNameRequest{SocketId: open.SocketId})
	if err != nil || name.Error != nil {
		return "", 0, fmt.Errorf("sockname: %v %v", err, name.GetError())
	}
	return open.SocketId, name.GetAddress().GetInet().GetPort(), nil
}

// feed keeps writing until stopped; the kernel's buffers hold the backlog.
func feed(w io.Writer, stop <-chan struct{}) {
	buf := make([]byte, 64<<10)
	for {
		select {
		case <-stop:
			return
		default:
		}
		if c, ok := w.(net.Conn); ok {
			c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		}
		if _, err := w.Write(buf); err != nil && !isTimeout(err) {
			return
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// measureBare times a unary call that answers size bytes.
func measureBare(sock string, size, n int, d time.Duration) (result, error) {
	conn, err := dial(sock)
	if err != nil {
		return result{}, err
	}
	defer conn.Close()
	req := wrapperspb.UInt32(uint32(size))
	return measure(n, d, func(int) error {
		resp := new(wrapperspb.BytesValue)
		if err := conn.Invoke(context.Background(), "/bench.Anchor/Get", req, resp); err != nil {
			return err
		}
		if len(resp.Value) != size {
			return fmt.Errorf("anchor answered %d bytes", len(resp.Value))
		}
		return nil
	})
}

// serveAnchor serves bench.Anchor/Get: a unary call that answers as many bytes
// as asked, the least a gRPC daemon can do per call.
func serveAnchor(path string) error {
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	// The same worker pool sockd runs with, so the two servers differ only in
	// what a call does.
	g := grpc.NewServer(grpc.NumStreamWorkers(64))
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: "bench.Anchor",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Get",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				req := new(wrapperspb.UInt32Value)
				if err := dec(req); err != nil {
					return nil, err
				}
				return wrapperspb.Bytes(make([]byte, req.Value)), nil
			},
		}},
	}, struct{}{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
		g.Stop()
	}()
	return g.Serve(l)
}
