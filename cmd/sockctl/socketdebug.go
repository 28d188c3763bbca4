package main

import (
	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newSocketDebugCommand(a *app) *cobra.Command {
	return newSwitchCommand(a, "socket-debug",
		"Set the debug flag new sockets get (Erlang's socket:socket_debug/1)",
		`Set the debug flag (otp debug) of sockets opened from now on; an open with
--debug sets it either way, and sockets already open keep theirs. This is the
daemon's default: only an admin may set it. global-info shows the current
value.`,
		(*client.Client).SocketDebug)
}
