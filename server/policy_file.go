package server

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"sigs.k8s.io/yaml"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/options"
)

// maxCompletionQuota bounds completion_bytes (1 TiB): a quota never raises
// the daemon's own limit anyway.
const maxCompletionQuota = 1 << 40

// minEventBacklog is the smallest event_backlog quota: nowait calls are
// refused once half the backlog is undelivered.
const minEventBacklog = 16

// Bounds on a policy, so that a mistaken file cannot make every call slow.
const (
	maxPolicyFile    = 1 << 20
	maxPolicyRules   = 1024
	maxPolicyEntries = 4096 // per list of a rule
)

// The policy file's schema, version 1. YAML or JSON; unknown fields are errors.
type policyDoc struct {
	Version int       `json:"version"`
	Rules   []ruleDoc `json:"rules"`
}

type ruleDoc struct {
	Principals   []string `json:"principals"`
	Unrestricted bool     `json:"unrestricted"`
	Admin        bool     `json:"admin"`
	Open         []string `json:"open"`
	Netns        []string `json:"netns"`
	Bind         []string `json:"bind"`
	Connect      []string `json:"connect"`
	SendTo       []string `json:"sendto"`
	Accept       []string `json:"accept"`
	Options      []string `json:"options"`
	ActAs        string   `json:"act_as"`
	Quotas       struct {
		Sockets           int `json:"sockets"`
		Sessions          int `json:"sessions"`
		PendingOperations int `json:"pending_operations"`
		EventBacklog      int `json:"event_backlog"`
		CompletionBytes   int `json:"completion_bytes"`
	} `json:"quotas"`
}

// LoadPolicy reads and parses a policy file.
func LoadPolicy(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Whoever may write the policy may grant themselves the daemon's rights:
	// only root or the daemon's own user may.
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("%s: writable by group or others (mode %v); only its owner may write a policy", path, st.Mode().Perm())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 && int(sys.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("%s: owned by uid %d; a policy must belong to root or to the daemon's user", path, sys.Uid)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPolicyFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPolicyFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxPolicyFile)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	p.origin = path
	return p, nil
}

// ParsePolicy parses a policy document (YAML or JSON).
func ParsePolicy(data []byte) (*Policy, error) {
	if len(data) > maxPolicyFile {
		return nil, fmt.Errorf("policy larger than %d bytes", maxPolicyFile)
	}
	var doc policyDoc
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return nil, err
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("version: want 1, got %d", doc.Version)
	}
	if len(doc.Rules) > maxPolicyRules {
		return nil, fmt.Errorf("rules: at most %d, got %d", maxPolicyRules, len(doc.Rules))
	}
	p := &Policy{origin: "policy"}
	for i, rd := range doc.Rules {
		r, err := parseRule(rd)
		if err != nil {
			return nil, fmt.Errorf("rules[%d]: %w", i, err)
		}
		p.rules = append(p.rules, r)
	}
	return p.index(), nil
}

func parseRule(d ruleDoc) (*policyRule, error) {
	r := &policyRule{unrestricted: d.Unrestricted, admin: d.Admin, options: map[options.Key]bool{}}
	if len(d.Principals) == 0 {
		return nil, errors.New("principals: a rule names at least one")
	}
	lists := map[string]int{"principals": len(d.Principals), "open": len(d.Open), "netns": len(d.Netns),
		"bind": len(d.Bind), "connect": len(d.Connect), "sendto": len(d.SendTo), "accept": len(d.Accept), "options": len(d.Options)}
	for name, n := range lists {
		if n > maxPolicyEntries {
			return nil, fmt.Errorf("%s: at most %d entries, got %d", name, maxPolicyEntries, n)
		}
	}
	if r.admin && slices.ContainsFunc(d.Principals, func(s string) bool { return s == "*" || s == "tcp" }) {
		return nil, errors.New("admin: not for * or tcp, which any local process can be")
	}
	if r.unrestricted && len(d.Open)+len(d.Netns)+len(d.Bind)+len(d.Connect)+len(d.SendTo)+len(d.Accept)+len(d.Options) > 0 {
		return nil, errors.New("unrestricted: an unrestricted rule allows everything; it takes no open, netns, address or options lists")
	}
	if d.ActAs != "" {
		c, err := parseActAs(d.ActAs)
		if err != nil {
			return nil, fmt.Errorf("act_as: %w", err)
		}
		r.actAs = c
	}
	for _, s := range d.Principals {
		pp, err := parsePrincipalPattern(s)
		if err != nil {
			return nil, fmt.Errorf("principals: %w", err)
		}
		r.principals = append(r.principals, pp)
	}
	for _, s := range d.Open {
		k, err := parseSocketKind(s)
		if err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		r.open = append(r.open, k)
	}
	for _, s := range d.Netns {
		ns, err := parseNetns(s)
		if err != nil {
			return nil, fmt.Errorf("netns: %w", err)
		}
		r.netns = append(r.netns, ns)
	}
	for _, l := range []struct {
		name string
		in   []string
		out  *[]addrPattern
	}{{"bind", d.Bind, &r.bind}, {"connect", d.Connect, &r.connect}, {"sendto", d.SendTo, &r.sendTo}, {"accept", d.Accept, &r.accept}} {
		for _, s := range l.in {
			a, err := parseAddrPattern(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.name, err)
			}
			*l.out = append(*l.out, a)
		}
	}
	for _, s := range d.Options {
		if err := r.allowOption(s); err != nil {
			return nil, fmt.Errorf("options: %w", err)
		}
	}
	q := d.Quotas
	if q.Sockets < 0 || q.Sessions < 0 || q.PendingOperations < 0 || q.EventBacklog < 0 || q.CompletionBytes < 0 {
		return nil, errors.New("quotas: must not be negative")
	}
	if max(q.Sockets, q.Sessions, q.PendingOperations, q.EventBacklog) > math.MaxInt32 || q.CompletionBytes > maxCompletionQuota {
		return nil, fmt.Errorf("quotas: sockets, sessions, pending_operations and event_backlog at most %d, completion_bytes at most %d", math.MaxInt32, maxCompletionQuota)
	}
	if q.EventBacklog > 0 && q.EventBacklog < minEventBacklog {
		return nil, fmt.Errorf("quotas: event_backlog below %d would refuse most nowait calls", minEventBacklog)
	}
	r.quotas = policyQuotas{sockets: q.Sockets, sessions: q.Sessions, pending: q.PendingOperations,
		eventBacklog: q.EventBacklog, completionBytes: q.CompletionBytes}
	return r, nil
}

// allowOption adds one entry of a rule's options list: "*", "native", or a
// privileged option's "level.name".
func (r *policyRule) allowOption(s string) error {
	switch s {
	case "*":
		r.anyOption, r.native = true, true
		return nil
	case "native":
		r.native = true
		return nil
	}
	level, name, ok := strings.Cut(s, ".")
	if !ok {
		return fmt.Errorf("%q: want level.name (socket.priority), native or *", s)
	}
	l, err := options.ParseLevel(level)
	if err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	o, ok := options.Lookup(options.Key{Level: l, Name: name})
	if !ok {
		return fmt.Errorf("%q: no such option", s)
	}
	if !o.Privileged {
		return fmt.Errorf("%q: needs no permission; list only privileged options", s)
	}
	r.options[o.Key] = true
	return nil
}

func parsePrincipalPattern(s string) (principalPattern, error) {
	kind, value, _ := strings.Cut(s, ":")
	switch {
	case s == "*":
		return principalPattern{any: true}, nil
	case s == "tcp":
		return principalPattern{Principal: Principal{Kind: "tcp"}}, nil
	case kind == "uid":
		uid, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return principalPattern{}, fmt.Errorf("%q: want uid:NUMBER", s)
		}
		return principalPattern{Principal: Principal{Kind: "uid", UID: uint32(uid)}}, nil
	case kind == "x509" && value != "":
		return principalPattern{Principal: Principal{Kind: "x509", Name: value}}, nil
	}
	return principalPattern{}, fmt.Errorf("%q: want *, tcp, uid:NUMBER or x509:NAME", s)
}

// parseNetns reads an entry of a rule's netns list: "*", the path of a
// network namespace (absolute and clean, as Open must give it), or a name
// that `ip netns` keeps in /run/netns.
func parseNetns(s string) (string, error) {
	switch {
	case s == "*":
		return s, nil
	case path.IsAbs(s) && path.Clean(s) == s:
		return s, nil
	case s != "" && !strings.ContainsAny(s, "/\x00") && s != "." && s != "..":
		return "/run/netns/" + s, nil
	}
	return "", fmt.Errorf("%q: want *, an absolute clean path, or a name in /run/netns", s)
}

// parseActAs reads "UID:GID", the local user a rule's sockets act for.
func parseActAs(s string) (*engine.Creds, error) {
	uid, gid, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("%q: want UID:GID", s)
	}
	id := func(what, v string) (uint32, error) {
		// 2^32-1 is -1 to setresuid(2) and setresgid(2): "leave it".
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == math.MaxUint32 || strconv.FormatUint(n, 10) != v {
			return 0, fmt.Errorf("%q: bad %s %q", s, what, v)
		}
		return uint32(n), nil
	}
	u, err := id("uid", uid)
	if err != nil {
		return nil, err
	}
	g, err := id("gid", gid)
	if err != nil {
		return nil, err
	}
	if u == 0 || g == 0 {
		return nil, fmt.Errorf("%q: uid and gid 0 are root's, as whom sockets act without act_as", s)
	}
	return &engine.Creds{UID: u, GID: g}, nil
}
