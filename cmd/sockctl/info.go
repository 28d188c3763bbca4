package main

import (
	"context"
	"iter"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newInfoCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "info ID",
		Short: "Print a socket's info: domain, type, states, counters",
		Long: `Print Erlang's socket:info/1 for a socket as "key: value" rows: socket,
domain, type, protocol, owner, ctype, rstates, wstates, fd, use_registry,
num_readers, num_writers, num_acceptors, relay_byte, relay_dropped_byte, then every counter
(read_byte, read_pkg, ..., acc_waits). It works on closed sockets too.`,
		Example: `  sockctl info $A | grep read_byte`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withSession(cmd, func(ctx context.Context, s *client.Session) error {
				info, err := s.Info(ctx, args[0])
				if err != nil {
					return err
				}
				return a.out.emit(infoView(info))
			})
		},
	}
}

// infoView is socket:info/1 as "key: value" rows; the counters follow as rows
// of their own, so `sockctl info ID | grep read_byte` works.
func infoView(i *sockdv1.SocketInfo) view {
	d, t, p := socketKind(i)
	domain, typ, protocol := d.String(), t.String(), p.String()
	fields := []field{
		{"socket", i.GetSocketId()},
		{"domain", domain},
		{"type", typ},
		{"protocol", protocol},
		{"owner", i.GetOwner()},
		{"ctype", i.GetCtype()},
		{"rstates", strings.Join(i.GetRstates(), ",")},
		{"wstates", strings.Join(i.GetWstates(), ",")},
		{"fd", strconv.Itoa(int(i.GetFd()))},
		{"use_registry", strconv.FormatBool(i.GetUseRegistry())},
		{"num_readers", strconv.FormatUint(uint64(i.GetNumReaders()), 10)},
		{"num_writers", strconv.FormatUint(uint64(i.GetNumWriters()), 10)},
		{"num_acceptors", strconv.FormatUint(uint64(i.GetNumAcceptors()), 10)},
		{"relay_byte", strconv.FormatUint(i.GetRelayByte(), 10)},
		{"relay_dropped_byte", strconv.FormatUint(i.GetRelayDroppedByte(), 10)},
	}
	obj := object{}.
		with("socket", i.GetSocketId()).
		with("domain", domain).
		with("type", typ).
		with("protocol", protocol).
		with("owner", i.GetOwner()).
		with("ctype", i.GetCtype()).
		with("rstates", nonNil(i.GetRstates())).
		with("wstates", nonNil(i.GetWstates())).
		with("fd", i.GetFd()).
		with("use_registry", i.GetUseRegistry()).
		with("num_readers", i.GetNumReaders()).
		with("num_writers", i.GetNumWriters()).
		with("num_acceptors", i.GetNumAcceptors()).
		with("relay_byte", i.GetRelayByte()).
		with("relay_dropped_byte", i.GetRelayDroppedByte())
	counters := object{}
	for name, value := range countersOf(i.GetCounters()) {
		fields = append(fields, field{name, strconv.FormatUint(value, 10)})
		counters = counters.with(name, value)
	}
	return view{text: rows(fields...), obj: obj.with("counters", counters)}
}

// countersOf yields every counter, zero or not, in the proto's field order:
// the proto is the one list of counters.
func countersOf(c *sockdv1.Counters) iter.Seq2[string, uint64] {
	return func(yield func(string, uint64) bool) {
		m := c.ProtoReflect()
		fields := m.Descriptor().Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			if !yield(string(fd.Name()), m.Get(fd).Uint()) {
				return
			}
		}
	}
}

// nonNil makes an empty list [] in JSON rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// socketKind is the domain, type and protocol an info names, each by its
// enum or its number.
func socketKind(i *sockdv1.SocketInfo) (client.Domain, client.Type, client.Protocol) {
	return client.Domain{Enum: i.GetDomain(), Number: i.GetDomainNumber()},
		client.Type{Enum: i.GetType(), Number: i.GetTypeNumber()},
		client.Protocol{Enum: i.GetProtocol(), Number: i.GetProtocolNumber()}
}
