package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newSetOptCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "setopt ID LEVEL NAME VALUE",
		Short: "Set a socket option (Erlang's socket:setopt/3)",
		Long: `Set the option LEVEL NAME of a socket to VALUE, written in the readable form of
the option's value type (put -- before a negative number):

` + valueFormsHelp() + `

sockctl reads VALUE by the option table before it asks the daemon: a value it
cannot read as the option's type (an integer out of the range its form above
gives included), and an option that cannot be set, are usage errors (exit 2).
What the daemon refuses is a socket error (exit 1): {invalid, {socket_option,
...}} as in Erlang, or the kernel's errno (einval).

The options, by level (supports options shows their value types and whether
this host supports them):

` + optionNamesHelp(),
		Example: `  sockctl setopt $S socket reuseaddr true
  sockctl setopt $S socket linger onoff=true,linger=5
  sockctl setopt $S socket linger abort
  sockctl setopt $S ip add_membership multiaddr=224.0.0.1,interface=any
  sockctl setopt $S ip tos lowdelay
  sockctl setopt $S otp rcvbuf '{4,8192}'   # quoted: the shell would expand the braces`,
		Args: cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt, err := lookupOption(args[1], args[2], true)
			if err != nil {
				return err
			}
			value, err := opt.parseValue(args[3])
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.SetOpt(ctx, args[0], opt.key, value)
				return report(a, resp, err, func(r *sockdv1.SetOptResponse) view {
					return emptyView(nil, r.GetError())
				})
			})
		},
	}
}
