package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// newHelpCommand is cobra's help verb, except that a topic it does not know
// is a usage error (exit 2), as an unknown verb is, where cobra's printed
// the whole usage and exited 0.
func newHelpCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "Help prints the help of any command: sockctl help open.",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := cmd.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usage(fmt.Errorf("unknown help topic %q", strings.Join(args, " ")))
			}
			return target.Help()
		},
	}
}
