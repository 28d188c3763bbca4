package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newRecvFromCommand(a *app) *cobra.Command {
	var (
		io     *ioFlags
		length int64
	)
	cmd := &cobra.Command{
		Use:   "recvfrom ID",
		Short: "Receive a message and its source address",
		Long: `Receive one message and its source address (Erlang's socket:recvfrom/4),
printed as: from=ADDR data="..." (the data quoted as a Go string).`,
		Example: `  sockctl recvfrom $U --timeout 1s`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if length < 0 {
				return usage(errNegative("--length"))
			}
			timeout, msgFlags, err := io.values()
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.RecvFrom(ctx, args[0], length, timeout, msgFlags...)
				return report(a, resp, err, recvFromView)
			})
		},
	}
	io = addIOFlags(cmd, false)
	cmd.Flags().Int64Var(&length, "length", 0, "the buffer size; a longer message is truncated (0: the socket's default)")
	return cmd
}
