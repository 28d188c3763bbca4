package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
)

func newWhichSocketsCommand(a *app) *cobra.Command {
	var domain, typ, protocol, owner string
	cmd := &cobra.Command{
		Use:     "which-sockets",
		Aliases: []string{"ls"},
		Short:   "List the registered sockets, filtered (Erlang's socket:which_sockets/1)",
		Long: `List the ids of the registered sockets the caller may see, one per line.
The filters combine: --domain inet --type dgram lists inet datagram sockets.
--owner takes a session id (sockctl session show prints sockctl's own).`,
		Example: `  sockctl which-sockets --protocol tcp
  sockctl ls --domain local --owner "$(sockctl session show -o json | jq -r .session)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := socketFilter(domain, typ, protocol, owner)
			if err != nil {
				return usage(err)
			}
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				ids, err := c.WhichSockets(ctx, f)
				if err != nil {
					return err
				}
				return a.out.emit(view{text: strings.Join(ids, "\n"), obj: object{}.with("sockets", nonNil(ids))})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&domain, "domain", "", "only this domain: inet, inet6, local")
	f.StringVar(&typ, "type", "", "only this type: stream, dgram, seqpacket, raw, rdm")
	f.StringVar(&protocol, "protocol", "", "only this protocol: tcp, udp, sctp, ip, ...")
	f.StringVar(&owner, "owner", "", "only sockets owned by this session id")
	return cmd
}

// socketFilter parses the filter flags; an empty flag filters nothing. Only
// named values can be filtered on: the API's filters are enums.
func socketFilter(domain, typ, protocol, owner string) (client.SocketFilter, error) {
	f := client.SocketFilter{Owner: owner}
	if domain != "" {
		d, err := client.ParseDomain(domain)
		if err != nil {
			return f, err
		}
		if d.Enum == 0 {
			return f, errUnnamed("--domain", domain)
		}
		f.Domain = d.Enum
	}
	if typ != "" {
		t, err := client.ParseType(typ)
		if err != nil {
			return f, err
		}
		if t.Enum == 0 {
			return f, errUnnamed("--type", typ)
		}
		f.Type = t.Enum
	}
	if protocol != "" {
		p, err := client.ParseProtocol(protocol)
		if err != nil {
			return f, err
		}
		if p.Enum == 0 {
			return f, errUnnamed("--protocol", protocol)
		}
		f.Protocol = p.Enum
	}
	return f, nil
}

func errUnnamed(flag, value string) error {
	return fmt.Errorf("%s %s: filter on a name, not a number", flag, value)
}
