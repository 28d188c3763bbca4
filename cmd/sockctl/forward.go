package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newForwardCommand(a *app) *cobra.Command {
	var count int
	cmd := &cobra.Command{
		Use:   "forward LOCAL REMOTE",
		Short: "Accept on a daemon socket and relay each connection to REMOTE",
		Long: `Listen on LOCAL with a socket in the daemon; for each connection accepted,
connect a new daemon socket to REMOTE and join the two with Relay, so the
bytes move inside the daemon with splice(2) and never through sockctl.

The address listened on is printed to standard error. One line is printed
per finished connection: "relayed in=N out=M" (in: LOCAL's client to
REMOTE), with in_dropped/out_dropped when bytes read from one side could not
be written to the other and error=REASON when a socket error (a reset) ended
the relay, the other side then reset as it closes; or "error: REASON"
(econnrefused) for a connection
that could not be relayed, after which forward goes on. It runs until
interrupted (a connection still being relayed then prints "error:
interrupted" for its line), or until its standard output's reader goes away
(forward | head), both exit 0, or until --count connections finished (exit
1 if one of them could not be relayed or ended with a socket error). The
sockets it opened are closed as it ends.

Each connection takes sockets of the principal's quota (global-info shows
it): the accepted one, one to REMOTE, and its relay's four pipes. Under a
quota that fits few relays (below 64), and once a quota has refused
anything, each connection is set up before the next is accepted: accepted,
its socket to REMOTE opened and connected, its relay started, so that
connections accepted together never take the places each other's relay
needs; they wait in the listen queue meanwhile. A step the quota refuses is
said once ("accept refused: REASON", "open refused: ...", "relay refused:
...") and tried again after a pause while relays of this forward run to
give places back; with none running (a quota too small for one relay, or
held by others), the connection prints "error: resource_exhausted".
Refused accepts are always tried again.`,
		Example: `  sockctl forward 127.0.0.1:8080 127.0.0.1:80
  sockctl forward 127.0.0.1:0 127.0.0.1:5432 --count 1`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 0 {
				return usage(errNegative("--count"))
			}
			local, err := parseAddrArg(args[0])
			if err != nil {
				return err
			}
			remote, err := parseAddrArg(args[1])
			if err != nil {
				return err
			}
			if inetPort(remote) == 0 && remote.GetLocal() == nil {
				return usage(fmt.Errorf("%s: forward connects to a port: give REMOTE as IP:PORT", args[1]))
			}
			// A reader of standard output that goes away (forward | head)
			// makes a line's write fail with EPIPE, which ends forward as an
			// interrupt does, rather than kill it with its sockets left open
			// in the daemon for the session's grace.
			signal.Ignore(syscall.SIGPIPE)
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				ctx, stop := context.WithCancel(ctx)
				defer stop()
				l, err := s.ListenAddr(ctx, local, 128)
				if err != nil {
					// Said as bind or listen would say it: the error
					// object on stdout for -o json, the line on stderr.
					var se *client.SocketError
					if errors.As(err, &se) {
						a.out.emit(view{obj: object{}.with("error", errorObject(se.Proto))})
					}
					return err
				}
				defer l.Close()
				fmt.Fprintf(cmd.ErrOrStderr(), "listening on %s\n", addrArg(l.Addr()))
				f := &forwarder{app: a, sess: s, listener: l, remote: remote, stop: stop}
				// GlobalInfo failing says nothing of a quota: set up at once
				// until one refuses.
				if info, err := s.Client().GlobalInfo(ctx); err == nil {
					quota := info.GetPolicy().GetSocketQuota()
					f.oneAtATime.Store(quota > 0 && quota < tightQuota)
				}
				return f.run(ctx, count)
			})
		},
	}
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many connections (0: run until interrupted)")
	return cmd
}

// forwarder relays the connections of one listener.
type forwarder struct {
	app      *app
	sess     *client.Session
	listener *client.Listener
	remote   *sockdv1.SockAddr
	// oneAtATime: a socket quota binds (it is small, or it refused), and
	// each connection is set up before the next is accepted.
	oneAtATime atomic.Bool
	// running counts this forward's relays the daemon has admitted (or is
	// being asked to) and that have not ended: the places a refused step
	// waits for.
	running atomic.Int64

	printMu sync.Mutex
	// stop ends the forward; outGone says why: its standard output's
	// reader went away.
	stop    context.CancelFunc
	outGone atomic.Bool
	// failed: a connection could not be relayed, or its relay ended with
	// a socket error (--count then exits 1).
	failed atomic.Bool
}

// tightQuota is the socket quota below which forward sets connections up
// one at a time from the start: it fits about ten relays at the most.
const tightQuota = 64

// Steps a quota refuses are tried again after a pause that grows from
// minRefusedPause to maxRefusedPause, as net/http's Serve does after a
// temporary error. The daemon takes a socket's place before it looks for a
// connection, so a refused accept says nothing of one: a connection, if
// any, waits in the listener's queue meanwhile.
const (
	minRefusedPause = 50 * time.Millisecond
	maxRefusedPause = time.Second
)

func (f *forwarder) run(ctx context.Context, count int) error {
	err := f.accept(ctx, count)
	switch {
	case f.outGone.Load():
		return nil // as nc | head ends
	case ctx.Err() != nil:
		return nil // interrupted: the end of a verb that runs until then, as events --follow's
	case err != nil:
		return err
	case count > 0 && f.failed.Load():
		return failure{errors.New("a connection could not be relayed, or its relay failed (its line says why)")}
	}
	return nil
}

// accept accepts and relays count connections (0: until interrupted), and
// returns once their relays have ended: ctx's error if interrupted.
func (f *forwarder) accept(ctx context.Context, count int) error {
	var relays sync.WaitGroup
	defer relays.Wait()
	for n := 0; count == 0 || n < count; n++ {
		var conn *sockdv1.AcceptResponse
		request := client.NewRequestID()
		err := f.untilPlaced(ctx, "accept", func() (err error) {
			conn, err = f.sess.AcceptOnce(ctx, f.listener.SocketID(), client.Infinity, request)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				f.collect(request)
				return ctx.Err() // interrupted
			}
			return err
		}
		setUp := make(chan struct{})
		serial := f.oneAtATime.Load()
		relays.Add(1)
		go func() {
			defer relays.Done()
			f.relay(ctx, conn.GetSocketId(), setUp)
		}()
		if serial {
			select {
			case <-setUp:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// collect closes what the accept of request took if the daemon accepted a
// connection as forward was stopped: the daemon keeps that answer for the
// call made again with its request id, and the socket would stay in the
// session, its peer waiting, for the session's grace. The call made again
// finds it, or takes a connection queued on the listener, which closes
// next in any case.
func (f *forwarder) collect(request string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, _ := f.sess.AcceptOnce(ctx, f.listener.SocketID(), client.Millis(0), request)
	if id := resp.GetSocketId(); id != "" {
		f.sess.CloseSocket(ctx, id)
	}
}

// collectOpen closes the socket the open of request made if the daemon
// opened it as forward was stopped, as collect does for an accept.
func (f *forwarder) collectOpen(request string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if id, err := f.sess.OpenStreamOnce(ctx, f.remote, request); err == nil {
		f.sess.CloseSocket(ctx, id)
	}
}

// relay joins an accepted socket to a new connection to the remote address
// and closes both when the relay ends. setUp is closed once the relay runs
// or the connection has failed.
func (f *forwarder) relay(ctx context.Context, in string, setUp chan<- struct{}) {
	var setUpOnce sync.Once
	done := func() { setUpOnce.Do(func() { close(setUp) }) }
	defer done()
	// A relay that ran counts among the running until both its sockets are
	// closed (deferred below, so run before this): a step waiting for
	// places that sees none running gives up.
	ran := false
	defer func() {
		if ran {
			f.running.Add(-1)
		}
	}()
	// The connection's line is printed once both its sockets are closed
	// (deferred below, so run before this): a forward that its line's
	// write ends leaves nothing open.
	var line view
	defer func() { f.print(line) }()
	cleanup := context.WithoutCancel(ctx)
	defer f.sess.CloseSocket(cleanup, in)
	var out string
	request := client.NewRequestID()
	err := f.untilPlaced(ctx, "open", func() (err error) {
		out, err = f.sess.OpenStreamOnce(ctx, f.remote, request)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			f.collectOpen(request)
		}
		line = f.failedLine(err)
		return
	}
	defer f.sess.CloseSocket(cleanup, out)
	if _, err := f.sess.Connect(ctx, out, f.remote, client.Infinity); err != nil {
		line = f.failedLine(err)
		return
	}
	var running *client.RunningRelay
	err = f.untilPlaced(ctx, "relay", func() (err error) {
		// An attempt counts among the running while it is made: one it
		// admits gives places back later, so a sibling refused meanwhile
		// (for want of the places this one took) waits for it.
		f.running.Add(1)
		running, err = f.sess.StartRelay(ctx, in, out)
		if err != nil {
			f.running.Add(-1)
		}
		return err
	})
	if err != nil {
		line = f.failedLine(err)
		return
	}
	ran = true
	done()
	resp, err := running.Wait()
	if err != nil && resp == nil {
		line = f.failedLine(err)
		return
	}
	if resp.GetError() != nil {
		// One side failed (a reset): the other is reset too as it closes,
		// so that its peer sees the stream cut off, not a clean end. Best
		// effort: a side whose linger cannot be set (gone already) is
		// closed all the same, and the line says the error.
		reset := &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Linger{Linger: &sockdv1.Linger{Onoff: true}}}
		key := &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, Name: "linger"}
		f.sess.SetOpt(cleanup, in, key, reset)
		f.sess.SetOpt(cleanup, out, key, reset)
	}
	if resp.GetError() != nil {
		f.failed.Store(true)
	}
	line = forwardedView(resp)
}

// forwardedView is a finished relay's line: relay's, with the socket error
// that ended it, if any, at its end ("relayed in=0 out=100000
// error=econnreset").
func forwardedView(r *sockdv1.RelayResponse) view {
	v := relayedView(r, "in", "out")
	if se := r.GetError(); se != nil {
		v.text = line(word(v.text), kv("error", errorText(se)))
	}
	return v
}

// untilPlaced runs step until the principal's socket quota no longer
// refuses it: the first refusal is said, and each try waits longer, while
// relays give places back. A refusal sets later connections up one at a
// time. A step that is not an accept (which holds nothing while it waits)
// is tried again only while relays of this forward run: with none, nothing
// of its own would give places back, and connections being set up together
// might each hold what the others need, so its refusal is returned.
func (f *forwarder) untilPlaced(ctx context.Context, what string, step func() error) error {
	pause, said := minRefusedPause, false
	for {
		err := step()
		if status.Code(err) != codes.ResourceExhausted || ctx.Err() != nil {
			return err
		}
		f.oneAtATime.Store(true)
		if what != "accept" && f.running.Load() == 0 {
			return err
		}
		if !said {
			f.print(refusedView(what, err))
			said = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause/2 + rand.N(pause/2)): // jittered: waiting steps do not retry in step
		}
		pause = min(2*pause, maxRefusedPause)
	}
}

// print writes one of forward's lines; one its standard output's reader
// no longer takes (EPIPE) ends the forward.
func (f *forwarder) print(v view) {
	f.printMu.Lock()
	defer f.printMu.Unlock()
	if err := f.app.out.emit(v); errors.Is(err, syscall.EPIPE) {
		f.outGone.Store(true)
		f.stop()
	}
}

// refusedView is a step of forward's that a quota refused (accept, open,
// relay), which no connection's line is: "accept refused: ...", and in
// JSON the refusal's error object as "accept_refused" (or "open_refused",
// "relay_refused").
func refusedView(step string, err error) view {
	return view{text: step + " refused: " + errorMessage(err), obj: object{}.with(step+"_refused", refusalObject(err))}
}

// failedLine is failedView, noting that a connection failed.
func (f *forwarder) failedLine(err error) view {
	f.failed.Store(true)
	return failedView(err)
}

// failedView is a connection forward could not relay: "error: ..." as other
// verbs print errors, and in JSON an error object, as theirs have: the
// socket error's fields, or a refusal's. A relay refused because the
// accepted connection was no longer connected (its client reset it first,
// as a port scan's does) is the socket error enotconn, as nc says it.
func failedView(err error) view {
	if client.ErrorReason(err) == reasons.NotConnectedStream {
		err = &client.SocketError{Proto: &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: "enotconn",
			Errno: int32(syscall.ENOTCONN), Message: "the connection ended before its relay began"}}
	}
	var se *client.SocketError
	if errors.As(err, &se) {
		return view{text: "error: " + errorMessage(se), obj: object{}.with("error", errorObject(se.Proto))}
	}
	return view{text: "error: " + errorMessage(err), obj: object{}.with("error", refusalObject(err))}
}
