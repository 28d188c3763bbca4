package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newSendCommand(a *app) *cobra.Command {
	var (
		io   *ioFlags
		data *dataFlags
	)
	cmd := &cobra.Command{
		Use:   "send ID DATA",
		Short: "Send bytes on a connected socket",
		Long: `Send DATA on a connected socket (Erlang's socket:send/4). DATA is sent as
written, hex-decoded with --hex, or read from standard input when it is "-".

Nothing is printed when everything was sent; otherwise "sent=N unsent=M".
A send on a stream socket without --nowait or --completion takes any amount,
sent in calls of 4 MiB; any other send is one call, of at most 4 MiB.`,
		Example: `  sockctl send $C hello
  sockctl send $C --hex 00ff
  sockctl send $C - < request.bin`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Flags first: a usage error is not to wait for standard input.
			timeout, msgFlags, err := io.values()
			if err != nil {
				return err
			}
			payload, err := data.read(args[1], a.stdin)
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.Send(ctx, args[0], payload, timeout, msgFlags...)
				return report(a, resp, err, func(r *sockdv1.SendResponse) view {
					return sendView(r.GetBytesSent(), r.GetBytesUnsent(), r.GetAsync(), r.GetError())
				})
			})
		},
	}
	io = addIOFlags(cmd, true)
	data = addDataFlags(cmd)
	return cmd
}
