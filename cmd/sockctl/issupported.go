package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newIsSupportedCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "is-supported KEY...",
		Short: "Print whether a feature or option is supported (Erlang's socket:is_supported/1,2,3)",
		Long: `Print true or false. KEY is a feature (ipv6, sctp, local, netns), or options
followed by an option as LEVEL.NAME or LEVEL NAME. An unknown key is false.
The exit status is 0 either way: the answer is on standard output.`,
		Example: `  sockctl is-supported ipv6
  sockctl is-supported options socket.reuseport
  sockctl is-supported options ip transparent`,
		Args: cobra.RangeArgs(1, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				ok, err := c.IsSupported(ctx, args...)
				if err != nil {
					return err
				}
				return a.out.emit(view{text: strconv.FormatBool(ok), obj: object{}.with("supported", ok)})
			})
		},
	}
}
