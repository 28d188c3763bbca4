package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
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
be written to the other, or "error: REASON" (econnrefused) for a connection
that could not be relayed, after which forward goes on. While the
principal's socket quota refuses accepts, one line says so ("accept
refused: REASON") and forward tries again after a pause, until they go
through. It runs until interrupted (a connection still being relayed then
prints "error: interrupted" for its line), or until --count connections
finished.`,
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
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
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
				fmt.Fprintf(cmd.ErrOrStderr(), "listening on %s\n", l.Addr())
				f := &forwarder{app: a, sess: s, listener: l, remote: remote}
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

	printMu sync.Mutex
}

// Accepts a quota refuses are retried after a pause that grows from
// minRefusedPause to maxRefusedPause, as net/http's Serve does after a
// temporary error. The daemon takes a socket's place before it looks for a
// connection, so a refusal says nothing of one: a connection, if any, waits
// in the listener's queue meanwhile.
const (
	minRefusedPause = 50 * time.Millisecond
	maxRefusedPause = time.Second
)

func (f *forwarder) run(ctx context.Context, count int) error {
	var relays sync.WaitGroup
	defer relays.Wait()
	pause := minRefusedPause
	refused := false // said, until an accept goes through
	for n := 0; count == 0 || n < count; n++ {
		conn, err := f.sess.Accept(ctx, f.listener.SocketID(), client.Infinity)
		if status.Code(err) == codes.ResourceExhausted && ctx.Err() == nil {
			// The principal's sockets are at a quota: say so once, and go on
			// once relays (these or others) have given their places back.
			if !refused {
				f.print(acceptRefusedView(err))
				refused = true
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(pause):
			}
			pause = min(2*pause, maxRefusedPause)
			n--
			continue
		}
		pause, refused = minRefusedPause, false
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted: the normal end
			}
			return err
		}
		relays.Add(1)
		go func() {
			defer relays.Done()
			f.relay(ctx, conn.GetSocketId())
		}()
	}
	return nil
}

// relay joins an accepted socket to a new connection to the remote address
// and closes both when the relay ends.
func (f *forwarder) relay(ctx context.Context, in string) {
	cleanup := context.WithoutCancel(ctx)
	defer f.sess.CloseSocket(cleanup, in)
	id, err := f.sess.OpenStream(ctx, f.remote)
	if err != nil {
		f.print(failedView(err))
		return
	}
	defer f.sess.CloseSocket(cleanup, id)
	resp, err := f.sess.Relay(ctx, in, id)
	if err != nil && resp == nil {
		f.print(failedView(err))
		return
	}
	f.print(relayedView(resp, "in", "out"))
}

func (f *forwarder) print(v view) {
	f.printMu.Lock()
	defer f.printMu.Unlock()
	f.app.out.emit(v)
}

// acceptRefusedView is forward's accepts refused by a quota, which no
// connection's line is: "accept refused: ...", and in JSON the refusal's
// error object as "accept_refused".
func acceptRefusedView(err error) view {
	return view{text: "accept refused: " + errorMessage(err), obj: object{}.with("accept_refused", refusalObject(err))}
}

// failedView is a connection forward could not relay: "error: ..." as other
// verbs print errors, and in JSON an error object, as theirs have: the
// socket error's fields, or a refusal's.
func failedView(err error) view {
	var se *client.SocketError
	if errors.As(err, &se) {
		return view{text: "error: " + errorMessage(se), obj: object{}.with("error", errorObject(se.Proto))}
	}
	return view{text: "error: " + errorMessage(err), obj: object{}.with("error", refusalObject(err))}
}
