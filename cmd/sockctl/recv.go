package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/options"
)

func newRecvCommand(a *app) *cobra.Command {
	var (
		io     *ioFlags
		length int64
	)
	cmd := &cobra.Command{
		Use:   "recv ID",
		Short: "Receive bytes and print them",
		Long: `Receive bytes from a socket (Erlang's socket:recv/4) and print them as they
are, followed by a newline unless they end with one (-o json gives the exact
bytes).

On a stream socket, --length N waits for exactly N bytes and 0 takes what is
there; N is at most ` + strconv.Itoa(options.MaxRcvBufBytes) + ` (a 4 MiB answer less room for its
framing). If the wait ends early (timeout, closed), the bytes received so
far are printed before the error. With -o json, the data is base64.`,
		Example: `  sockctl recv $A
  sockctl recv $A --length 5 --timeout 2s
  sockctl recv $A --nowait         # select recv handle=4`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if length < 0 {
				return usage(errNegative("--length"))
			}
			timeout, msgFlags, err := io.values()
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.Recv(ctx, args[0], length, timeout, msgFlags...)
				return report(a, resp, err, recvView)
			})
		},
	}
	io = addIOFlags(cmd, false)
	cmd.Flags().Int64Var(&length, "length", 0, "bytes to receive; 0: what is there")
	return cmd
}
