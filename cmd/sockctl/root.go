package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/internal/version"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// sessionGrace is how long sockctl's session outlives an invocation: long
// enough for someone working through a scenario at a shell, short enough that
// forgotten sockets go away on their own.
const sessionGrace = time.Hour

// app holds the global flags and what every verb shares.
type app struct {
	addr        string
	tls         tlsFlags
	sessionName string
	output      string
	dialTimeout time.Duration

	stdin io.Reader
	out   *printer // set once the flags are parsed
}

func newRootCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdin: stdin}
	cmd := &cobra.Command{
		Use:     "sockctl",
		Version: version.String(),
		Short:   "Drive the sockets of a sockd daemon",
		Long: `sockctl drives the sockets of a sockd daemon, one verb per call of its API,
with the semantics of Erlang/OTP's socket module.

Every invocation attaches to the same named session (--session), which owns
the sockets it opens and receives the events of the operations it starts, so
both persist from one invocation to the next. The verbs that ask or set the
daemon as a whole (number-of, which-sockets, use-registry, global-info,
supports, is-supported, debug, socket-debug) use no session.

Exit status: 0 success; 1 a socket error ("error: econnrefused") or a call the
daemon refused; 2 a usage error, or a request the daemon calls malformed; 3 the
daemon cannot be reached, or shut down under the call ("error: closed (the
daemon is shutting down)"); 130 interrupted while waiting for a result (verbs
that run until interrupted, events --follow, watch and forward, end with 0).

Socket options (setopt ID LEVEL NAME VALUE, getopt ID LEVEL NAME):

` + optionNamesHelp(),
		Example: `  L=$(sockctl open inet stream tcp)
  sockctl bind $L 127.0.0.1:0
  sockctl listen $L
  sockctl accept $L --nowait      # select accept handle=1
  C=$(sockctl open inet stream tcp)
  sockctl connect $C $(sockctl sockname $L)
  sockctl events                  # seq=1 socket=... select handle=1 op=accept`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// "completion" would read as completion mode (--completion); sockctl has no shell completion.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.output != formatTable && a.output != formatJSON {
				return usage(fmt.Errorf("--output %q: want table or json", a.output))
			}
			if a.sessionName == "" {
				return usage(errors.New("--session: the session needs a name to persist between invocations"))
			}
			if a.dialTimeout <= 0 {
				return usage(fmt.Errorf("--dial-timeout %v: want a positive duration", a.dialTimeout))
			}
			a.out = &printer{w: cmd.OutOrStdout(), json: a.output == formatJSON}
			return nil
		},
	}
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(err) })
	cmd.SetHelpCommand(newHelpCommand())

	f := cmd.PersistentFlags()
	f.StringVar(&a.addr, "addr", client.DefaultAddress(), "the daemon's address: unix:///path, an absolute path, tls://host:port or tcp://127.0.0.1:port (env SOCKD_ADDR)")
	a.tls.register(f)
	f.StringVar(&a.sessionName, "session", envOr("SOCKD_SESSION", "sockctl"), "the name of the session to attach to (env SOCKD_SESSION)")
	f.StringVarP(&a.output, "output", "o", formatTable, "output format: table, or json (one object per line)")
	f.DurationVar(&a.dialTimeout, "dial-timeout", 5*time.Second, "how long to wait for the daemon to answer the connection")

	cmd.AddCommand(
		newOpenCommand(a),
		newBindCommand(a),
		newListenCommand(a),
		newConnectCommand(a),
		newAcceptCommand(a),
		newSendCommand(a),
		newRecvCommand(a),
		newSendToCommand(a),
		newRecvFromCommand(a),
		newSendMsgCommand(a),
		newRecvMsgCommand(a),
		newShutdownCommand(a),
		newCloseCommand(a),
		newCancelCommand(a),
		newSockNameCommand(a),
		newPeerNameCommand(a),
		newInfoCommand(a),
		newEventsCommand(a),
		newSessionCommand(a),
		newICommand(a),
		newWatchCommand(a),
		newNumberOfCommand(a),
		newWhichSocketsCommand(a),
		newUseRegistryCommand(a),
		newDebugCommand(a),
		newSocketDebugCommand(a),
		newMonitorCommand(a),
		newCancelMonitorCommand(a),
		newGlobalInfoCommand(a),
		newNcCommand(a),
		newForwardCommand(a),
		newRelayCommand(a),
		newSetOptCommand(a),
		newGetOptCommand(a),
		newSetOptNativeCommand(a),
		newGetOptNativeCommand(a),
		newSupportsCommand(a),
		newIsSupportedCommand(a),
	)
	return cmd
}

// withSession connects to the daemon, attaches the named session and runs fn
// with it. The connection is closed afterwards; the session lives on.
func (a *app) withSession(cmd *cobra.Command, fn func(context.Context, *client.Session) error) error {
	return a.withSessionFrom(cmd, func(ctx context.Context, c *client.Client) (*client.Session, error) {
		return c.CreateSession(ctx, a.sessionName, sessionGrace)
	}, fn)
}

// withExistingSession is withSession for the verbs that show or end the
// session: they find it, and create none (a mistyped name kept a session
// for an hour, one of the principal's few under a session quota).
func (a *app) withExistingSession(cmd *cobra.Command, fn func(context.Context, *client.Session) error) error {
	return a.withSessionFrom(cmd, func(ctx context.Context, c *client.Client) (*client.Session, error) {
		return c.FindSession(ctx, a.sessionName)
	}, fn)
}

func (a *app) withSessionFrom(cmd *cobra.Command, session func(context.Context, *client.Client) (*client.Session, error), fn func(context.Context, *client.Session) error) error {
	return a.connect(cmd, func(ctx, connectCtx context.Context, c *client.Client) error {
		s, err := session(connectCtx, c)
		if err != nil {
			return a.firstCallErr(ctx, err, err)
		}
		if err := fn(ctx, s); err != nil {
			if closedByShutdown(c, err) {
				return daemonStopping{err}
			}
			return failure{err}
		}
		return nil
	})
}

// closedByShutdown reports whether err, a socket's closed answer, came from
// a daemon shutting down: a draining daemon closes every socket, and a
// script should tell that (exit 3) from a socket someone closed (exit 1).
func closedByShutdown(c *client.Client, err error) bool {
	var sockErr *client.SocketError
	if !errors.As(err, &sockErr) || sockErr.Kind() != sockdv1.SocketError_KIND_CLOSED {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	stopping, _ := c.Stopping(ctx)
	return stopping
}

// withClient connects to the daemon and runs fn, for the verbs that ask the
// daemon as a whole (registry, options, global info) and so need no session:
// they leave none behind. Their one quick call is bounded like the
// connection: a daemon that takes it but never answers is unreachable.
func (a *app) withClient(cmd *cobra.Command, fn func(context.Context, *client.Client) error) error {
	return a.connect(cmd, func(ctx, connectCtx context.Context, c *client.Client) error {
		if err := fn(connectCtx, c); err != nil {
			return a.firstCallErr(ctx, err, failure{err})
		}
		return nil
	})
}

// firstCallErr is the error of the first call to the daemon, made under
// the dial timeout: its timing out while the command's own context (ctx)
// lives means the daemon took the connection and never answered (exit 3);
// anything else is answered with other.
func (a *app) firstCallErr(ctx context.Context, err, other error) error {
	if status.Code(err) == codes.DeadlineExceeded && ctx.Err() == nil {
		return a.noAnswer()
	}
	return other
}

// noAnswer: the daemon took the connection but did not answer its first
// call within --dial-timeout.
func (a *app) noAnswer() error {
	return &client.DialError{Address: a.addr, Err: fmt.Errorf("no answer within %v", a.dialTimeout)}
}

// connect dials the daemon and runs fn with the command's context and one
// bounded by the dial timeout, for the steps of connecting.
func (a *app) connect(cmd *cobra.Command, fn func(ctx, connectCtx context.Context, c *client.Client) error) error {
	ctx := cmd.Context()
	connectCtx, cancel := context.WithTimeout(ctx, a.dialTimeout)
	defer cancel()
	dialOpts, err := a.tls.dialOptions(a.addr)
	if err != nil {
		return usage(err)
	}
	c, err := client.Dial(connectCtx, a.addr, dialOpts...)
	if err != nil {
		var dialErr *client.DialError
		if errors.As(err, &dialErr) {
			return err
		}
		return usage(err) // the address itself is malformed
	}
	defer c.Close()
	return fn(ctx, connectCtx, c)
}

// report prints the response of a call that the daemon answered (with
// success or a socket error) and passes err on; a call that failed has no
// response to print.
func report[R any](a *app, resp R, err error, render func(R) view) error {
	var sockErr *client.SocketError
	if err != nil && !errors.As(err, &sockErr) {
		return err
	}
	if perr := a.out.emit(render(resp)); perr != nil {
		return perr
	}
	return err
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
