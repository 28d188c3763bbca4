package main

import (
	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newDebugCommand(a *app) *cobra.Command {
	return newSwitchCommand(a, "debug",
		"Set the daemon's global debug flag (Erlang's socket:debug/1)",
		`Trace every socket's operations into the daemon's log at its debug level
(sockd --log-level debug), whatever each socket's own debug flag says; false
traces only the sockets whose flag is on. This is the daemon's global flag:
only an admin may set it. global-info shows the current value.`,
		(*client.Client).Debug)
}
