package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newNcCommand(a *app) *cobra.Command {
	var listen bool
	cmd := &cobra.Command{
		Use:   "nc [-l] HOST PORT | ADDR",
		Short: "Netcat through the daemon: stdin and stdout over a daemon socket",
		Long: `Connect a stream socket in the daemon to the address (or, with -l, listen
on it and accept one connection) and copy standard input to it and what it
receives to standard output, over one Pipe stream. At the end of standard
input the socket's write side is shut down; nc exits when the peer has shut
down its side too, and closes the socket. Input from a file or a pipe is
sent to its end even after the peer has shut down its side (a pipe that
stays open holds nc until it ends); input from a terminal is not waited for.
When the reader of standard output goes away (nc | head), nc ends with
status 0 and closes the socket, resetting it if data was left unread.

The address is HOST PORT, or one argument in bind's ADDR forms (including
local:/path). With -l, the address actually listened on is printed to
standard error, which helps with port 0. Standard output carries the data
alone, so -o json does not apply: errors go to standard error as text.`,
		Example: `  sockctl nc 127.0.0.1 8080
  echo hello | sockctl nc -l 127.0.0.1:9000
  sockctl nc local:/run/app.sock`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := ncAddr(args)
			if err != nil {
				return err
			}
			if !listen && inetPort(addr) == 0 && addr.GetLocal() == nil {
				return usage(fmt.Errorf("%s: nc connects to a port: give HOST PORT or IP:PORT", strings.Join(args, " ")))
			}
			// A reader of standard output that goes away (nc | head) makes
			// the write fail with EPIPE rather than kill nc, which would
			// leave its socket open in the daemon for the session's grace.
			signal.Ignore(syscall.SIGPIPE)
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				conn, err := ncConnect(ctx, s, addr, listen, cmd.ErrOrStderr())
				if err != nil {
					return err
				}
				err = shuttle(ctx, conn, a.stdin, cmd.OutOrStdout())
				// The last input, and the half-close, may have gone into the
				// pipe before the socket was closed under nc: the close says so.
				var sockErr *client.SocketError
				if cerr := conn.Close(); err == nil && errors.As(cerr, &sockErr) {
					return cerr
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&listen, "listen", "l", false, "listen on the address and accept one connection")
	return cmd
}

// inetPort is addr's port, 0 for an address without one.
func inetPort(addr *sockdv1.SockAddr) uint32 {
	if in := addr.GetInet(); in != nil {
		return in.GetPort()
	}
	return addr.GetInet6().GetPort()
}

// ncAddr reads HOST PORT or a single ADDR.
func ncAddr(args []string) (*sockdv1.SockAddr, error) {
	if len(args) == 1 {
		return parseAddrArg(args[0])
	}
	host := args[0]
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return parseAddrArg(host + ":" + args[1])
}

// addrArg writes a Listener's address as ADDR is written: a local one with
// its local: prefix.
func addrArg(addr net.Addr) string {
	if _, ok := addr.(*net.UnixAddr); ok {
		return "local:" + addr.String()
	}
	return addr.String()
}

// ncConnect connects to addr, or listens on it and accepts one connection.
func ncConnect(ctx context.Context, s *client.Session, addr *sockdv1.SockAddr, listen bool, stderr io.Writer) (*client.Conn, error) {
	if !listen {
		return s.DialAddr(ctx, addr)
	}
	l, err := s.ListenAddr(ctx, addr, client.DefaultBacklog)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	fmt.Fprintf(stderr, "listening on %s\n", addrArg(l.Addr()))
	// One accept, as the accept verb makes it, not the Listener's, which
	// waits out a daemon out of reach for the session's grace, as a server
	// should: nc, as every verb, ends with exit 3 (a reviewer's nc -l sat
	// silent for the hour's grace after its daemon was killed).
	type accepted struct {
		conn *client.Conn
		err  error
	}
	done := make(chan accepted, 1)
	go func() {
		resp, err := s.Accept(ctx, l.SocketID(), client.Infinity)
		if err != nil {
			done <- accepted{err: err}
			return
		}
		conn, err := s.NewConn(ctx, l.Addr().Network(), resp.GetSocketId())
		if err != nil {
			s.CloseSocket(context.WithoutCancel(ctx), resp.GetSocketId())
		}
		done <- accepted{conn, err}
	}()
	select {
	case a := <-done:
		return a.conn, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// outWriter is nc's standard output, noting when its reader has gone.
type outWriter struct {
	w    io.Writer
	gone bool
}

func (o *outWriter) Write(b []byte) (int, error) {
	n, err := o.w.Write(b)
	if errors.Is(err, syscall.EPIPE) {
		o.gone = true
	}
	return n, err
}

// shuttle copies in to conn and conn to out. The end of in shuts conn's
// write side down; shuttle returns once conn reached end of data and in was
// copied, or either direction failed, or ctx ended (a signal: what is not
// sent by then is dropped).
func shuttle(ctx context.Context, conn *client.Conn, in io.Reader, out io.Writer) error {
	stop := context.AfterFunc(ctx, func() {
		conn.SetLinger(0)
		conn.Close() // ends both copies but a read of in
	})
	defer stop()
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, in)
		if err == nil {
			err = conn.CloseWrite()
		}
		sent <- err
	}()
	w := &outWriter{w: out}
	_, err := io.Copy(w, conn)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case w.gone:
		// Whoever read standard output is gone: nc ends quietly, as a
		// netcat that SIGPIPE ends, and its caller closes the socket
		// (reset, with what it has not read).
		return nil
	case err != nil:
		return err
	}
	// The peer is done. Input that ends by itself (a file, a pipe) is still
	// sent in full; a terminal may never end, so it is not waited for.
	if interactive(in) {
		select {
		case err = <-sent:
		default:
		}
	} else {
		select {
		case err = <-sent:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// A socket closed under nc (by the daemon shutting down, or another
	// session) says so with the daemon's answer; a bare ErrClosed is the
	// Conn's own end.
	var sockErr *client.SocketError
	if err != nil && (!errors.Is(err, net.ErrClosed) || errors.As(err, &sockErr)) {
		return err
	}
	return nil
}

// interactive reports whether f (stdin, stdout) is a terminal.
func interactive(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
