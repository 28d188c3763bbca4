package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newUseRegistryCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "use-registry true|false",
		Short: "Set the daemon's default use_registry for new sockets (Erlang's socket:use_registry/1)",
		Long: `Set whether sockets opened from now on are registered, unless their open says
otherwise (sockctl open --use-registry=BOOL). Sockets already open keep their
setting. This is the daemon's global default: only an admin may set it.
global-info shows the current value.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			on, err := parseSwitch(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.UseRegistry(ctx, on); err != nil {
					return err
				}
				return a.out.emit(view{obj: object{}})
			})
		},
	}
}

// parseSwitch parses the true|false argument of the verbs that set a
// daemon-wide flag.
func parseSwitch(arg string) (bool, error) {
	if arg != "true" && arg != "false" {
		return false, usage(fmt.Errorf("%q: want true or false", arg))
	}
	return arg == "true", nil
}
