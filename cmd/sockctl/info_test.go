package main

import (
	"strings"
	"testing"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestInfoView(t *testing.T) {
	info := &sockdv1.SocketInfo{
		SocketId: "ab12", Domain: sockdv1.Domain_DOMAIN_INET, DomainNumber: 2,
		Type: sockdv1.Type_TYPE_STREAM, TypeNumber: 1, Protocol: sockdv1.Protocol_PROTOCOL_TCP, ProtocolNumber: 6,
		Owner: "s1", Ctype: "normal", Rstates: []string{"bound", "listening"}, Fd: 7, UseRegistry: true,
		NumAcceptors: 1, Counters: &sockdv1.Counters{ReadByte: 5, AccWaits: 2},
	}
	v := infoView(info)
	wantText := `socket: ab12
domain: inet
type: stream
protocol: tcp
owner: s1
ctype: normal
rstates: bound,listening
wstates:
fd: 7
use_registry: true
num_readers: 0
num_writers: 0
num_acceptors: 1
relay_byte: 0
relay_dropped_byte: 0
read_byte: 5
read_fails: 0
read_pkg: 0
read_pkg_max: 0
read_tries: 0
read_waits: 0
write_byte: 0
write_fails: 0
write_pkg: 0
write_pkg_max: 0
write_tries: 0
write_waits: 0
acc_success: 0
acc_fails: 0
acc_tries: 0
acc_waits: 2
`
	wantJSON := `{"socket":"ab12","domain":"inet","type":"stream","protocol":"tcp","owner":"s1","ctype":"normal",` +
		`"rstates":["bound","listening"],"wstates":[],"fd":7,"use_registry":true,"num_readers":0,"num_writers":0,` +
		`"num_acceptors":1,"relay_byte":0,"relay_dropped_byte":0,"counters":{"read_byte":5,"read_fails":0,"read_pkg":0,"read_pkg_max":0,` +
		`"read_tries":0,"read_waits":0,"write_byte":0,"write_fails":0,"write_pkg":0,"write_pkg_max":0,"write_tries":0,` +
		`"write_waits":0,"acc_success":0,"acc_fails":0,"acc_tries":0,"acc_waits":2}}`
	checkView(t, "info", v, wantText, wantJSON)

	// A raw domain number prints as the number; missing counters as zeros.
	raw := infoView(&sockdv1.SocketInfo{SocketId: "x", DomainNumber: 17, TypeNumber: 3, ProtocolNumber: 0})
	for _, want := range []string{"domain: 17\n", "type: 3\n", "protocol: default\n", "acc_waits: 0\n"} {
		if !strings.Contains(raw.text, want) {
			t.Errorf("raw info lacks %q:\n%s", want, raw.text)
		}
	}
}
