package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newConnectCommand(a *app) *cobra.Command {
	var wait *waitFlags
	cmd := &cobra.Command{
		Use:   "connect ID [ADDR]",
		Short: "Connect a socket, or finish a nowait connect",
		Long: `Connect a socket to ADDR (Erlang's socket:connect/3).

Without ADDR, finish a connect that answered select, after its select event
arrived (Erlang's socket:connect/1).`,
		Example: `  sockctl connect $C 127.0.0.1:8080
  sockctl connect $C 127.0.0.1:8080 --nowait   # select connect handle=3
  sockctl events                               # ... select handle=3 op=connect
  sockctl connect $C`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var addr *sockdv1.SockAddr
			if len(args) == 2 {
				var err error
				if addr, err = parseAddrArg(args[1]); err != nil {
					return err
				}
			}
			timeout, err := wait.value()
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.Connect(ctx, args[0], addr, timeout)
				return report(a, resp, err, func(r *sockdv1.ConnectResponse) view {
					return emptyView(r.GetAsync(), r.GetError())
				})
			})
		},
	}
	wait = addWaitFlags(cmd)
	return cmd
}
