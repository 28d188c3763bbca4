package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newAcceptCommand(a *app) *cobra.Command {
	var wait *waitFlags
	cmd := &cobra.Command{
		Use:   "accept ID",
		Short: "Accept a connection and print the new socket's id",
		Long: `Accept a connection on a listening socket (Erlang's socket:accept/2) and
print the new socket's id. The new socket belongs to the session.`,
		Example: `  A=$(sockctl accept $L --timeout 5s)
  sockctl accept $L --nowait     # select accept handle=1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			timeout, err := wait.value()
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.Accept(ctx, args[0], timeout)
				return report(a, resp, err, func(r *sockdv1.AcceptResponse) view {
					return socketView(r.GetSocketId(), r.GetAsync(), r.GetError())
				})
			})
		},
	}
	wait = addWaitFlags(cmd)
	return cmd
}
