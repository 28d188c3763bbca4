package server

import (
	"slices"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// encodePolicyRule tells a principal what the policy in force lets it do
// (GlobalInfo), in the policy file's own spelling.
func encodePolicyRule(pol *Policy, p Principal) *sockdv1.PolicyRule {
	out := &sockdv1.PolicyRule{Source: pol.String()}
	r := pol.ruleFor(p)
	if r == nil {
		return out
	}
	out.Matched, out.Unrestricted, out.Admin = true, r.unrestricted, r.admin
	for _, k := range r.open {
		out.Open = append(out.Open, k.String())
	}
	out.Netns = slices.Clone(r.netns)
	for _, l := range []struct {
		in  []addrPattern
		out *[]string
	}{{r.bind, &out.Bind}, {r.connect, &out.Connect}, {r.sendTo, &out.Sendto}, {r.accept, &out.Accept}} {
		for _, a := range l.in {
			*l.out = append(*l.out, a.String())
		}
	}
	switch {
	case r.anyOption:
		out.Options = []string{"*"}
	default:
		for k := range r.options {
			out.Options = append(out.Options, k.String())
		}
		slices.Sort(out.Options)
		if r.native {
			out.Options = append(out.Options, "native")
		}
	}
	out.SocketQuota, out.SessionQuota = uint32(r.quotas.sockets), uint32(r.quotas.sessions)
	out.PendingOperationsQuota = uint32(r.quotas.pending)
	out.EventBacklogQuota, out.CompletionBytesQuota = uint32(r.quotas.eventBacklog), uint64(r.quotas.completionBytes)
	return out
}
