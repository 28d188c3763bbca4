package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newListenCommand(a *app) *cobra.Command {
	var backlog int32
	cmd := &cobra.Command{
		Use:   "listen ID",
		Short: "Make a socket listen for connections",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.Listen(ctx, args[0], backlog)
				return report(a, resp, err, func(r *sockdv1.ListenResponse) view {
					return emptyView(nil, r.GetError())
				})
			})
		},
	}
	cmd.Flags().Int32Var(&backlog, "backlog", client.DefaultBacklog, "the length of the queue of pending connections")
	return cmd
}
