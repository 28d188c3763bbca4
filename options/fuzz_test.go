package options

import (
	"reflect"
	"testing"
)

// fuzzDecode checks that a decoder never panics on the kernel's (or anyone's)
// bytes, and that whatever it accepts encodes back to a value that decodes the
// same.
func fuzzDecode(f *testing.F, typ ValueType, seeds ...[]byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeAs(typ, b)
		if err != nil {
			return
		}
		enc, err := encodeAs(typ, v)
		if err != nil {
			return // the kernel may answer what a caller may not set (e.g. linger < 0)
		}
		again, err := decodeAs(typ, enc)
		if err != nil || !reflect.DeepEqual(again, v) {
			t.Fatalf("%s: %x decoded to %#v, re-encoded to %x, decoded to %#v (%v)", typ, b, v, enc, again, err)
		}
	})
}

func FuzzDecodeBool(f *testing.F)       { fuzzDecode(f, TypeBool, []byte{1, 0, 0, 0}, []byte{1}) }
func FuzzDecodeInt(f *testing.F)        { fuzzDecode(f, TypeInt, []byte{0xff, 0xff, 0xff, 0xff}) }
func FuzzDecodeString(f *testing.F)     { fuzzDecode(f, TypeString, []byte("lo\x00\x00")) }
func FuzzDecodeLinger(f *testing.F)     { fuzzDecode(f, TypeLinger, make([]byte, 8)) }
func FuzzDecodeTimeval(f *testing.F)    { fuzzDecode(f, TypeTimeval, make([]byte, 16)) }
func FuzzDecodeIPMreq(f *testing.F)     { fuzzDecode(f, TypeIPMreq, []byte{224, 0, 0, 1, 127, 0, 0, 1}) }
func FuzzDecodeIPMreqSrc(f *testing.F)  { fuzzDecode(f, TypeIPMreqSource, make([]byte, 12)) }
func FuzzDecodeIPMsfilter(f *testing.F) { fuzzDecode(f, TypeIPMsfilter, make([]byte, 20), nil) }
func FuzzDecodePMTUDisc(f *testing.F)   { fuzzDecode(f, TypeIPPMTUDisc, []byte{2, 0, 0, 0}) }
func FuzzDecodeTOS(f *testing.F)        { fuzzDecode(f, TypeIPTOS, []byte{0x10, 0, 0, 0}) }
func FuzzDecodeMulticastIf(f *testing.F) {
	fuzzDecode(f, TypeIPMulticastIf, []byte{127, 0, 0, 1})
}
func FuzzDecodeIPv6Mreq(f *testing.F)    { fuzzDecode(f, TypeIPv6Mreq, make([]byte, 20)) }
func FuzzDecodeHops(f *testing.F)        { fuzzDecode(f, TypeIPv6Hops, []byte{0xff, 0xff, 0xff, 0xff}) }
func FuzzDecodeSCTPAssoc(f *testing.F)   { fuzzDecode(f, TypeSCTPAssocParams, make([]byte, 20)) }
func FuzzDecodeSCTPEvents(f *testing.F)  { fuzzDecode(f, TypeSCTPEventSubscribe, make([]byte, 10)) }
func FuzzDecodeSCTPInitMsg(f *testing.F) { fuzzDecode(f, TypeSCTPInitMsg, make([]byte, 8)) }
func FuzzDecodeSCTPRtoInfo(f *testing.F) { fuzzDecode(f, TypeSCTPRtoInfo, make([]byte, 16)) }
func FuzzDecodeUcred(f *testing.F)       { fuzzDecode(f, TypeUcred, make([]byte, 12)) }
func FuzzDecodeNonNegInt(f *testing.F) {
	fuzzDecode(f, TypeNonNegInt, []byte{0, 0, 1, 0}, []byte{0xff, 0xff, 0xff, 0xff})
}
func FuzzDecodeUint8(f *testing.F) {
	fuzzDecode(f, TypeUint8, []byte{0xff, 0, 0, 0}, []byte{0, 1, 0, 0})
}
func FuzzDecodeDomain(f *testing.F) {
	fuzzDecode(f, TypeDomain, []byte{2, 0, 0, 0}, []byte{0xff, 0, 0, 0})
}
func FuzzDecodeType(f *testing.F) {
	fuzzDecode(f, TypeType, []byte{1, 0, 0, 0}, []byte{0x80, 0x8, 0, 0})
}
func FuzzDecodeProtocol(f *testing.F) {
	fuzzDecode(f, TypeProtocol, []byte{6, 0, 0, 0}, []byte{0x84, 0, 0, 0})
}
func FuzzDecodeIPv6PMTUDisc(f *testing.F) {
	fuzzDecode(f, TypeIPv6PMTUDisc, []byte{2, 0, 0, 0}, []byte{9, 0, 0, 0})
}
func FuzzDecodeIPv6AddrForm(f *testing.F) {
	fuzzDecode(f, TypeIPv6AddrForm, []byte{2, 0, 0, 0}, []byte{10, 0, 0, 0})
}
