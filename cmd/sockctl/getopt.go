package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newGetOptCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "getopt ID LEVEL NAME",
		Short: "Print a socket option's value (Erlang's socket:getopt/2)",
		Long: `Print the value of the option LEVEL NAME of a socket, in the readable form
setopt takes ("true", "8192", "lowdelay", "onoff=true,linger=5"). With -o json
the value is a JSON boolean, number or string, or for structured values an
object with the same keys: {"value":{"linger":5,"onoff":true}}.

An option that cannot be read (set only) is a usage error, told by the option
table before the daemon is asked (exit 2).

The options, by level:

` + optionNamesHelp(),
		Example: `  sockctl getopt $S socket rcvbuf
  sockctl getopt $S ip tos                 # lowdelay, once setopt ... tos lowdelay
  sockctl getopt $S socket linger -o json  # {"value":{"linger":0,"onoff":false}}`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt, err := lookupOption(args[1], args[2], false)
			if err != nil {
				return err
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.GetOpt(ctx, args[0], opt.key)
				return report(a, resp, err, optionValueView)
			})
		},
	}
}

// optionValueView is getopt's result: the readable form in table form, and
// {"value": ...} in json.
func optionValueView(r *sockdv1.GetOptResponse) view {
	v := view{obj: object{}}
	if r.GetValue() != nil {
		text := client.FormatOptionValue(r.GetValue())
		if text == "" {
			text = `""` // an empty string (bindtodevice unbound) still answers a line
		}
		v = view{text: text, obj: object{}.with("value", client.OptionValueJSON(r.GetValue()))}
	}
	return outcome(v, nil, r.GetError())
}
