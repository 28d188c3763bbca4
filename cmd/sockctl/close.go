package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newCloseCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "close ID",
		Short: "Close a socket",
		Long: `Close a socket (Erlang's socket:close/1). Every operation waiting on it is
aborted with closed. Closing a socket that is already closed answers
"error: closed".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.CloseSocket(ctx, args[0])
				return report(a, resp, err, func(r *sockdv1.CloseResponse) view {
					return emptyView(nil, r.GetError())
				})
			})
		},
	}
}
