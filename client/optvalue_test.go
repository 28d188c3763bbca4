package client

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestParseOptionValue(t *testing.T) {
	tests := []struct {
		typ, text string
		want      *sockdv1.OptionValue
		format    string // FormatOptionValue's answer when it differs from text
	}{
		{typ: "boolean()", text: "true", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: true}}},
		{typ: "boolean()", text: "false", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{}}},
		{typ: "integer()", text: "1500", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: 1500}}},
		{typ: "integer()", text: "-3", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: -3}}},
		{typ: "string()", text: "lo", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_StringValue{StringValue: "lo"}}},
		{typ: "abort | linger()", text: "abort", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_LingerAbort{LingerAbort: true}}},
		{typ: "abort | linger()", text: "onoff=true,linger=5",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Linger{Linger: &sockdv1.Linger{Onoff: true, Linger: 5}}}},
		{typ: "abort | linger()", text: "linger=5, onoff=true", format: "onoff=true,linger=5",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Linger{Linger: &sockdv1.Linger{Onoff: true, Linger: 5}}}},
		{typ: "timeval()", text: "sec=1,usec=0", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Timeval{Timeval: &sockdv1.Timeval{Sec: 1}}}},
		{typ: "ip_mreq()", text: "multiaddr=224.0.0.1,interface=any",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IpMreq{IpMreq: &sockdv1.IpMreq{Multiaddr: "224.0.0.1", Interface: "any"}}}},
		{typ: "ip_mreq()", text: "multiaddr=224.0.0.1",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IpMreq{IpMreq: &sockdv1.IpMreq{Multiaddr: "224.0.0.1"}}}},
		{typ: "ip_mreq_source()", text: "multiaddr=232.1.1.1,interface=127.0.0.1,sourceaddr=127.0.0.2",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IpMreqSource{IpMreqSource: &sockdv1.IpMreqSource{
				Multiaddr: "232.1.1.1", Interface: "127.0.0.1", Sourceaddr: "127.0.0.2"}}}},
		{typ: "null | ip_msfilter()", text: "null", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_MsfilterNull{MsfilterNull: true}}},
		{typ: "null | ip_msfilter()", text: "multiaddr=224.0.0.1,interface=any,mode=exclude,slist=10.0.0.1,slist=10.0.0.2",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IpMsfilter{IpMsfilter: &sockdv1.IpMsfilter{
				Multiaddr: "224.0.0.1", Interface: "any", Mode: sockdv1.IpMsfilter_MODE_EXCLUDE, Slist: []string{"10.0.0.1", "10.0.0.2"}}}}},
		{typ: "ipv6_mreq()", text: "multiaddr=ff02::1,interface=1",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Ipv6Mreq{Ipv6Mreq: &sockdv1.Ipv6Mreq{Multiaddr: "ff02::1", Interface: 1}}}},
		{typ: "ip_tos()", text: "lowdelay", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: "lowdelay"}}},
		{typ: "ip_tos()", text: "32", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: 32}}},
		{typ: "ip_pmtudisc()", text: "want", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: "want"}}},
		{typ: "any | ip4_address()", text: "any", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: "any"}}},
		{typ: "any | ip4_address()", text: "127.0.0.1", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Address{Address: "127.0.0.1"}}},
		{typ: "default | uint8()", text: "default", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: "default"}}},
		{typ: "default | uint8()", text: "64", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: 64}}},
		{typ: "inet", text: "inet", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: "inet"}}},
		{typ: "domain()", text: "inet6", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Domain{Domain: sockdv1.Domain_DOMAIN_INET6}}},
		{typ: "sctp_initmsg()", text: "num_ostreams=10,max_instreams=10,max_attempts=3,max_init_timeo=30",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpInitmsg{SctpInitmsg: &sockdv1.SctpInitMsg{
				NumOstreams: 10, MaxInstreams: 10, MaxAttempts: 3, MaxInitTimeo: 30}}}},
		{typ: "sctp_rtoinfo()", text: "assoc_id=-1,initial=3000,max=60000,min=1000",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpRtoinfo{SctpRtoinfo: &sockdv1.SctpRtoInfo{
				AssocId: -1, Initial: 3000, Max: 60000, Min: 1000}}}},
		{typ: "sctp_event_subscribe()", text: "data_io=true,association=true",
			format: "data_io=true,association=true,address=false,send_failure=false,peer_error=false,shutdown=false,partial_delivery=false,adaptation_layer=false,sender_dry=false",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpEventSubscribe{SctpEventSubscribe: &sockdv1.SctpEventSubscribe{
				DataIo: true, Association: true}}}},
		{typ: "sctp_assocparams()", text: "assoc_id=0,asocmaxrxt=10,number_peer_destinations=1,peer_rwnd=0,local_rwnd=0,cookie_life=60000",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpAssocparams{SctpAssocparams: &sockdv1.SctpAssocParams{
				Asocmaxrxt: 10, NumberPeerDestinations: 1, CookieLife: 60000}}}},
		{typ: "default | pos_integer() | {pos_integer(), pos_integer()}", text: "8192",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: 8192}}},
		{typ: "default | pos_integer() | {pos_integer(), pos_integer()}", text: "default",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: "default"}}},
		{typ: "default | pos_integer() | {pos_integer(), pos_integer()}", text: "{4,8192}",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Rcvbuf{Rcvbuf: &sockdv1.RcvBuf{Count: 4, Size: 8192}}}},
		{typ: "default | pos_integer() | {pos_integer(), pos_integer()}", text: "{4, default}", format: "{4,default}",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Rcvbuf{Rcvbuf: &sockdv1.RcvBuf{Count: 4, UseDefault: true}}}},
		{typ: "default | pos_integer() | {pos_integer(), pos_integer()}", text: "4,8192", format: "{4,8192}",
			want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Rcvbuf{Rcvbuf: &sockdv1.RcvBuf{Count: 4, Size: 8192}}}},
		{typ: "default | pos_integer()", text: "2048", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: 2048}}},
		{typ: "pid()", text: "0123abcd", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SessionId{SessionId: "0123abcd"}}},
		{typ: "term()", text: "undefined", want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Name{Name: "undefined"}}},
		{typ: "term()", text: "gen_tcp", format: `"gen_tcp"`, want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Term{Term: []byte("gen_tcp")}}},
		{typ: "term()", text: `"undefined"`, want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Term{Term: []byte("undefined")}}},
		{typ: "term()", text: `"\x83\x00"`, want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Term{Term: []byte{0x83, 0}}}},
		{typ: "term()", text: `""`, want: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Term{Term: []byte{}}}},
	}
	for _, tt := range tests {
		got, err := ParseOptionValue(tt.typ, tt.text)
		if err != nil || !proto.Equal(got, tt.want) {
			t.Errorf("ParseOptionValue(%q, %q) = %v, %v; want %v", tt.typ, tt.text, got, err, tt.want)
			continue
		}
		wantText := tt.text
		if tt.format != "" {
			wantText = tt.format
		}
		if s := FormatOptionValue(got); s != wantText {
			t.Errorf("FormatOptionValue(%v) = %q, want %q", got, s, wantText)
		}
		if _, err := json.Marshal(OptionValueJSON(got)); err != nil {
			t.Errorf("OptionValueJSON(%v) does not marshal: %v", got, err)
		}
	}
}

// A local socket's protocol reads as info prints it.
func TestFormatDefaultProtocol(t *testing.T) {
	v := &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Protocol{Protocol: sockdv1.Protocol_PROTOCOL_UNSPECIFIED}}
	if got := FormatOptionValue(v); got != "default" {
		t.Errorf("FormatOptionValue(protocol unspecified) = %q, want default", got)
	}
	v.Value = &sockdv1.OptionValue_Protocol{Protocol: sockdv1.Protocol_PROTOCOL_TCP}
	if got := FormatOptionValue(v); got != "tcp" {
		t.Errorf("FormatOptionValue(protocol tcp) = %q", got)
	}
}

func TestParseOptionValueErrors(t *testing.T) {
	tests := []struct {
		typ, text string
		want      string // in the message
	}{
		{"boolean()", "yes", "want true or false"},
		{"boolean()", "1", "want true or false"},
		{"integer()", "1.5", "want an integer"},
		{"integer()", "99999999999", "out of range"},
		{"non_neg_integer()", "-1", "out of range 0.."},
		{"uint8()", "256", "out of range 0..255"},
		{"abort | linger()", "5", "onoff=BOOL,linger=SECONDS"},
		{"abort | linger()", "onoff=maybe", "onoff: \"maybe\": want true or false"},
		{"abort | linger()", "onoff=true,onoff=false", "given twice"},
		{"abort | linger()", "onoff=true,seconds=5", `unknown key "seconds": want onoff, linger`},
		{"abort | linger()", "onoff=true,linger=-5", "linger"},
		{"ip_mreq()", "interface=any", "multiaddr is missing"},
		{"ip_mreq()", "multiaddr=example.com", "not an IP address"},
		{"ip_mreq()", "multiaddr=ff02::1%lo", "not an IP address"},
		{"ip_mreq_source()", "multiaddr=232.1.1.1", "sourceaddr is missing"},
		{"null | ip_msfilter()", "multiaddr=224.0.0.1,mode=both", "want include, exclude"},
		{"any | ip4_address()", "::1", "any or an IPv4 address"},
		{"ip_tos()", "fast", "lowdelay, throughput, reliability, mincost"},
		{"default | uint8()", "-1", "out of range"},
		{"default | pos_integer() | {pos_integer(), pos_integer()}", "{0,8192}", "positive"},
		{"default | pos_integer() | {pos_integer(), pos_integer()}", "0", "out of range"},
		{"default | pos_integer() | {pos_integer(), pos_integer()}", "{4}", "{N,SIZE}"},
		{"default | pos_integer()", "0", "out of range 1.."},
		{"inet", "inet6", "want inet"},
		{"pid()", "", "a session id"},
		{"map()", "x", "cannot be set"},
		{"no such type", "x", "cannot be set"},
	}
	for _, tt := range tests {
		v, err := ParseOptionValue(tt.typ, tt.text)
		var ove *OptionValueError
		if !errors.As(err, &ove) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseOptionValue(%q, %q) = %v, %v; want an error with %q", tt.typ, tt.text, v, err, tt.want)
		}
	}
}

// FuzzParseOptionValue: the parser never panics, and what it accepts it
// writes back in a form it reads as the same value.
func FuzzParseOptionValue(f *testing.F) {
	types := make([]string, 0, len(optionForms))
	for typ := range optionForms {
		types = append(types, typ)
	}
	slices.Sort(types)
	for i, seed := range []string{"true", "1500", "abort", "onoff=true,linger=5", "multiaddr=224.0.0.1,interface=any",
		"{4,8192}", "default", "lowdelay", "multiaddr=ff02::1,interface=1", "sec=1,usec=0", "null",
		"multiaddr=224.0.0.1,mode=include,slist=1.2.3.4", "data_io=true", "assoc_id=1,initial=2,max=3,min=1"} {
		f.Add(uint8(i), seed)
	}
	f.Fuzz(func(t *testing.T, which uint8, text string) {
		typ := types[int(which)%len(types)]
		v, err := ParseOptionValue(typ, text)
		if err != nil {
			return
		}
		formatted := FormatOptionValue(v)
		again, err := ParseOptionValue(typ, formatted)
		if err != nil {
			t.Fatalf("%s: %q parsed to %v, formatted as %q, which does not parse: %v", typ, text, v, formatted, err)
		}
		if !proto.Equal(v, again) {
			t.Fatalf("%s: %q parsed to %v, formatted as %q, parsed again to %v", typ, text, v, formatted, again)
		}
		if _, err := json.Marshal(OptionValueJSON(v)); err != nil {
			t.Fatalf("OptionValueJSON(%v): %v", v, err)
		}
	})
}
