package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

// newSwitchCommand is a verb that sets a daemon-wide flag to true or false
// (use-registry, debug, socket-debug) with set, and prints nothing.
func newSwitchCommand(a *app, use, short, long string, set func(*client.Client, context.Context, bool) error) *cobra.Command {
	return &cobra.Command{
		Use:   use + " true|false",
		Short: short,
		Long:  long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			on, err := parseSwitch(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if err := set(c, ctx, on); err != nil {
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
