package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newShutdownCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:       "shutdown ID read|write|read_write",
		Short:     "Shut down one or both directions of a socket",
		Example:   `  sockctl shutdown $C write      # half-close: the peer reads end of file`,
		Args:      cobra.ExactArgs(2),
		ValidArgs: []string{"read", "write", "read_write"},
		RunE: func(cmd *cobra.Command, args []string) error {
			how, err := client.ParseHow(args[1])
			if err != nil {
				return usage(err)
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.Shutdown(ctx, args[0], how)
				return report(a, resp, err, func(r *sockdv1.ShutdownResponse) view {
					return emptyView(nil, r.GetError())
				})
			})
		},
	}
}
