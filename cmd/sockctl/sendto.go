package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newSendToCommand(a *app) *cobra.Command {
	var (
		io   *ioFlags
		data *dataFlags
	)
	cmd := &cobra.Command{
		Use:   "sendto ID DATA ADDR",
		Short: "Send a datagram to an address",
		Long: `Send DATA to ADDR (Erlang's socket:sendto/5). DATA is sent as written,
hex-decoded with --hex, or read from standard input when it is "-". It is
one call, of at most 4 MiB.`,
		Example: `  sockctl sendto $U ping 127.0.0.1:5353`,
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Flags and address first: a usage error is not to wait for
			// standard input.
			addr, err := parseAddrArg(args[2])
			if err != nil {
				return err
			}
			timeout, msgFlags, err := io.values()
			if err != nil {
				return err
			}
			payload, err := data.read(args[1], a.stdin)
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.SendTo(ctx, args[0], payload, addr, timeout, msgFlags...)
				return report(a, resp, err, func(r *sockdv1.SendToResponse) view {
					return sendView(r.GetBytesSent(), r.GetBytesUnsent(), r.GetAsync(), r.GetError())
				})
			})
		},
	}
	io = addIOFlags(cmd, true)
	data = addDataFlags(cmd)
	return cmd
}
