// Command bulkbench measures issue 5's paths, each against its anchor in the
// same run:
//
//   - echo: round trips per second of a nowait recv in completion mode
//     against select mode, to a local echo server;
//   - pipe: Pipe throughput into a local sink, against a bare gRPC
//     bidirectional stream doing the same writes on the same kind of
//     listener, and against socat (default block size) relaying the same
//     bytes from a unix socket;
//   - pipedown: the other direction, from a local source through
//     client.Conn's reads, against the same two anchors (pipedown.go);
//   - relay: Relay throughput between two loopback TCP connections, against
//     socat -b 65536 and against a direct loopback connection.
//
// Run it with:
//
//	go build -o bin/ ./cmd/sockd ./bench/bulkbench
//	bin/bulkbench -sockd bin/sockd
package main

import (
	"context"
	"errors"
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
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/sockd/sockd/bench/internal/proc"
	"github.com/sockd/sockd/bench/internal/stat"
	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/internal/pipewire"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func main() {
	var (
		sockdPath  = flag.String("sockd", "bin/sockd", "the sockd binary")
		socat      = flag.String("socat", "socat", "the socat binary")
		echoFor    = flag.Duration("echo-duration", time.Second, "measuring time per echo mode and round")
		echoSize   = flag.Int("echo-size", 64, "echo message size in bytes")
		pipeBytes  = flag.Int64("pipe-bytes", 512<<20, "bytes through each pipe path")
		chunk      = flag.Int("chunk", 1<<20, "bytes per Pipe message and per write")
		relayBytes = flag.Int64("relay-bytes", 2<<30, "bytes through each relay path")
		echoRTT    = flag.Duration("echo-rtt", time.Millisecond, "also run the echo comparison with a client this round trip away (0: skip)")
		rounds     = flag.Int("rounds", 5, "rounds of each comparison, its paths taking turns; medians are reported")
		endpoints  = flag.String("endpoints", "copy", "the writer and sink: copy (write, read), discard (write, recv MSG_TRUNC) or zerocopy (sendfile, recv MSG_TRUNC)")
		only       = flag.String("only", "echo,pipe,pipedown,relay", "the comparisons to run")
		serveBare  = flag.String("serve-bare", "", "internal: serve the bare stream anchor on this unix socket path")
	)
	flag.Parse()
	if !slices.Contains([]string{"copy", "discard", "zerocopy"}, *endpoints) {
		fmt.Fprintf(os.Stderr, "bulkbench: -endpoints %q: want copy, discard or zerocopy\n", *endpoints)
		os.Exit(2)
	}
	if *serveBare != "" {
		if err := serveAnchor(*serveBare); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	b := &bench{sockdPath: *sockdPath, socat: *socat, chunk: *chunk, echoRTT: *echoRTT, only: *only, rounds: max(1, *rounds), endpoints: *endpoints}
	if err := b.run(*echoFor, *echoSize, *pipeBytes, *relayBytes); err != nil {
		fmt.Fprintln(os.Stderr, "bulkbench:", err)
		os.Exit(1)
	}
}

type bench struct {
	sockdPath, socat string
	chunk            int
	echoRTT          time.Duration
	only             string // comma-separated: echo, pipe, relay
	rounds           int
	endpoints        string // how the writer and sink move bytes (endpoints.go)
	dir              string
	sockdPid         int
	sess             *client.Session
	api              sockdv1.SocketServiceClient
	lastEvent        uint64 // the session's events seen so far
	anchorBin        string // the anchors' copy of this executable (proc.AnchorBinary)
}

func (b *bench) run(echoFor time.Duration, echoSize int, pipeBytes, relayBytes int64) error {
	dir, err := os.MkdirTemp("", "bulkbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b.dir = dir
	sockdSock := filepath.Join(dir, "sockd.sock")
	sockd := exec.Command(b.sockdPath, "--listen", "unix://"+sockdSock, "--log-level", "warn")
	if err := proc.Start(sockd, "unix", sockdSock); err != nil {
		return err
	}
	defer proc.Stop(sockd)
	b.sockdPid = sockd.Process.Pid
	ctx := context.Background()
	c, err := client.Dial(ctx, "unix://"+sockdSock)
	if err != nil {
		return err
	}
	defer c.Close()
	b.api = c.Raw()
	if b.sess, err = c.CreateSession(ctx, "", time.Minute); err != nil {
		return err
	}
	b.lastEvent = b.sess.LastSequence()
	defer b.sess.Close(ctx)

	if b.runs("echo") {
		if err := b.echoAll(ctx, sockdSock, echoFor, echoSize); err != nil {
			return err
		}
	}
	if b.runs("pipe") {
		if err := b.pipeAll(ctx, pipeBytes); err != nil {
			return err
		}
	}
	if b.runs("pipedown") {
		if err := b.pipeDownAll(ctx, pipeBytes); err != nil {
			return err
		}
	}
	if b.runs("relay") {
		if err := b.relayAll(ctx, relayBytes); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) runs(section string) bool {
	return slices.Contains(strings.Split(b.only, ","), section)
}

func (b *bench) echoAll(ctx context.Context, sockdSock string, echoFor time.Duration, echoSize int) error {
	loopback := func() (sel, comp echoRun, err error) {
		if sel, err = b.echo(ctx, false, echoFor, echoSize); err != nil {
			return sel, comp, fmt.Errorf("echo select: %w", err)
		}
		if comp, err = b.echo(ctx, true, echoFor, echoSize); err != nil {
			return sel, comp, fmt.Errorf("echo completion: %w", err)
		}
		return sel, comp, nil
	}
	if err := b.echoRounds(fmt.Sprintf("echo %dB round trips/s", echoSize), loopback); err != nil {
		return err
	}
	if b.echoRTT > 0 {
		remote := func() (sel, comp echoRun, err error) {
			sel, comp, err = b.echoRemote(ctx, sockdSock, b.echoRTT, echoFor, echoSize)
			if err != nil {
				return sel, comp, fmt.Errorf("echo with %v round trip: %w", b.echoRTT, err)
			}
			return sel, comp, nil
		}
		label := fmt.Sprintf("echo %dB round trips/s, client %v away", echoSize, b.echoRTT)
		if err := b.echoRounds(label, remote); err != nil {
			return err
		}
	}
	return nil
}

// echoRounds runs select and completion in turn, round after round, and
// reports the medians, and the share of echoes that were back before their
// recv was posted (those cost both modes the same).
func (b *bench) echoRounds(label string, round func() (sel, comp echoRun, err error)) error {
	var sel, comp, ratio, selEarly, compEarly []float64
	for range b.rounds {
		s, c, err := round()
		if err != nil {
			return err
		}
		sel, comp, ratio = append(sel, s.rate), append(comp, c.rate), append(ratio, c.rate/s.rate)
		selEarly, compEarly = append(selEarly, 100*s.earlyShare()), append(compEarly, 100*c.earlyShare())
	}
	fmt.Printf("%s (median of %d rounds): select %.0f, completion %.0f, completion/select %.2f\n",
		label, b.rounds, stat.Median(sel), stat.Median(comp), stat.Median(ratio))
	fmt.Printf("  rounds, completion/select: %s\n", list(ratio, 2))
	fmt.Printf("  echo back before the recv was posted (median): select %.0f%%, completion %.0f%%\n", stat.Median(selEarly), stat.Median(compEarly))
	return nil
}

func (b *bench) pipeAll(ctx context.Context, total int64) error {
	return b.compare(fmt.Sprintf("pipe %d MiB in %d KiB chunks", total>>20, b.chunk>>10), "pipe CPU of the daemon / anchor", total, []path{
		b.throughDaemon("sockd Pipe", "Pipe", func() (float64, error) { return b.pipeSockd(ctx, total) }),
		{label: "bare gRPC stream", ratio: "bare", round: "bare", cpu: "bare gRPC server", run: func() (float64, time.Duration, error) { return b.pipeBare(total) }},
		{label: "socat", ratio: "socat", round: "socat", run: func() (float64, time.Duration, error) { return b.pipeSocat(total) }},
	})
}

func (b *bench) relayAll(ctx context.Context, total int64) error {
	return b.compare(fmt.Sprintf("relay %d MiB", total>>20), "relay CPU of the relaying process", total, []path{
		b.throughDaemon("sockd Relay", "Relay", func() (float64, error) { return b.relaySockd(ctx, total) }),
		{label: "socat -b 65536", ratio: "socat", round: "socat", run: func() (float64, time.Duration, error) { return b.relaySocat(total) }},
		{label: "direct loopback", ratio: "direct", round: "direct", noCPU: true, run: func() (float64, time.Duration, error) {
			rate, err := b.relayDirect(total)
			return rate, 0, err
		}},
	})
}

func list(xs []float64, decimals int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', decimals, 64)
	}
	return strings.Join(parts, " ")
}

// ---------------------------------------------------------------------------
// echo: select against completion.

// echo times send + nowait recv of size bytes to a local echo server.
func (b *bench) echo(ctx context.Context, completion bool, d time.Duration, size int) (echoRun, error) {
	addr, stopEcho, err := echoServer()
	if err != nil {
		return echoRun{}, err
	}
	defer stopEcho()
	sa, err := client.ParseAddr(addr)
	if err != nil {
		return echoRun{}, err
	}
	id, err := b.sess.OpenStream(ctx, sa)
	if err != nil {
		return echoRun{}, err
	}
	defer b.sess.CloseSocket(ctx, id)
	evCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := b.sess.Events(evCtx, b.lastEvent)
	defer func() {
		events.Close()
		b.lastEvent = events.Last() // the next run must not see these again
	}()
	nextEvent := func() (*sockdv1.EventsResponse, error) {
		for ev := range events.C() {
			if ev.GetCaughtUp() == nil && ev.GetGap() == nil {
				return ev, nil
			}
		}
		return nil, fmt.Errorf("event stream ended: %v", events.Err())
	}
	msg := make([]byte, size)
	mode := client.Nowait(0)
	if completion {
		mode = client.NowaitCompletion(0)
	}
	// Each round posts the recv and then sends the message, without waiting
	// for the post's answer, as a client that keeps a read outstanding does:
	// the echo then usually finds the recv waiting, and select mode costs a
	// retry call after the event where completion mode does not. The post
	// goes first, but the daemon runs the two calls concurrently, so now and
	// then the echo is back before the recv is posted and the post answers
	// with the data in either mode; those rounds are counted.
	var r echoRun
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		got := 0
		posted := make(chan postResult, 1)
		go func() {
			resp, err := b.sess.Recv(ctx, id, int64(size), mode)
			posted <- postResult{resp, err}
		}()
		if _, err := b.sess.Send(ctx, id, msg, client.Infinity); err != nil {
			return echoRun{}, err
		}
		post := <-posted
		if post.err != nil {
			return echoRun{}, post.err
		}
		resp := post.resp
		for pending := resp.GetAsync() != nil; pending; {
			ev, err := nextEvent()
			if err != nil {
				return echoRun{}, err
			}
			if c := ev.GetCompletion(); c != nil {
				got += len(c.GetRecv().GetData())
				break
			}
			retry, err := b.sess.Recv(ctx, id, int64(size-got), mode)
			if err != nil {
				return echoRun{}, err
			}
			got += len(retry.GetData())
			pending = retry.GetAsync() != nil
		}
		if resp.GetAsync() == nil {
			got = len(resp.GetData())
			r.early++
		}
		if got != size {
			return echoRun{}, fmt.Errorf("echo returned %d bytes, want %d", got, size)
		}
		r.rounds++
	}
	r.rate = float64(r.rounds) / d.Seconds()
	return r, nil
}

type postResult struct {
	resp *sockdv1.RecvResponse
	err  error
}

// echoRun is one timed echo run: its round trips per second, and how many
// of its rounds found the echo back before the recv was posted.
type echoRun struct {
	rate          float64
	rounds, early int
}

func (r echoRun) earlyShare() float64 { return float64(r.early) / float64(max(1, r.rounds)) }

func echoServer() (string, func(), error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetNoDelay(true)
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return l.Addr().String(), func() { l.Close() }, nil
}

// ---------------------------------------------------------------------------
// pipe: sockd's Pipe, a bare gRPC stream, socat.

// sink accepts one TCP connection, reads it to the end and reports the
// bytes and when the end came.
type sinkResult struct {
	n   int64
	end time.Time
	err error
}

func (b *bench) sink() (string, <-chan sinkResult, error) {
	done := make(chan sinkResult, 1)
	addr, err := acceptOne(func(c net.Conn) error {
		n, err := discard(c, b.endpoints != "copy")
		done <- sinkResult{n: n, end: time.Now(), err: err}
		return nil
	}, func(err error) { done <- sinkResult{err: err} })
	return addr, done, err
}

// throughput waits for the sink and returns MB/s since start.
func throughput(start time.Time, want int64, done <-chan sinkResult) (float64, error) {
	r := <-done
	if r.err != nil {
		return 0, r.err
	}
	if r.n != want {
		return 0, fmt.Errorf("sink got %d bytes, want %d", r.n, want)
	}
	return float64(r.n) / r.end.Sub(start).Seconds() / 1e6, nil
}

func (b *bench) pipeSockd(ctx context.Context, total int64) (float64, error) {
	addr, done, err := b.sink()
	if err != nil {
		return 0, err
	}
	sa, _ := client.ParseAddr(addr)
	id, err := b.sess.OpenStream(ctx, sa)
	if err != nil {
		return 0, err
	}
	defer b.sess.CloseSocket(ctx, id)
	stream, err := b.api.Pipe(b.sess.OutgoingContext(ctx))
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := sendAll(stream, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: id}}, b.chunk, total); err != nil {
		return 0, err
	}
	if err := stream.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_CloseWrite{CloseWrite: true}}); err != nil {
		return 0, err
	}
	rate, err := throughput(start, total, done)
	stream.CloseSend()
	return rate, err
}

// sendAll sends first, then total bytes in chunk-sized data messages.
func sendAll(stream interface {
	Send(*sockdv1.PipeRequest) error
}, first *sockdv1.PipeRequest, chunk int, total int64) error {
	if err := stream.Send(first); err != nil {
		return err
	}
	buf := make([]byte, chunk)
	for sent := int64(0); sent < total; sent += int64(chunk) {
		n := min(int64(chunk), total-sent)
		if err := stream.Send(&sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_Data{Data: buf[:n]}}); err != nil {
			return err
		}
	}
	return nil
}

// startAnchor starts the bare gRPC anchor (serveAnchor) in its own
// process, on a unix socket of that name, and dials it with the transport
// settings sockd and its client use.
func (b *bench) startAnchor(name string) (*grpc.ClientConn, *exec.Cmd, error) {
	sock := filepath.Join(b.dir, name)
	if b.anchorBin == "" {
		bin, err := proc.AnchorBinary(b.dir)
		if err != nil {
			return nil, nil, err
		}
		b.anchorBin = bin
	}
	anchor := exec.Command(b.anchorBin, "-serve-bare", sock)
	if err := proc.Start(anchor, "unix", sock); err != nil {
		return nil, nil, err
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithReadBufferSize(pipewire.TransportBuffer), grpc.WithWriteBufferSize(pipewire.TransportBuffer))
	if err != nil {
		proc.Stop(anchor)
		return nil, nil, err
	}
	return conn, anchor, nil
}

// pipeBare returns the bare stream's throughput and the CPU time its server
// used.
func (b *bench) pipeBare(total int64) (float64, time.Duration, error) {
	conn, anchor, err := b.startAnchor("bare.sock")
	if err != nil {
		return 0, 0, err
	}
	defer proc.Stop(anchor)
	defer conn.Close()
	addr, done, err := b.sink()
	if err != nil {
		return 0, 0, err
	}
	desc := &grpc.StreamDesc{StreamName: "Pipe", ClientStreams: true, ServerStreams: true}
	cs, err := conn.NewStream(context.Background(), desc, "/bench.Anchor/Pipe")
	if err != nil {
		return 0, 0, err
	}
	before := proc.CPUTime(anchor.Process.Pid)
	start := time.Now()
	if err := sendAll(clientStream{cs}, &sockdv1.PipeRequest{Msg: &sockdv1.PipeRequest_SocketId{SocketId: addr}}, b.chunk, total); err != nil {
		return 0, 0, err
	}
	if err := cs.CloseSend(); err != nil {
		return 0, 0, err
	}
	rate, err := throughput(start, total, done)
	return rate, proc.CPUTime(anchor.Process.Pid) - before, err
}

type clientStream struct{ grpc.ClientStream }

func (c clientStream) Send(m *sockdv1.PipeRequest) error { return c.SendMsg(m) }

// serveAnchor serves bench.Anchor/Pipe: the first message names a TCP
// address to dial, and every data message is written to it; the client's
// end of sending closes it. It is the least a gRPC daemon can do to move a
// stream's bytes into a socket.
func serveAnchor(path string) error {
	l, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	g := grpc.NewServer(grpc.NumStreamWorkers(64),
		grpc.ReadBufferSize(pipewire.TransportBuffer), grpc.WriteBufferSize(pipewire.TransportBuffer))
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: "bench.Anchor",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName: "PipeDown", ClientStreams: true, ServerStreams: true,
			Handler: pipeDownHandler,
		}, {
			StreamName: "Pipe", ClientStreams: true, ServerStreams: true,
			Handler: func(_ any, ss grpc.ServerStream) error {
				c, err := dialNamed(ss)
				if err != nil {
					return err
				}
				defer c.Close()
				for {
					m := new(sockdv1.PipeRequest)
					if err := ss.RecvMsg(m); err != nil {
						if errors.Is(err, io.EOF) {
							return nil
						}
						return err
					}
					if _, err := c.Write(m.GetData()); err != nil {
						return err
					}
				}
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

// dialNamed receives an anchor stream's first message and dials the TCP
// address it names.
func dialNamed(ss grpc.ServerStream) (net.Conn, error) {
	first := new(sockdv1.PipeRequest)
	if err := ss.RecvMsg(first); err != nil {
		return nil, err
	}
	return net.Dial("tcp4", first.GetSocketId())
}

// pipeSocat returns socat's throughput and the CPU time it used.
func (b *bench) pipeSocat(total int64) (float64, time.Duration, error) {
	addr, done, err := b.sink()
	if err != nil {
		return 0, 0, err
	}
	sock := filepath.Join(b.dir, "socat.sock")
	// The Pipe client and the bare stream's client copy every byte into a
	// message; socat's writer copies too, whatever -endpoints says.
	return b.throughSocat(func() (float64, error) { return b.write("unix", sock, total, done, false) },
		"-u", "UNIX-LISTEN:"+sock, "TCP4:"+addr)
}

// throughSocat runs socat with args while move moves the bytes through it,
// and returns move's rate and the CPU time socat used. A move that fails
// (socat may then still wait for its connection) kills socat; a socat that
// exits with an error is reported.
func (b *bench) throughSocat(move func() (float64, error), args ...string) (float64, time.Duration, error) {
	relay := exec.Command(b.socat, args...)
	if err := proc.Start(relay, "", ""); err != nil {
		return 0, 0, err
	}
	rate, err := move()
	if err != nil {
		relay.Process.Kill()
		relay.Wait()
		return 0, 0, err
	}
	if err := relay.Wait(); err != nil {
		return 0, 0, fmt.Errorf("socat: %w", err)
	}
	return rate, relay.ProcessState.UserTime() + relay.ProcessState.SystemTime(), nil
}

// write connects to network/addr, writes total bytes in chunks (with
// sendfile(2) when sendfile), closes, and returns the sink's throughput.
func (b *bench) write(network, addr string, total int64, done <-chan sinkResult, sendfile bool) (float64, error) {
	c, err := proc.Dial(network, addr)
	if err != nil {
		return 0, err
	}
	src, err := newSource(b.chunk, sendfile)
	if err != nil {
		c.Close()
		return 0, err
	}
	defer src.close()
	start := time.Now()
	err = src.sendAll(c, total)
	c.Close()
	if err != nil {
		return 0, err
	}
	return throughput(start, total, done)
}

// ---------------------------------------------------------------------------
// relay: sockd's Relay, socat -b 65536, a direct connection.

func (b *bench) relaySockd(ctx context.Context, total int64) (float64, error) {
	addr, done, err := b.sink()
	if err != nil {
		return 0, err
	}
	sinkAddr, _ := client.ParseAddr(addr)
	l, err := b.sess.ListenTCP(ctx, "tcp4", "127.0.0.1:0", 4)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	type written struct {
		rate float64
		err  error
	}
	wrote := make(chan written, 1)
	go func() {
		rate, err := b.write("tcp4", l.Addr().String(), total, done, b.endpoints == "zerocopy")
		wrote <- written{rate, err}
	}()
	acc, err := b.sess.Accept(ctx, l.SocketID(), client.Infinity)
	if err != nil {
		return 0, err
	}
	in := acc.GetSocketId()
	defer b.sess.CloseSocket(ctx, in)
	out, err := b.sess.OpenStream(ctx, sinkAddr)
	if err != nil {
		return 0, err
	}
	defer b.sess.CloseSocket(ctx, out)
	if _, err := b.sess.Relay(ctx, in, out); err != nil {
		return 0, err
	}
	w := <-wrote
	return w.rate, w.err
}

// relaySocat returns socat's throughput and the CPU time it used.
func (b *bench) relaySocat(total int64) (float64, time.Duration, error) {
	addr, done, err := b.sink()
	if err != nil {
		return 0, 0, err
	}
	port, err := freePort()
	if err != nil {
		return 0, 0, err
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	return b.throughSocat(func() (float64, error) { return b.write("tcp4", listen, total, done, b.endpoints == "zerocopy") },
		"-b", "65536", "TCP4-LISTEN:"+strconv.Itoa(port)+",bind=127.0.0.1,reuseaddr", "TCP4:"+addr)
}

func (b *bench) relayDirect(total int64) (float64, error) {
	addr, done, err := b.sink()
	if err != nil {
		return 0, err
	}
	return b.write("tcp4", addr, total, done, b.endpoints == "zerocopy")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
