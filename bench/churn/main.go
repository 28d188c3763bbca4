// Command churn measures whether the socket registry is a bottleneck: open
// and close churn through sockd with many concurrent clients, against a
// sockd whose registry is off (--socket-registry=false), both started by
// this program and measured in one run, in alternating rounds so that drift
// in the machine hits both alike. It then times WhichSockets with a filter
// over a registry holding many sockets (the daemon holds them; this
// process holds none).
//
//	go build -o bin/ ./cmd/sockd ./bench/churn
//	bin/churn -sockd bin/sockd -clients 32 -duration 3s -rounds 3 -sockets 15000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/sockd/sockd/bench/internal/proc"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func main() {
	var (
		sockdPath = flag.String("sockd", "bin/sockd", "the sockd binary")
		clients   = flag.Int("clients", 32, "concurrent clients, each with its own connection and session")
		duration  = flag.Duration("duration", 3*time.Second, "measuring time per round and side")
		rounds    = flag.Int("rounds", 3, "alternating rounds of registry on and off")
		sockets   = flag.Int("sockets", 15000, "sockets in the registry for the WhichSockets timing")
	)
	flag.Parse()
	if err := run(*sockdPath, *clients, *duration, *rounds, *sockets); err != nil {
		fmt.Fprintln(os.Stderr, "churn:", err)
		os.Exit(1)
	}
}

// daemon is one sockd process.
type daemon struct {
	cmd  *exec.Cmd
	addr string
}

func startDaemon(bin, dir string, args ...string) (*daemon, error) {
	path := filepath.Join(dir, "sockd.sock")
	cmd := exec.Command(bin, append([]string{"--listen", "unix://" + path, "--log-level", "warn"}, args...)...)
	cmd.Env = append(os.Environ(), "ESOCK_USE_SOCKET_REGISTRY=") // the flag decides
	if err := proc.Start(cmd, "unix", path); err != nil {
		return nil, err
	}
	return &daemon{cmd: cmd, addr: "unix://" + path}, nil
}

func (d *daemon) stop() { proc.Stop(d.cmd) }

// client is one connection with one session.
type client struct {
	conn *grpc.ClientConn
	api  sockdv1.SocketServiceClient
	ctx  context.Context
}

func dial(addr string) (*client, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	api := sockdv1.NewSocketServiceClient(conn)
	resp, err := api.CreateSession(context.Background(), &sockdv1.CreateSessionRequest{})
	if err != nil {
		conn.Close()
		return nil, err
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "sockd-session", resp.GetSessionId())
	return &client{conn: conn, api: api, ctx: ctx}, nil
}

// churn runs open+close pairs from n clients for d and returns pairs per second.
func churn(clients []*client, d time.Duration) (float64, error) {
	var pairs atomic.Int64
	var firstErr error
	var once sync.Once
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				o, err := c.api.Open(c.ctx, &sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM})
				if err == nil && o.GetError() != nil {
					err = fmt.Errorf("open: %v", o.GetError())
				}
				if err == nil {
					_, err = c.api.Close(c.ctx, &sockdv1.CloseRequest{SocketId: o.GetSocketId()})
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				pairs.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(pairs.Load()) / d.Seconds(), firstErr
}

func connect(addr string, n int) ([]*client, error) {
	var cs []*client
	for range n {
		c, err := dial(addr)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func run(bin string, nClients int, d time.Duration, rounds, nSockets int) error {
	dir, err := os.MkdirTemp("", "churn")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Mkdir(filepath.Join(dir, "on"), 0o700)
	os.Mkdir(filepath.Join(dir, "off"), 0o700)
	on, err := startDaemon(bin, filepath.Join(dir, "on"))
	if err != nil {
		return err
	}
	defer on.stop()
	off, err := startDaemon(bin, filepath.Join(dir, "off"), "--socket-registry=false")
	if err != nil {
		return err
	}
	defer off.stop()
	onClients, err := connect(on.addr, nClients)
	if err != nil {
		return err
	}
	offClients, err := connect(off.addr, nClients)
	if err != nil {
		return err
	}
	// Warm both up (connections, stacks, maps) before measuring.
	churn(onClients, d/4)
	churn(offClients, d/4)
	var onRates, offRates []float64
	for r := range rounds {
		first, second := onClients, offClients
		if r%2 == 1 {
			first, second = offClients, onClients
		}
		a, err := churn(first, d)
		if err != nil {
			return err
		}
		b, err := churn(second, d)
		if err != nil {
			return err
		}
		if r%2 == 1 {
			a, b = b, a
		}
		onRates, offRates = append(onRates, a), append(offRates, b)
		fmt.Printf("round %d: registry on %.0f open+close/s, off %.0f open+close/s, ratio %.3f\n", r+1, a, b, a/b)
	}
	mOn, mOff := median(onRates), median(offRates)
	fmt.Printf("churn, %d clients, median of %d rounds of %v: registry on %.0f/s, off %.0f/s, on/off %.3f\n",
		nClients, rounds, d, mOn, mOff, mOn/mOff)

	return timeWhichSockets(onClients[0], nSockets)
}

// timeWhichSockets fills the registry with n sockets, a third of each of
// inet stream, inet dgram and inet6 dgram, and times filtered queries.
func timeWhichSockets(c *client, n int) error {
	kinds := []struct {
		domain sockdv1.Domain
		typ    sockdv1.Type
	}{
		{sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_STREAM},
		{sockdv1.Domain_DOMAIN_INET, sockdv1.Type_TYPE_DGRAM},
		{sockdv1.Domain_DOMAIN_INET6, sockdv1.Type_TYPE_DGRAM},
	}
	for i := range n {
		k := kinds[i%len(kinds)]
		o, err := c.api.Open(c.ctx, &sockdv1.OpenRequest{Domain: k.domain, Type: k.typ})
		if err != nil {
			return err
		}
		if o.GetError() != nil {
			return fmt.Errorf("open #%d: %v", i, o.GetError())
		}
	}
	queries := []struct {
		name string
		req  *sockdv1.WhichSocketsRequest
	}{
		{"domain=inet6 (1/3 match)", &sockdv1.WhichSocketsRequest{Domain: sockdv1.Domain_DOMAIN_INET6}},
		{"domain=inet type=stream (1/3 match)", &sockdv1.WhichSocketsRequest{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM}},
		{"protocol=sctp (none match)", &sockdv1.WhichSocketsRequest{Protocol: sockdv1.Protocol_PROTOCOL_SCTP}},
	}
	count, err := c.api.NumberOf(c.ctx, &sockdv1.NumberOfRequest{})
	if err != nil {
		return err
	}
	fmt.Printf("which_sockets over %d registered sockets (median of 20 calls, gRPC round trip included):\n", count.GetCount())
	for _, q := range queries {
		var times []float64
		var got int
		for range 20 {
			start := time.Now()
			resp, err := c.api.WhichSockets(c.ctx, q.req)
			if err != nil {
				return err
			}
			times = append(times, float64(time.Since(start).Microseconds())/1000)
			got = len(resp.GetSocketIds())
		}
		fmt.Printf("  %-38s %5d ids  %.2f ms (max %.2f ms)\n", q.name, got, median(times), slices.Max(times))
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
