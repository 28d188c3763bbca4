package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newBindCommand(a *app) *cobra.Command {
	var unlink bool
	cmd := &cobra.Command{
		Use:   "bind ID ADDR",
		Short: "Bind a socket to a local address",
		Long: `Bind a socket to a local address (Erlang's socket:bind/2).

ADDR is IP:PORT, [IPv6]:PORT, any:PORT or loopback:PORT (IPv4),
[any]:PORT or [loopback]:PORT (IPv6), local:/path, local:@abstract, local:
(no path: Linux picks an abstract name, as Erlang's bind to path <<>>), or a
bare any, loopback or broadcast, which means that address in the socket's
own domain. An address without :PORT has port 0, as
an Erlang sockaddr without port (the kernel picks one on bind; a connect or
send to port 0 fails: econnrefused for a TCP connect, einval for a UDP send).
A local path's socket file stays after the socket closes, as in Erlang,
unless --unlink-on-close asks the daemon to remove it then, where it can with
rights you have yourself: not for a TCP or TLS client without a policy's
act_as, nor for a client of a daemon not run as root other than root and the
daemon's own user.`,
		Example: `  sockctl bind $S 127.0.0.1:0
  sockctl bind $S any
  sockctl bind $S6 [any]:8080
  sockctl bind $S local:/tmp/app.sock`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := parseAddrArg(args[1])
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				bind := s.Bind
				if unlink {
					bind = s.BindUnlinking
				}
				resp, err := bind(ctx, args[0], addr)
				return report(a, resp, err, func(r *sockdv1.BindResponse) view {
					return emptyView(nil, r.GetError())
				})
			})
		},
	}
	cmd.Flags().BoolVar(&unlink, "unlink-on-close", false, "remove a local path's socket file when the socket closes, if the path still names it")
	return cmd
}
