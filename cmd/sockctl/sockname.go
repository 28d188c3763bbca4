package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newSockNameCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "sockname ID",
		Short:   "Print a socket's local address",
		Example: `  sockctl sockname $L     # 127.0.0.1:40123`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.SockName(ctx, args[0])
				return report(a, resp, err, func(r *sockdv1.SockNameResponse) view {
					return addressView(r.GetAddress(), r.GetError())
				})
			})
		},
	}
}
