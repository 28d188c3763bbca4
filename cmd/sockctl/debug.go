package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newDebugCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "debug true|false",
		Short: "Set the daemon's global debug flag (Erlang's socket:debug/1)",
		Long: `Trace every socket's operations into the daemon's log at its debug level
(sockd --log-level debug), whatever each socket's own debug flag says; false
traces only the sockets whose flag is on. This is the daemon's global flag:
only an admin may set it. global-info shows the current value.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			on, err := parseSwitch(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.Debug(ctx, on); err != nil {
					return err
				}
				return a.out.emit(view{obj: object{}})
			})
		},
	}
}

func newSocketDebugCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "socket-debug true|false",
		Short: "Set the debug flag new sockets get (Erlang's socket:socket_debug/1)",
		Long: `Set the debug flag (otp debug) of sockets opened from now on; an open with
--debug sets it either way, and sockets already open keep theirs. This is the
daemon's default: only an admin may set it. global-info shows the current
value.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			on, err := parseSwitch(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if err := c.SocketDebug(ctx, on); err != nil {
					return err
				}
				return a.out.emit(view{obj: object{}})
			})
		},
	}
}
