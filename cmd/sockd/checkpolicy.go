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
		Long: `Check a policy file and print its rules, as --policy and SIGHUP would read
them. The file's owner is checked against the user running check-policy
(the daemon accepts a file owned by root or by its own user): run it as the
daemon's user.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := server.LoadPolicy(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			rules := p.Summary()
			noun := "rules"
			if len(rules) == 1 {
				noun = "rule"
			}
			fmt.Fprintf(out, "%s: %d %s (a principal gets the first that names it; one that none names may do nothing)\n", args[0], len(rules), noun)
			for _, line := range rules {
				fmt.Fprintln(out, line)
			}
			for _, w := range p.Warnings() {
				fmt.Fprintln(out, "warning:", w)
			}
			return nil
		},
	}
}
