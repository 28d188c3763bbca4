package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/server"
)

// newCheckPolicyCommand reads a policy file as --policy and SIGHUP would,
// and prints its rules, so that an operator can check a file before putting
// it in force. A file the daemon would refuse exits 1 with the reason.
func newCheckPolicyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check-policy FILE",
		Short: "Check a policy file and print its rules, as the daemon would read them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := server.LoadPolicy(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: %d rules (a principal gets the first that names it; one that none names may do nothing)\n", args[0], len(p.Summary()))
			for _, line := range p.Summary() {
				fmt.Fprintln(out, line)
			}
			return nil
		},
	}
}
