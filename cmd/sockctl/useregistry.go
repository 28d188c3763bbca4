package main

import (
	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newUseRegistryCommand(a *app) *cobra.Command {
	return newSwitchCommand(a, "use-registry",
		"Set the daemon's default use_registry for new sockets (Erlang's socket:use_registry/1)",
		`Set whether sockets opened from now on are registered, unless their open says
otherwise (sockctl open --use-registry=BOOL). Sockets already open keep their
setting. This is the daemon's global default: only an admin may set it.
global-info shows the current value.`,
		(*client.Client).UseRegistry)
}
