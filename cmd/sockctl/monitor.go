package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newMonitorCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "monitor ID",
		Short: "Monitor a socket and print the monitor's id (Erlang's socket:monitor/1)",
		Long: `Monitor a socket: when it closes (or its owner's session ends) the session
receives a down event with reason closed; for a socket already closed it
comes at once, and for one unknown to the session with reason nosock.
sockctl events shows them. Monitoring turns the socket's use_registry on.`,
		Example: `  M=$(sockctl monitor $S)
  sockctl close $S
  sockctl events   # seq=... socket=$S down monitor=$M reason=closed`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				id, err := s.Monitor(ctx, args[0])
				if err != nil {
					return err
				}
				return a.out.emit(view{text: id, obj: object{}.with("monitor", id)})
			})
		},
	}
}
