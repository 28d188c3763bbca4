package server

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// encodePolicyRule tells a principal what the policy in force lets it do
// (GlobalInfo), in the policy file's own spelling.
func encodePolicyRule(pol *Policy, p Principal) *sockdv1.PolicyRule {
	r := pol.ruleFor(p)
	if r == nil {
		return &sockdv1.PolicyRule{Source: pol.String(), Admin: p.Admin()}
	}
	out := r.encode()
	out.Source = pol.String()
	out.Admin = out.Admin || p.Admin() // root on the unix socket is, whatever its rule
	return out
}

// encode spells the rule as the policy file does.
func (r *policyRule) encode() *sockdv1.PolicyRule {
	out := &sockdv1.PolicyRule{Matched: true, Unrestricted: r.unrestricted, Admin: r.admin}
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
	if r.actAs != nil {
		out.ActAs = fmt.Sprintf("%d:%d", r.actAs.UID, r.actAs.GID)
	}
	return out
}

// Summary describes the policy a line per rule, in order, for an operator
// checking a file before putting it in force (sockd check-policy).
func (pol *Policy) Summary() []string {
	lines := make([]string, 0, len(pol.rules))
	for i, r := range pol.rules {
		who := make([]string, len(r.principals))
		for j, pp := range r.principals {
			who[j] = pp.String()
		}
		e := r.encode()
		var what []string
		if e.Admin {
			what = append(what, "admin")
		}
		if e.Unrestricted {
			what = append(what, "unrestricted")
		}
		if e.ActAs != "" {
			what = append(what, "act_as "+e.ActAs)
		}
		for _, l := range []struct {
			name string
			list []string
		}{{"open", e.Open}, {"netns", e.Netns}, {"bind", e.Bind}, {"connect", e.Connect}, {"sendto", e.Sendto}, {"accept", e.Accept}, {"options", e.Options}} {
			if len(l.list) > 0 {
				what = append(what, l.name+" "+strings.Join(l.list, ", "))
			}
		}
		for _, q := range []struct {
			name string
			n    uint64
		}{{"sockets", uint64(e.SocketQuota)}, {"sessions", uint64(e.SessionQuota)}, {"pending_operations", uint64(e.PendingOperationsQuota)},
			{"event_backlog", uint64(e.EventBacklogQuota)}, {"completion_bytes", e.CompletionBytesQuota}} {
			if q.n > 0 {
				what = append(what, fmt.Sprintf("%s quota %d", q.name, q.n))
			}
		}
		if len(what) == 0 {
			what = []string{"nothing"}
		}
		lines = append(lines, fmt.Sprintf("rule %d (%s): %s", i+1, strings.Join(who, ", "), strings.Join(what, "; ")))
	}
	return lines
}

// String spells the pattern as a rule's principals list does.
func (pp principalPattern) String() string {
	if pp.any {
		return "*"
	}
	return pp.Principal.String()
}

// Warnings names what in the policy is allowed but probably not meant: a
// rule that lets a principal other than a local user (tcp, x509:NAME, *)
// open local sockets without act_as, whose sockets then act for the
// daemon's user, root when it runs as root: their local peers read that
// uid (SO_PEERCRED), and their paths are reached with its rights; and an
// act_as that covers local users (*, or uid:N for another N), who then act
// as someone else.
func (pol *Policy) Warnings() []string {
	var out []string
	for i, r := range pol.rules {
		if r.actAs != nil {
			for _, pp := range r.principals {
				if pp.any || pp.Kind == "uid" && pp.UID != r.actAs.UID {
					out = append(out, fmt.Sprintf("rules[%d]: act_as %d:%d applies to %s: local users it covers act as that user, not as themselves",
						i, r.actAs.UID, r.actAs.GID, pp))
				}
			}
			continue
		}
		if !r.opensLocal() {
			continue
		}
		for _, pp := range r.principals {
			if pp.any || pp.Kind != "uid" {
				out = append(out, fmt.Sprintf("rules[%d]: %s may open local sockets and names no act_as: they act for the daemon's user, "+
					"whose uid their local peers read and with whose rights they reach paths", i, pp))
				break
			}
		}
	}
	return out
}

// opensLocal reports whether r lets its principals open local sockets.
func (r *policyRule) opensLocal() bool {
	return r.unrestricted || slices.ContainsFunc(r.open, func(k socketKind) bool { return k.domain == unix.AF_UNIX || k.domain < 0 })
}
