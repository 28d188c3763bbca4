package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newSupportsCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "supports [options [LEVEL] | KEY]",
		Short: "Print what this daemon and host support (Erlang's socket:supports/0,1,2)",
		Long: `Without arguments, print the boolean features (ipv6, local, netns, sctp, ...),
one "name true|false" line each. With options, print the option table with,
per option, whether this host's kernel accepts it (probed when the daemon
started): aligned columns LEVEL NAME TYPE SET GET SUPPORTED, or with -o json
one object per option {level, name, type, set, get, supported}. A LEVEL after
options (otp, socket, ip, ipv6, tcp, udp, sctp) restricts the list to it; any
other KEY prints that feature, or the features of that group (msg_flags,
protocols, ...), as socket:supports/1 answers.`,
		Example: `  sockctl supports
  sockctl supports options ip
  sockctl supports options -o json`,
		Args: cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			level := sockdv1.OptionLevel_OPTION_LEVEL_UNSPECIFIED
			switch {
			case len(args) == 2 && args[0] != "options":
				return usage(fmt.Errorf("%q takes no level: only options does", args[0]))
			case len(args) == 2:
				l, err := client.ParseOptionLevel(args[1])
				if err != nil {
					return usage(err)
				}
				level = l
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				if len(args) > 0 && args[0] == "options" {
					rows, err := c.SupportedOptions(ctx, level)
					if err != nil {
						return err
					}
					return emitOptionSupport(a.out, rows)
				}
				key := ""
				if len(args) == 1 {
					key = args[0]
				}
				features, err := c.Supports(ctx, key)
				if err != nil {
					return err
				}
				if key != "" && len(features) == 0 {
					return usage(errors.New("unknown feature " + strconv.Quote(key) + ": sockctl supports lists them"))
				}
				return emitFeatures(a.out, features)
			})
		},
	}
}

// emitOptionSupport prints the option rows as aligned columns, or one JSON
// object per option.
func emitOptionSupport(p *printer, rows []*sockdv1.OptionSupport) error {
	if p.json {
		for _, r := range rows {
			obj := object{}.
				with("level", client.EnumName(r.GetKey().GetLevel())).
				with("name", r.GetKey().GetName()).
				with("type", r.GetValueType()).
				with("set", r.GetSet()).
				with("get", r.GetGet()).
				with("supported", r.GetSupported())
			if err := p.emit(view{obj: obj}); err != nil {
				return err
			}
		}
		return nil
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprintln(tw, "LEVEL\tNAME\tTYPE\tSET\tGET\tSUPPORTED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", client.EnumName(r.GetKey().GetLevel()), r.GetKey().GetName(),
			r.GetValueType(), yesNo(r.GetSet()), yesNo(r.GetGet()), yesNo(r.GetSupported()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return p.emit(view{text: b.String()})
}

// emitFeatures prints "name true|false" lines sorted by name, or one JSON
// object per feature.
func emitFeatures(p *printer, features map[string]bool) error {
	names := make([]string, 0, len(features))
	for name := range features {
		names = append(names, name)
	}
	slices.Sort(names)
	var lines []string
	for _, name := range names {
		if p.json {
			if err := p.emit(view{obj: object{}.with("feature", name).with("supported", features[name])}); err != nil {
				return err
			}
			continue
		}
		lines = append(lines, name+" "+strconv.FormatBool(features[name]))
	}
	if p.json {
		return nil
	}
	return p.emit(view{text: strings.Join(lines, "\n")})
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
