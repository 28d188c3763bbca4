package main

import (
	"context"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newGlobalInfoCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "global-info",
		Short: "Print the daemon's socket info (Erlang's socket:info/0)",
		Long: `Print Erlang's socket:info/0 as "key: value" rows: debug, socket_debug,
use_registry (the global default), iow, the counts of open sockets by type,
domain and protocol (registered or not), num_cnt_bits, iov_max and the I/O
backend's name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd, func(ctx context.Context, c *client.Client) error {
				gi, err := c.GlobalInfo(ctx)
				if err != nil {
					return err
				}
				return a.out.emit(globalInfoView(gi))
			})
		},
	}
}

func globalInfoView(gi *sockdv1.GlobalInfoResponse) view {
	b := strconv.FormatBool
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	flags := []struct {
		key   string
		value bool
	}{{"debug", gi.GetDebug()}, {"socket_debug", gi.GetSocketDebug()}, {"use_registry", gi.GetUseRegistry()}, {"iow", gi.GetIow()}}
	counters := []struct {
		key   string
		value uint64
	}{
		{"num_cnt_bits", uint64(gi.GetNumCntBits())},
		{"num_sockets", gi.GetNumSockets()},
		{"num_tstreams", gi.GetNumTstreams()}, {"num_tdgrams", gi.GetNumTdgrams()}, {"num_tseqpkgs", gi.GetNumTseqpkgs()},
		{"num_dlocal", gi.GetNumDlocal()}, {"num_dinet", gi.GetNumDinet()}, {"num_dinet6", gi.GetNumDinet6()},
		{"num_pip", gi.GetNumPip()}, {"num_ptcp", gi.GetNumPtcp()}, {"num_pudp", gi.GetNumPudp()}, {"num_psctp", gi.GetNumPsctp()},
	}
	var fields []field
	obj := object{}
	for _, f := range flags {
		fields = append(fields, field{f.key, b(f.value)})
		obj = obj.with(f.key, f.value)
	}
	cnt := object{}
	for _, c := range counters {
		fields = append(fields, field{c.key, u(c.value)})
		cnt = cnt.with(c.key, c.value)
	}
	fields = append(fields, field{"iov_max", u(uint64(gi.GetIovMax()))}, field{"io_backend", gi.GetIoBackend()})
	obj = obj.with("counters", cnt).with("iov_max", gi.GetIovMax()).with("io_backend", object{}.with("name", gi.GetIoBackend()))
	return view{text: rows(fields...), obj: obj}
}
