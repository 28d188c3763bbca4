package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newCancelMonitorCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "cancel-monitor MONITOR",
		Aliases: []string{"demonitor"},
		Short:   "Cancel a socket monitor (Erlang's socket:cancel_monitor/1)",
		Long: `Cancel a monitor and print whether it was removed: true, and no down event
for it will come; false if it does not exist, already fired, or another
session made it (only the monitoring session may cancel, as in Erlang).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				removed, err := s.CancelMonitor(ctx, args[0])
				if err != nil {
					return err
				}
				return a.out.emit(view{text: strconv.FormatBool(removed), obj: object{}.with("removed", removed)})
			})
		},
	}
}
