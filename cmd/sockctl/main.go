// Command sockctl drives the sockets of a sockd daemon from the command line,
// one verb per call of the sockd.v1 API: open, bind, listen, connect, accept,
// send, recv, close, events and the rest (sockctl --help lists them).
//
// Every invocation attaches to the same named session (--session, default
// "sockctl"), so the sockets it opens and the events of the operations it
// starts persist from one invocation to the next, for an hour after the last;
// the verbs that ask or set the daemon as a whole (number-of, which-sockets,
// use-registry, global-info, supports, is-supported, debug, socket-debug)
// use none.
//
// # Output
//
// The table form is for people and line-oriented scripts: open and accept
// print the new socket's id, recv prints the bytes, sockname an address,
// info "key: value" rows, events one "seq=N socket=ID KIND key=value" line
// each, a nowait call that must wait "select recv handle=7", and calls that
// answer only ok print nothing.
//
// With -o json every result and event is exactly one JSON object on a line
// of its own. Members: socket, address, source (addresses in the text form
// of bind's ADDR), data (base64), iov (base64 strings), value (getopt's
// option value: a scalar, or an object for structured values), sent,
// unsent, async {mode, operation, handle}, error {reason, kind, errno,
// invalid, invalid_value, message}. Members that do not apply are left out;
// a result with nothing to say is {}. A call the daemon refused, or a daemon
// out of reach, is an {"error": {reason, kind, message}} object too, kind
// "rpc" (reason not_found, permission_denied, ...), "daemon" (unreachable:
// no connection could be made) or "sockctl" (interrupted, or failed on its
// side); a daemon that went away during a call, or refused it draining, is
// kind "rpc", reason "unavailable", with the same exit status 3 as one out
// of reach. A call whose socket a daemon shutting down closed under it has
// its result, with its socket error closed, and exit status 3 (1 when the
// socket was closed otherwise); standard error says which.
// Control messages of recvmsg are protojson with proto field names (in name
// order, 64-bit integers as numbers).
//
// # Exit status
//
// 0 on success; 1 for a socket error (printed as "error: econnrefused") or a
// call the daemon refused ("error: not_found: ..."); 2 for a usage error,
// including a request the daemon calls malformed (INVALID_ARGUMENT); 3 when
// the daemon cannot be reached or is UNAVAILABLE, or closed the socket a
// verb waited on as it shut down; 130 when interrupted while
// waiting for a result. Verbs that run until interrupted (`events --follow`,
// `watch`, `forward`) end with 0 then, and `events --follow` also when its
// session ends. Errors go to standard error, results to standard output.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGHUP too: a closed terminal or a dropped ssh session ends nc and
	// forward as Ctrl-C does, closing their sockets in the daemon, rather
	// than leave them there for the session's grace.
	signals := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) { // nohup sockctl forward ... goes on
		signals = append(signals, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), signals...)
	go func() {
		<-ctx.Done()
		stop() // the first signal cancels the call; a second one kills at once
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand(stdin, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	// nc's standard output is the connection's data alone.
	if f := root.PersistentFlags().Lookup("output"); f != nil && f.Value.String() == formatJSON && (cmd == nil || cmd.Name() != "nc") {
		emitRefusal(stdout, err)
	}
	fmt.Fprintf(stderr, "error: %s\n", errorMessage(err))
	if code == exitUsage && cmd != nil {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}
