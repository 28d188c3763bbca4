package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newNumberOfCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "number-of",
		Short: "Print how many registered sockets there are (Erlang's socket:number_of/0)",
		Long: `Print how many registered sockets the caller may see. Sockets opened with
--use-registry=false, or while the global default was off, are not counted.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				n, err := c.NumberOf(ctx)
				if err != nil {
					return err
				}
				return a.out.emit(view{text: strconv.FormatUint(n, 10), obj: object{}.with("count", n)})
			})
		},
	}
}
