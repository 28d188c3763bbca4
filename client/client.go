package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/internal/daemonaddr"
	"github.com/sockd/sockd/internal/pipewire"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Client is a connection to a sockd daemon. It is safe for concurrent use.
// Socket calls are made through a Session (see CreateSession).
type Client struct {
	api  sockdv1.SocketServiceClient
	cc   grpc.ClientConnInterface // api's, for the calls made as streams (StartRelay)
	conn *grpc.ClientConn         // nil when the caller owns the connection
	// draining counts, by key, the work an adapter's Close or a cut-short
	// Send left to the background: a Conn's last bytes and its socket's
	// close, a Listener's or PacketConn's close (keyed by session id:
	// Session.Close waits for them too), a Send's release of its writer's
	// place (releaseKey: pointless once the session is closed). Close waits
	// for all. By id: ResumeSession makes new Session values for one
	// session.
	drainMu  sync.Mutex
	draining map[string]*drains
	// lostAt is when the connection Dial made last left READY (UnixNano;
	// 0 while it is ready), kept by watchConn until watchDone, for the
	// adapters that wait out a daemon out of reach.
	lostAt    atomic.Int64
	watchDone chan struct{}
	// closing is closed when Close begins: the Listeners' background
	// closes stop waiting out an outage then.
	closing     chan struct{}
	closingOnce sync.Once
	goneOnce    sync.Once
	// sessionEnds are, by session id, what Session.Close tells the
	// session's live Conns (watchSessionEnd): kept while a Conn holds one.
	endsMu      sync.Mutex
	sessionEnds map[string]*sessionEnd
	// gone is closed once Close has closed the connection Dial made: the
	// Conns' pipes are over, and what they had not read is for no one.
	// (nil for a client on its caller's connection, whose streams go on.)
	gone chan struct{}
}

// drains counts one key's background closes.
type drains struct {
	n    int
	none chan struct{} // closed when n falls to 0
}

// startDrain counts a background close under key (a session id, or a
// releaseKey) until done is called.
func (c *Client) startDrain(key string) (done func()) {
	c.drainMu.Lock()
	defer c.drainMu.Unlock()
	if c.draining == nil {
		c.draining = make(map[string]*drains)
	}
	d := c.draining[key]
	if d == nil {
		d = &drains{none: make(chan struct{})}
		c.draining[key] = d
	}
	d.n++
	return func() {
		c.drainMu.Lock()
		defer c.drainMu.Unlock()
		if d.n--; d.n == 0 {
			close(d.none)
			delete(c.draining, key)
		}
	}
}

// drained returns channels closed once nothing counted under key is left;
// for every key when key is empty.
func (c *Client) drained(key string) []<-chan struct{} {
	c.drainMu.Lock()
	defer c.drainMu.Unlock()
	var chs []<-chan struct{}
	for k, d := range c.draining {
		if key == "" || k == key {
			chs = append(chs, d.none)
		}
	}
	return chs
}

// DialError says the daemon could not be reached at all: nothing listens at
// the address, the socket file is missing, or ctx ended before a connection
// was made. It is distinct from errors in the address itself, which Dial
// reports as plain errors before trying to connect.
type DialError struct {
	Address string // the daemon address as given to Dial
	Err     error  // why: the last dial error, or ctx's error
}

func (e *DialError) Error() string {
	return fmt.Sprintf("cannot reach sockd at %s: %v", e.Address, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// DefaultAddress is where sockd listens and sockctl connects when told
// nothing else: $SOCKD_ADDR if set, else $XDG_RUNTIME_DIR/sockd.sock, else
// /tmp/sockd-<uid>/sockd.sock.
func DefaultAddress() string { return daemonaddr.Default() }

// Dial connects to the daemon at addr: unix:///path, unix:/path, a bare
// absolute path, tcp://host:port or tls://host:port. Unix sockets and plain
// loopback TCP use no transport security (the daemon identifies unix peers by
// their credentials); tls:// and any other TCP address need credentials
// passed in opts (TLSCredentials for the daemon's TLS listener), which are
// applied after Dial's own options and so override them.
//
// Dial returns once the daemon accepts the connection. If the first attempt
// fails, or ctx ends first, it returns a *DialError rather than retrying: a
// caller that wants to wait for a daemon still starting up retries Dial. After
// a successful Dial, gRPC reconnects on its own when the connection breaks.
func Dial(ctx context.Context, addr string, opts ...grpc.DialOption) (*Client, error) {
	target, err := daemonaddr.Parse(addr)
	if err != nil {
		return nil, err
	}
	if target.TLS && len(opts) == 0 {
		return nil, fmt.Errorf("sockd address %q: a tls:// daemon needs TLS credentials (TLSCredentials)", addr)
	}
	if !target.TLS && !target.PlaintextOK && len(opts) == 0 {
		return nil, fmt.Errorf("sockd address %q: plain tcp:// is for a loopback daemon only; use tls://host:port with TLS credentials", addr)
	}
	dialer := &recordingDialer{network: target.Network, address: target.Address}
	base := []grpc.DialOption{
		grpc.WithContextDialer(dialer.dial),
		// The daemon's transport buffers: larger than gRPC's default, for
		// bulk data through Pipe.
		grpc.WithReadBufferSize(pipewire.TransportBuffer),
		grpc.WithWriteBufferSize(pipewire.TransportBuffer),
		// The daemon's message bound, both ways (its answers stay within
		// gRPC's 4 MiB default, but a larger limit costs nothing).
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(pipewire.MaxAnswer), grpc.MaxCallSendMsgSize(pipewire.MaxRequest)),
		// A daemon that stops answering (its host gone, the process
		// stopped) is found out within 40 s, and the calls waiting on it
		// fail UNAVAILABLE rather than wait forever. The daemon allows a
		// ping every 10 s, with or without calls.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	}
	if target.PlaintextOK {
		base = append(base, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	conn, err := grpc.NewClient(target.GRPCTarget, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("sockd address %q: %w", addr, err)
	}
	if err := waitReady(ctx, conn, target.TLS); err != nil {
		conn.Close()
		switch last := dialer.lastError(); {
		case last != nil && ctx.Err() == nil:
			err = last
		case errors.Is(last, syscall.EAGAIN):
			// ctx ended while the daemon's accept queue stayed full.
			err = fmt.Errorf("%w (last attempt: %v: its accept queue is full)", err, last)
		}
		return nil, &DialError{Address: addr, Err: err}
	}
	c := &Client{api: sockdv1.NewSocketServiceClient(conn), cc: conn, conn: conn, watchDone: make(chan struct{}), closing: make(chan struct{}),
		gone: make(chan struct{})}
	go c.watchConn()
	return c, nil
}

// watchConn keeps lostAt until the connection is closed. Idle changes
// nothing: a connection idle after its idle timeout is not lost (it
// connects again at the next call), and one idle between failed attempts
// is still lost; the first attempt that does not end ready is what counts.
func (c *Client) watchConn() {
	defer close(c.watchDone)
	for state := c.conn.GetState(); state != connectivity.Shutdown; state = c.conn.GetState() {
		switch state {
		case connectivity.Ready:
			c.lostAt.Store(0)
		case connectivity.Idle:
		default: // connecting, or a transient failure
			c.lostAt.CompareAndSwap(0, time.Now().UnixNano())
		}
		c.conn.WaitForStateChange(context.Background(), state)
	}
}

// reconnectNow has gRPC try to connect at once rather than after its
// reconnect backoff (up to two minutes), which could outlast a session's
// grace though the daemon is back, and waits until the connection is up,
// or deadline, or ctx ends: a call made before then would fail at once.
func (c *Client) reconnectNow(ctx context.Context, deadline time.Time) {
	if c.conn == nil {
		pause(ctx, time.Until(deadline))
		return
	}
	c.conn.ResetConnectBackoff()
	c.conn.Connect()
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for state := c.conn.GetState(); state != connectivity.Ready; state = c.conn.GetState() {
		if !c.conn.WaitForStateChange(ctx, state) {
			return
		}
	}
}

// isClosed reports whether Close closed the connection Dial made.
func (c *Client) isClosed() bool {
	return c.conn != nil && c.conn.GetState() == connectivity.Shutdown
}

// OutOfReachSince reports since when the daemon has been out of reach (the
// connection Dial made lost and not back), or the zero time while it is
// reachable or when the connection is the caller's own (NewWithConn). An
// EventStream waits such an outage out, up to its session's grace: a
// program may want to say so meanwhile.
func (c *Client) OutOfReachSince() time.Time {
	since, _ := c.outOfReach()
	return since
}

// outOfReach reports since when the connection to the daemon has been
// lost; known is false for a connection the caller owns (NewWithConn).
func (c *Client) outOfReach() (since time.Time, known bool) {
	if c.conn == nil {
		return time.Time{}, false
	}
	if at := c.lostAt.Load(); at != 0 {
		return time.Unix(0, at), true
	}
	return time.Time{}, true
}

// endIfOutOfReach ends ctx with errGraceLost once the connection to the
// daemon has been lost for longer than grace, until stop is called: a call
// that waits for the daemon to come back (WaitForReady) would wait for ever
// for a session the daemon no longer keeps. Meanwhile it has gRPC try the
// daemon again without its growing backoff, so that a daemon back within
// the grace is reached within it. A grace the client does not know (0: a
// resumed session) is never given up on, and a connection it does not
// watch (NewWithConn) is left to gRPC.
func (c *Client) endIfOutOfReach(ctx context.Context, cancel context.CancelCauseFunc, grace time.Duration) (stop func()) {
	if c.conn == nil {
		return func() {}
	}
	pace := time.Second
	if grace > 0 {
		pace = min(grace/4, pace)
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(pace)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
				since, _ := c.outOfReach()
				switch {
				case since.IsZero():
				case grace > 0 && time.Since(since) >= grace:
					cancel(errGraceLost)
					return
				default:
					c.conn.ResetConnectBackoff()
				}
			}
		}
	}()
	return func() { close(done) }
}

// NewWithConn returns a Client that uses an existing connection, such as one
// with custom interceptors or an in-process transport. Close leaves the
// connection open: it belongs to the caller.
func NewWithConn(conn grpc.ClientConnInterface) *Client {
	return &Client{api: sockdv1.NewSocketServiceClient(conn), cc: conn, closing: make(chan struct{})}
}

// Close closes the connection Dial made, once the work adapters' closes
// and cut-short Sends left to the background is done: a Conn's draining
// bytes (within 10 s) and the close calls after them. A close or release
// waiting for a daemon out of reach stops waiting (a call already made
// still runs to its 10 s bound): the session's grace ends that socket's use
// in the daemon. Sessions are not closed: they
// live on in the daemon for their grace period, so a later client can
// resume them.
func (c *Client) Close() error {
	if c.closing != nil {
		c.closingOnce.Do(func() { close(c.closing) })
	}
	for _, ch := range c.drained("") {
		<-ch
	}
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	<-c.watchDone
	c.goneOnce.Do(func() { close(c.gone) })
	return err
}

// unlessClosing returns ctx, ended as well when Close begins.
func (c *Client) unlessClosing(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	if c.closing != nil {
		go func() {
			select {
			case <-c.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	return ctx, cancel
}

// Stopping reports whether the daemon has begun to shut down (its health
// check of the socket service says NOT_SERVING) or is gone (UNAVAILABLE). A
// draining daemon closes every socket, so a waiting call's closed answer
// may mean the daemon is going away rather than that someone closed the
// socket: this tells them apart. Any other failure to ask is an error.
func (c *Client) Stopping(ctx context.Context) (bool, error) {
	resp, err := healthpb.NewHealthClient(c.cc).Check(ctx, &healthpb.HealthCheckRequest{Service: sockdv1.SocketService_ServiceDesc.ServiceName})
	switch {
	case status.Code(err) == codes.Unavailable:
		return true, nil
	case err != nil:
		return false, err
	}
	return resp.GetStatus() != healthpb.HealthCheckResponse_SERVING, nil
}

// Raw returns the generated stubs, for calls this package does not wrap.
// Attach the session with (*Session).OutgoingContext.
func (c *Client) Raw() sockdv1.SocketServiceClient { return c.api }

// waitReady connects conn and waits until it is ready. It gives up at the
// first transient failure instead of letting gRPC retry with backoff, so an
// absent daemon is reported at once.
func waitReady(ctx context.Context, conn *grpc.ClientConn, tls bool) error {
	conn.Connect()
	for {
		switch state := conn.GetState(); state {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure:
			return connectionFailure(ctx, conn, tls)
		case connectivity.Shutdown:
			return errors.New("connection closed")
		default:
			if !conn.WaitForStateChange(ctx, state) {
				return ctx.Err()
			}
		}
	}
}

// connectionFailure says why a connection that was dialled failed (the
// dial's own errors the recordingDialer keeps): gRPC keeps the reason, a
// TLS handshake's say, for the calls that fail fast, so one is made.
func connectionFailure(ctx context.Context, conn *grpc.ClientConn, tls bool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable || st.Message() == "" {
		return errors.New("connection failed")
	}
	if tls && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		strings.Contains(st.Message(), "broken pipe") || strings.Contains(st.Message(), "connection reset")) {
		// With TLS 1.3 a daemon that refuses the client's certificate
		// closes the connection after the client's side of the handshake
		// is done: what the client then sees is only the closed socket.
		return fmt.Errorf("connection failed: the daemon closed it during TLS setup (is this client's certificate signed by a CA of the daemon's --tls-client-ca?): %s", st.Message())
	}
	if tls && strings.Contains(st.Message(), "tls: certificate required") {
		// Go's TLS client offers no certificate that none of the CAs the
		// daemon names has signed, and the daemon's refusal says only this.
		return fmt.Errorf("connection failed: the daemon takes client certificates signed by a CA of its --tls-client-ca, and this client offered none: %s", st.Message())
	}
	return fmt.Errorf("connection failed: %s", st.Message())
}

// recordingDialer dials the parsed address and remembers the last failure, so
// that Dial can say why the daemon is unreachable ("no such file or
// directory", "connection refused") instead of only that it is.
type recordingDialer struct {
	network, address string

	mu      sync.Mutex
	lastErr error
}

// dial ignores the address gRPC passes: for unix targets it is a rewritten
// form of the target, and the parsed one is authoritative. A unix socket
// whose accept queue is full answers EAGAIN at once: that is congestion
// (another client's flood of connects), not absence, so dial tries again
// within ctx.
func (d *recordingDialer) dial(ctx context.Context, _ string) (net.Conn, error) {
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, d.network, d.address)
	for wait := time.Millisecond; errors.Is(err, syscall.EAGAIN) && ctx.Err() == nil; wait = min(2*wait, 50*time.Millisecond) {
		d.record(err)
		pause(ctx, wait)
		if conn, err = nd.DialContext(ctx, d.network, d.address); err != nil && ctx.Err() != nil {
			return nil, err // the EAGAIN before says why
		}
	}
	d.record(err)
	return conn, err
}

func (d *recordingDialer) record(err error) {
	d.mu.Lock()
	d.lastErr = err
	d.mu.Unlock()
}

func (d *recordingDialer) lastError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr
}
