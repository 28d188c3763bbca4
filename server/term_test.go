package server

import (
	"net/netip"
	"testing"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Invalid values print as an Erlang user reads them, not as Go structs.
func TestTerm(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{engine.SelectInfo{Op: engine.OpRecvFrom, Handle: 900}, "{select_info, recvfrom, 900}"},
		{engine.SelectInfo{Op: engine.OpAccept, Handle: 3, Completion: true}, "{completion_info, accept, 3}"},
		{options.RcvBuf{N: 2, Size: 100}, "{2, 100}"},
		{options.RcvBuf{Default: true}, "default"},
		{options.IPMreq{Multiaddr: netip.MustParseAddr("10.0.0.1"), Interface: netip.IPv4Unspecified()},
			"#{multiaddr => 10.0.0.1, interface => 0.0.0.0}"},
		{options.Linger{OnOff: true, Seconds: 3}, "#{onoff => true, linger => 3}"},
		{options.SCTPInitMsg{NumOstreams: 1, MaxInstreams: 2}, "#{num_outstreams => 1, max_instreams => 2, max_attempts => 0, max_init_timeo => 0}"},
		// A request's value as it came, not in protobuf's text format.
		{&sockdv1.OptionValue{Value: &sockdv1.OptionValue_IpMreq{IpMreq: &sockdv1.IpMreq{Multiaddr: "bogus", Interface: "any"}}},
			`#{ip_mreq => #{multiaddr => "bogus", interface => "any"}}`},
		{&sockdv1.InetAddr{Host: &sockdv1.InetAddr_Shortcut{Shortcut: sockdv1.AddrShortcut_ADDR_SHORTCUT_LOOPBACK}, Port: 80},
			"#{shortcut => loopback, port => 80}"},
		{[]int{1, 2}, "[1, 2]"},
		{(*options.IPMsfilter)(nil), "undefined"},
		{"level 1 type 2", "level 1 type 2"},
		{7, "7"},
	} {
		if got := term(c.v); got != c.want {
			t.Errorf("term(%#v) = %q, want %q", c.v, got, c.want)
		}
	}
}
