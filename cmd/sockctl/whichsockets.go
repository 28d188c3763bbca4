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
		Args: noArgs,
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
func socketFilter(domain, typ, protocol, owner string) (f client.SocketFilter, err error) {
	f.Owner = owner
	if domain != "" {
		if f.Domain, err = client.ParseDomainName(domain); err != nil {
			return f, fmt.Errorf("--domain: %w", err)
		}
	}
	if typ != "" {
		if f.Type, err = client.ParseTypeName(typ); err != nil {
			return f, fmt.Errorf("--type: %w", err)
		}
	}
	if protocol != "" {
		if f.Protocol, err = client.ParseProtocolName(protocol); err != nil {
			return f, fmt.Errorf("--protocol: %w", err)
		}
	}
	return f, nil
}
