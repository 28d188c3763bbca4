package server

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// A kernel's string that is not UTF-8 (an interface name may be any bytes)
// still makes an answer that marshals, its stray bytes written \xNN.
func TestStringOptionValueNotUTF8(t *testing.T) {
	for in, want := range map[string]string{
		"eth0":         "eth0",
		"\xff\xfe":     `\xff\xfe`,
		"br-\xc3\xa9x": "br-éx",
		"a\xc3":        `a\xc3`,
	} {
		v := encodeOptionValue(options.TypeString, in)
		if got := v.GetStringValue(); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
		if _, err := proto.Marshal(v); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// The SCTP values cross between the API's messages and the options
// package's forms field by field, both ways (no live test can: this kernel
// may have no SCTP, and the daemon refuses before it decodes then), and a
// field wider than the kernel's is refused, not truncated.
func TestSCTPOptionValues(t *testing.T) {
	for _, c := range []struct {
		typ options.ValueType
		in  *sockdv1.OptionValue
	}{
		{options.TypeSCTPAssocParams, &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpAssocparams{SctpAssocparams: &sockdv1.SctpAssocParams{
			AssocId: 7, Asocmaxrxt: 10, NumberPeerDestinations: 2, PeerRwnd: 65536, LocalRwnd: 32768, CookieLife: 60000}}}},
		{options.TypeSCTPInitMsg, &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpInitmsg{SctpInitmsg: &sockdv1.SctpInitMsg{
			NumOstreams: 10, MaxInstreams: 11, MaxAttempts: 4, MaxInitTimeo: 3000}}}},
		{options.TypeSCTPRtoInfo, &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpRtoinfo{SctpRtoinfo: &sockdv1.SctpRtoInfo{
			AssocId: 3, Initial: 3000, Max: 60000, Min: 1000}}}},
	} {
		v, reason := optionValue(c.typ, c.in)
		if reason != "" {
			t.Errorf("%s: refused: %s", c.typ, reason)
			continue
		}
		if out := encodeOptionValue(c.typ, v); !proto.Equal(out, c.in) {
			t.Errorf("%s: %v came back as %v (through %+v)", c.typ, c.in, out, v)
		}
	}

	events := &sockdv1.SctpEventSubscribe{DataIo: true, Association: true, Address: false, SendFailure: true,
		PeerError: true, Shutdown: false, PartialDelivery: true, AdaptationLayer: true, SenderDry: true}
	v, reason := optionValue(options.TypeSCTPEventSubscribe, &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpEventSubscribe{SctpEventSubscribe: events}})
	want := options.SCTPEventSubscribe{DataIO: true, Association: true, SendFailure: true, PeerError: true,
		PartialDelivery: true, AdaptationLayer: true, SenderDry: true}
	if reason != "" || v != want {
		t.Errorf("events: %+v %q, want %+v", v, reason, want)
	}

	for _, c := range []struct {
		typ options.ValueType
		in  *sockdv1.OptionValue
	}{
		{options.TypeSCTPAssocParams, &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpAssocparams{SctpAssocparams: &sockdv1.SctpAssocParams{Asocmaxrxt: 1 << 16}}}},
		{options.TypeSCTPAssocParams, &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpAssocparams{SctpAssocparams: &sockdv1.SctpAssocParams{NumberPeerDestinations: 1 << 16}}}},
		{options.TypeSCTPInitMsg, &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpInitmsg{SctpInitmsg: &sockdv1.SctpInitMsg{MaxInitTimeo: 1 << 16}}}},
		{options.TypeSCTPRtoInfo, &sockdv1.OptionValue{Value: &sockdv1.OptionValue_SctpInitmsg{SctpInitmsg: &sockdv1.SctpInitMsg{}}}},
	} {
		if v, reason := optionValue(c.typ, c.in); reason == "" {
			t.Errorf("%s: %v taken as %+v, want a refusal", c.typ, c.in, v)
		}
	}
}
