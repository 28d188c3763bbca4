package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func inet4(addr string, port uint32) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet{Inet: &sockdv1.InetAddr{Host: &sockdv1.InetAddr_Address{Address: addr}, Port: port}}}
}

func inet6(addr string, port uint32) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet6{Inet6: &sockdv1.Inet6Addr{Host: &sockdv1.Inet6Addr_Address{Address: addr}, Port: port}}}
}

func TestITable(t *testing.T) {
	listener := socketFacts{
		info: &sockdv1.SocketInfo{Domain: sockdv1.Domain_DOMAIN_INET, Type: sockdv1.Type_TYPE_STREAM,
			Protocol: sockdv1.Protocol_PROTOCOL_TCP, Fd: 12, Owner: "s1", Rstates: []string{"bound", "listening", "accepting"}},
		local: inet4("0.0.0.0", 40000),
	}
	conn := socketFacts{
		info: &sockdv1.SocketInfo{SocketId: "c0ffee", Domain: sockdv1.Domain_DOMAIN_INET6, Type: sockdv1.Type_TYPE_STREAM,
			Protocol: sockdv1.Protocol_PROTOCOL_TCP, Fd: 7, Owner: "s2", Rstates: []string{"connected"}, Wstates: []string{"connected"},
			Counters: &sockdv1.Counters{ReadByte: 5, WriteByte: 123}},
		local: inet6("::1", 40001), peer: inet6("::1", 40000),
	}
	udpL := socketFacts{
		info: &sockdv1.SocketInfo{SocketId: "beef", Domain: sockdv1.Domain_DOMAIN_LOCAL, Type: sockdv1.Type_TYPE_DGRAM, Fd: -1,
			Wstates: []string{"selected"}},
		local: &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: []byte("/tmp/x")}}},
	}
	sockets := []socketFacts{listener, conn, udpL}
	got := iTable(defaultIKeys, tableRows(sockets, defaultIKeys))
	want := "" +
		"Domain Type   Protocol Fd Owner Local Address   Remote Address  Recv Sent State      \n" +
		"inet   STREAM TCP      12 s1    *:40000                         0    0    BD:LG:A, - \n" +
		"inet6  STREAM TCP      7  s2    localhost:40001 localhost:40000 5    123  CD , CD    \n" +
		"local  DGRAM  UDP               local:/tmp/x                    0    0     - , SD    \n"
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", strings.ReplaceAll(got, " \n", "$\n"), strings.ReplaceAll(want, " \n", "$\n"))
	}
	var out strings.Builder
	// In json as sockctl info and sockname say it, with the socket's id.
	if err := emitTable(&printer{w: &out, json: true}, append(defaultIKeys, "bogus"), sockets[1:]); err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"socket":"c0ffee","domain":"inet6","type":"stream","protocol":"tcp","fd":7,"owner":"s2","local_address":"[::1]:40001","remote_address":"[::1]:40000","recv":5,"sent":123,"rstates":["connected"],"wstates":["connected"],"bogus":null}` + "\n" +
		`{"socket":"beef","domain":"local","type":"dgram","protocol":"default","fd":null,"owner":null,"local_address":"local:/tmp/x","remote_address":null,"recv":0,"sent":0,"rstates":[],"wstates":["selected"],"bogus":null}` + "\n"
	if out.String() != wantJSON {
		t.Errorf("json:\n%s\nwant:\n%s", out.String(), wantJSON)
	}
	if iTable(defaultIKeys, nil) != "" {
		t.Error("an empty table printed something")
	}
	if got := iTable([]string{"domain", "bogus"}, [][]string{{"inet", iCell(listener, "bogus")}}); got != "Domain Bogus \ninet         \n" {
		t.Errorf("unknown key: %q", got)
	}
}

func TestIHeader(t *testing.T) {
	for key, want := range map[string]string{"domain": "Domain", "local_address": "Local Address", "a_b_c": "A B C"} {
		if got := iHeader(key); got != want {
			t.Errorf("iHeader(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestIStates(t *testing.T) {
	cases := []struct {
		r, w []string
		want string
	}{
		{nil, nil, " "},
		{[]string{"bound"}, nil, "BD, -"},
		{nil, []string{"connecting"}, " - , CG"},
		{[]string{"connected", "selected"}, []string{"connected", "closing"}, "CD:SD , CD:CLOSING"},
		{[]string{"open", "listen", "busy", "dtor"}, nil, "O:LN:BY:DTOR, -"},
	}
	for _, c := range cases {
		if got := iStates(c.r, c.w); got != c.want {
			t.Errorf("iStates(%v, %v) = %q, want %q", c.r, c.w, got, c.want)
		}
	}
}

func TestIAddressAndProtocol(t *testing.T) {
	cases := []struct {
		sa   *sockdv1.SockAddr
		want string
	}{
		{inet4("10.1.2.3", 9), "10.1.2.3:9"},
		{inet6("::", 0), "*:0"},
		{inet6("fe80::1", 80), "fe80::1:80"},
		{&sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: []byte("\x00app")}}}, "local:@app"},
		{&sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{Path: []byte("/run/app.sock")}}}, "local:/run/app.sock"},
		{&sockdv1.SockAddr{Family: &sockdv1.SockAddr_Local{Local: &sockdv1.LocalAddr{}}}, "local:"},
		{nil, " "},
	}
	none := func(uint32) (string, bool) { return "", false }
	for _, c := range cases {
		if got := iAddress(c.sa, none); got != c.want {
			t.Errorf("iAddress(%v) = %q, want %q", c.sa, got, c.want)
		}
	}
	http := func(port uint32) (string, bool) { return "http", port == 80 }
	if got := iAddress(inet4("127.0.0.1", 80), http); got != "localhost:http (80)" {
		t.Errorf("a named port: %q", got)
	}
	seq := &sockdv1.SocketInfo{Type: sockdv1.Type_TYPE_SEQPACKET}
	if got := iProtocol(seq); got != "UNKNOWN" {
		t.Errorf("protocol of a default-protocol seqpacket socket = %q", got)
	}
}

func TestParseServices(t *testing.T) {
	m := parseServices(bufio.NewScanner(strings.NewReader(
		"# comment\nssh\t\t22/tcp\t\t\t# SSH\nhttp 80/tcp www\nwww-alt 80/tcp\n\nbroken\ndomain 53/udp\n")))
	want := map[string]string{"22/tcp": "ssh", "80/tcp": "http", "53/udp": "domain"}
	if len(m) != len(want) {
		t.Fatalf("parseServices = %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
}

func TestIFilter(t *testing.T) {
	if f, err := iFilter([]string{"inet6"}); err != nil || f.Domain != sockdv1.Domain_DOMAIN_INET6 {
		t.Errorf("inet6: %v, %v", f, err)
	}
	if f, err := iFilter([]string{"seqpacket"}); err != nil || f.Type != sockdv1.Type_TYPE_SEQPACKET {
		t.Errorf("seqpacket: %v, %v", f, err)
	}
	if f, err := iFilter([]string{"udp"}); err != nil || f.Protocol != sockdv1.Protocol_PROTOCOL_UDP {
		t.Errorf("udp: %v, %v", f, err)
	}
	for _, bad := range []string{"raw", "17", "INET"} {
		if _, err := iFilter([]string{bad}); err == nil {
			t.Errorf("iFilter(%q) accepted it", bad)
		}
	}
}

func TestSocketFilter(t *testing.T) {
	f, err := socketFilter("local", "dgram", "udp", "sess")
	if err != nil || f.Domain != sockdv1.Domain_DOMAIN_LOCAL || f.Type != sockdv1.Type_TYPE_DGRAM ||
		f.Protocol != sockdv1.Protocol_PROTOCOL_UDP || f.Owner != "sess" {
		t.Errorf("socketFilter = %+v, %v", f, err)
	}
	for _, bad := range [][3]string{{"bogus", "", ""}, {"", "99", ""}, {"", "", "nope"}, {"17", "", ""}} {
		// The refusal lists names only: a number is no filter.
		if _, err := socketFilter(bad[0], bad[1], bad[2], ""); err == nil || strings.Contains(err.Error(), "number") {
			t.Errorf("socketFilter(%q) = %v, want a refusal listing the names", bad, err)
		}
	}
}

func TestGlobalInfoView(t *testing.T) {
	v := globalInfoView(&sockdv1.GlobalInfoResponse{UseRegistry: true, NumCntBits: 64, NumSockets: 3, NumTstreams: 2,
		NumTdgrams: 1, NumDinet: 3, NumPtcp: 2, NumPudp: 1, IovMax: 1024, IoBackend: "epoll", Principal: "tcp",
		Policy: &sockdv1.PolicyRule{Source: "/etc/sockd/policy.yaml", Matched: true, Open: []string{"inet stream *", "inet dgram *"},
			Bind: []string{"*:0", "*:1024-65535"}, Connect: []string{"*"}, SocketQuota: 1024, ActAs: "1000:1000"}})
	checkView(t, "global-info", v,
		"debug: false\nsocket_debug: false\neei: false\nuse_registry: true\niow: false\nnum_cnt_bits: 64\nnum_sockets: 3\n"+
			"num_tstreams: 2\nnum_tdgrams: 1\nnum_tseqpkgs: 0\nnum_dlocal: 0\nnum_dinet: 3\nnum_dinet6: 0\n"+
			"num_pip: 0\nnum_ptcp: 2\nnum_pudp: 1\nnum_psctp: 0\niov_max: 1024\nio_backend: epoll\n"+
			"principal: tcp\npolicy: /etc/sockd/policy.yaml (restricted)\npolicy.act_as: 1000:1000\npolicy.open: inet stream *, inet dgram *\n"+
			"policy.bind: *:0, *:1024-65535\npolicy.connect: *\npolicy.socket_quota: 1024\n",
		`{"debug":false,"socket_debug":false,"eei":false,"use_registry":true,"iow":false,"counters":{"num_cnt_bits":64,`+
			`"num_sockets":3,"num_tstreams":2,"num_tdgrams":1,"num_tseqpkgs":0,"num_dlocal":0,"num_dinet":3,"num_dinet6":0,`+
			`"num_pip":0,"num_ptcp":2,"num_pudp":1,"num_psctp":0},"iov_max":1024,"io_backend":{"name":"epoll"},`+
			`"principal":"tcp","policy":{"source":"/etc/sockd/policy.yaml","matched":true,"unrestricted":false,"admin":false,"act_as":"1000:1000","open":["inet stream *","inet dgram *"],`+
			`"netns":[],"bind":["*:0","*:1024-65535"],"connect":["*"],"sendto":[],"accept":[],"options":[],"socket_quota":1024,"session_quota":0,"pending_operations_quota":0,"event_backlog_quota":0,"completion_bytes_quota":0}}`)
}

func TestWatchRedrawsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	draws := 0
	err := watch(ctx, io.Discard, time.Millisecond, func(io.Writer) error {
		if draws++; draws == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || draws != 3 {
		t.Errorf("watch = %v after %d draws, want canceled after 3", err, draws)
	}
	boom := errors.New("boom")
	if err := watch(context.Background(), io.Discard, time.Hour, func(io.Writer) error { return boom }); err != boom {
		t.Errorf("a failing draw: %v", err)
	}
}

func TestCheckKeys(t *testing.T) {
	for _, keys := range [][]string{nil, {""}, {"fd", ""}} {
		if err := checkKeys(keys); exitCode(err) != exitUsage {
			t.Errorf("checkKeys(%q) = %v, want a usage error", keys, err)
		}
	}
	if err := checkKeys([]string{"fd", "bogus"}); err != nil {
		t.Errorf("an unknown key prints \" \", as in Erlang: %v", err)
	}
}
