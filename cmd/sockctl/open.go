package main

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newOpenCommand(a *app) *cobra.Command {
	var (
		useRegistry bool
		debug       bool
		netns       string
	)
	cmd := &cobra.Command{
		Use:   "open DOMAIN TYPE [PROTOCOL]",
		Short: "Open a socket and print its id",
		Long: `Open a socket owned by the session (Erlang's socket:open/4) and print its id.

DOMAIN is inet, inet6, local, or an AF_* number. TYPE is stream, dgram,
seqpacket, raw, rdm, or a SOCK_* number. PROTOCOL is default (the default),
ip, tcp, udp, sctp, icmp, icmpv6, igmp, ipv6, raw, mptcp, udplite, or an
IPPROTO_* number.`,
		Example: `  sockctl open inet stream tcp
  sockctl open inet6 dgram
  sockctl open local seqpacket --use-registry=false`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			domain, err := client.ParseDomain(args[0])
			if err != nil {
				return usage(err)
			}
			typ, err := client.ParseType(args[1])
			if err != nil {
				return usage(err)
			}
			protocol := client.DefaultProtocol
			if len(args) == 3 {
				if protocol, err = client.ParseProtocol(args[2]); err != nil {
					return usage(err)
				}
			}
			if netns != "" && !strings.Contains(netns, "/") {
				netns = "/run/netns/" + netns // a name, as ip netns takes it
			}
			opts := client.OpenOpts{Debug: debug, NetNS: netns}
			if cmd.Flags().Changed("use-registry") {
				opts.UseRegistry = &useRegistry
			}
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.Open(ctx, domain, typ, protocol, opts)
				if netns != "" {
					err = netnsHint(err, netns)
				}
				return report(a, resp, err, func(r *sockdv1.OpenResponse) view {
					return socketView(r.GetSocketId(), nil, r.GetError())
				})
			})
		},
	}
	f := cmd.Flags()
	// Unset means the daemon's global default, so the flag's own default
	// (false) is never sent: only a given --use-registry[=BOOL] is.
	f.BoolVar(&useRegistry, "use-registry", false, "register the socket, or not with =false (default: the daemon's global setting)")
	f.BoolVar(&debug, "debug", false, "log this socket's operations in the daemon's log (shown when the daemon runs with --log-level debug)")
	f.StringVar(&netns, "netns", "", "create the socket in this network namespace: a path such as /run/netns/blue, or a name of /run/netns as ip netns takes it (blue); a policy grants paths")
	return cmd
}

// netnsHint names the namespace that an open's error is about: the daemon
// answers as Erlang does, with the errno of opening or entering it, and its
// message says it was the namespace (an einval of socket(2) itself, for an
// unknown type, is not the namespace's: a reviewer's hint blamed it).
func netnsHint(err error, netns string) error {
	var sockErr *client.SocketError
	if !errors.As(err, &sockErr) || !strings.HasPrefix(sockErr.Proto.GetMessage(), "network namespace ") {
		return err
	}
	switch sockErr.Error() {
	case "enoent":
		return hinted{err, "no network namespace at " + netns}
	case "einval":
		return hinted{err, netns + " is not a network namespace"}
	case "eperm", "eacces":
		return hinted{err, "the daemon may not enter " + netns}
	}
	return err
}
