package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newPeerNameCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "peername ID",
		Short: "Print the address of a socket's peer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.PeerName(ctx, args[0])
				return report(a, resp, err, func(r *sockdv1.PeerNameResponse) view {
					return addressView(r.GetAddress(), r.GetError())
				})
			})
		},
	}
}
