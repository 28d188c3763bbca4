package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newRelayCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "relay A B",
		Short: "Join two connected stream sockets inside the daemon until they end",
		Long: `Move bytes between the connected stream sockets A and B inside the daemon,
with splice(2), never through sockctl, until both directions reach end of data, a
socket fails or is closed, or sockctl is interrupted. Both sockets stay open.

Prints "relayed a_to_b=N b_to_a=M" when it ends, with a_to_b_dropped/b_to_a_dropped
when bytes read from one socket could not be written to the other, and the socket
error if one ended it (exit status 1). Interrupted, it prints no counts (the
interrupt ends the call that would answer them); info A shows what moved as
relay_byte.`,
		Example: `  sockctl relay $A $B`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				resp, err := s.Relay(ctx, args[0], args[1])
				return report(a, resp, err, func(r *sockdv1.RelayResponse) view {
					return relayedView(r, "a_to_b", "b_to_a")
				})
			})
		},
	}
}

// relayedView is what a finished relay moved, each way under its label,
// the bytes it read but could not write (a side failed, or its peer
// stopped reading at the end) when there were any, and its socket error.
func relayedView(r *sockdv1.RelayResponse, aToB, bToA string) view {
	fields := []field{word("relayed"), kv(aToB, strconv.FormatUint(r.GetBytesAToB(), 10)), kv(bToA, strconv.FormatUint(r.GetBytesBToA(), 10))}
	obj := object{}.with(aToB, r.GetBytesAToB()).with(bToA, r.GetBytesBToA())
	if d := r.GetBytesDroppedAToB(); d > 0 {
		fields, obj = append(fields, kv(aToB+"_dropped", strconv.FormatUint(d, 10))), obj.with(aToB+"_dropped", d)
	}
	if d := r.GetBytesDroppedBToA(); d > 0 {
		fields, obj = append(fields, kv(bToA+"_dropped", strconv.FormatUint(d, 10))), obj.with(bToA+"_dropped", d)
	}
	return outcome(view{text: line(fields...), obj: obj}, nil, r.GetError())
}
