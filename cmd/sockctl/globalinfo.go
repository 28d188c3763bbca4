package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func newGlobalInfoCommand(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "global-info",
		Short: "Print the daemon's socket info (Erlang's socket:info/0)",
		Long: `Print Erlang's socket:info/0 as "key: value" rows: debug, socket_debug,
eei, use_registry (the global default), iow, the counts of open sockets by type,
domain and protocol (registered or not), num_cnt_bits, iov_max and the I/O
backend's name; then who the daemon takes you to be (principal) and what its
policy lets you do (policy, and a policy.LIST row per list of your rule).`,
		Args: noArgs,
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
	}{{"debug", gi.GetDebug()}, {"socket_debug", gi.GetSocketDebug()}, {"eei", gi.GetEei()}, {"use_registry", gi.GetUseRegistry()}, {"iow", gi.GetIow()}}
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
	pf, po := policyView(gi.GetPolicy())
	fields = append(append(fields, field{"principal", gi.GetPrincipal()}), pf...)
	obj = obj.with("principal", gi.GetPrincipal()).with("policy", po)
	return view{text: rows(fields...), obj: obj}
}

// policyView shows what the policy lets the caller do: "policy" names its
// source and what the rule allows (unrestricted, or nothing when no rule
// names the caller); one "policy.LIST" row per list that has entries.
func policyView(r *sockdv1.PolicyRule) ([]field, object) {
	summary := "restricted"
	switch {
	case !r.GetMatched():
		summary = "no rule: nothing allowed"
	case r.GetUnrestricted():
		summary = "unrestricted"
	}
	if r.GetAdmin() {
		summary += ", admin"
	}
	fields := []field{{"policy", r.GetSource() + " (" + summary + ")"}}
	obj := object{}.with("source", r.GetSource()).with("matched", r.GetMatched()).with("unrestricted", r.GetUnrestricted()).with("admin", r.GetAdmin())
	if r.GetActAs() != "" {
		fields = append(fields, field{"policy.act_as", r.GetActAs()})
	}
	obj = obj.with("act_as", r.GetActAs())
	for _, l := range []struct {
		key  string
		list []string
	}{{"open", r.GetOpen()}, {"netns", r.GetNetns()}, {"bind", r.GetBind()}, {"connect", r.GetConnect()},
		{"sendto", r.GetSendto()}, {"accept", r.GetAccept()}, {"options", r.GetOptions()}} {
		if len(l.list) > 0 {
			fields = append(fields, field{"policy." + l.key, strings.Join(l.list, ", ")})
		}
		obj = obj.with(l.key, nonNil(l.list))
	}
	for _, q := range []struct {
		key string
		n   uint64
	}{{"socket_quota", uint64(r.GetSocketQuota())}, {"session_quota", uint64(r.GetSessionQuota())},
		{"pending_operations_quota", uint64(r.GetPendingOperationsQuota())},
		{"event_backlog_quota", uint64(r.GetEventBacklogQuota())}, {"completion_bytes_quota", r.GetCompletionBytesQuota()}} {
		if q.n > 0 {
			fields = append(fields, field{"policy." + q.key, strconv.FormatUint(q.n, 10)})
		}
		obj = obj.with(q.key, q.n)
	}
	return fields, obj
}
