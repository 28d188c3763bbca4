package engine

import (
	"bytes"
	"net/netip"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

func TestControlRoundTrip(t *testing.T) {
	in := []ControlMessage{
		{Level: unix.SOL_SOCKET, Type: unix.SCM_TIMESTAMP, Value: Timeval{Sec: 1700000000, Usec: 42}},
		{Level: unix.IPPROTO_IP, Type: unix.IP_TOS, Value: 0x10},
		{Level: unix.IPPROTO_IP, Type: unix.IP_TTL, Value: 64},
		{Level: unix.IPPROTO_IP, Type: unix.IP_PKTINFO, Value: PktInfo{Ifindex: 2, SpecDst: netip.MustParseAddr("192.0.2.1"), Addr: netip.MustParseAddr("192.0.2.2")}},
		{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_PKTINFO, Value: PktInfo6{Addr: netip.MustParseAddr("2001:db8::1"), Ifindex: 3}},
		{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_HOPLIMIT, Value: 9},
		{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_TCLASS, Value: 0x20},
		{Level: unix.SOL_SOCKET, Type: unix.SCM_RIGHTS, Data: []byte{1, 0, 0, 0}},
	}
	b, err := EncodeControl(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeControl(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d messages, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i].Level != in[i].Level || out[i].Type != in[i].Type {
			t.Errorf("message %d: level/type %d/%d", i, out[i].Level, out[i].Type)
		}
		want := in[i].Value
		if !reflect.DeepEqual(out[i].Value, want) {
			t.Errorf("message %d: value %#v, want %#v", i, out[i].Value, want)
		}
	}
	if !bytes.Equal(out[7].Data, []byte{1, 0, 0, 0}) {
		t.Errorf("rights data %v", out[7].Data)
	}
}

func TestDecodeExtendedErr(t *testing.T) {
	d := make([]byte, sizeofExtendedErr)
	d[0] = byte(unix.ECONNREFUSED)
	d[4], d[5], d[6] = 2, 3, 3 // icmp, dest unreach, port unreach
	var off rawSockaddr
	(&SockAddr{Family: FamilyInet, Addr: netip.MustParseAddr("192.0.2.9")}).encode(&off)
	d = append(d, off.bytes()[:off.len]...)
	b, _ := EncodeControl([]ControlMessage{{Level: unix.IPPROTO_IP, Type: unix.IP_RECVERR, Data: d}})
	msgs, err := DecodeControl(b)
	if err != nil {
		t.Fatal(err)
	}
	ee, ok := msgs[0].Value.(ExtendedErr)
	if !ok || ee.Errno != int32(unix.ECONNREFUSED) || ee.Origin != 2 || ee.Type != 3 || ee.Code != 3 ||
		ee.Offender == nil || ee.Offender.Addr != netip.MustParseAddr("192.0.2.9") {
		t.Fatalf("extended err %+v", msgs[0].Value)
	}
}

func TestDecodeMalformedControl(t *testing.T) {
	good, _ := EncodeControl([]ControlMessage{{Level: unix.IPPROTO_IP, Type: unix.IP_TTL, Value: 1}})
	bad := append(bytes.Clone(good), 0xff, 0xff, 0xff)
	msgs, err := DecodeControl(bad)
	if err == nil || len(msgs) != 2 || msgs[0].Value != 1 || msgs[1].Level != BadControlLevel || len(msgs[1].Data) != 3 {
		t.Fatalf("malformed: %+v %v", msgs, err)
	}
	// Known types with a payload of the wrong size keep their data, no value.
	short, _ := EncodeControl([]ControlMessage{{Level: unix.IPPROTO_IP, Type: unix.IP_PKTINFO, Data: []byte{1, 2}}})
	msgs, err = DecodeControl(short)
	if err != nil || msgs[0].Value != nil || len(msgs[0].Data) != 2 {
		t.Fatalf("short pktinfo: %+v %v", msgs, err)
	}
}

func FuzzDecodeControl(f *testing.F) {
	seed, _ := EncodeControl([]ControlMessage{
		{Level: unix.SOL_SOCKET, Type: unix.SCM_TIMESTAMP, Value: Timeval{Sec: 1, Usec: 2}},
		{Level: unix.IPPROTO_IP, Type: unix.IP_PKTINFO, Value: PktInfo{Ifindex: 1}},
		{Level: unix.IPPROTO_IP, Type: unix.IP_RECVERR, Data: make([]byte, sizeofExtendedErr+16)},
		{Level: unix.IPPROTO_IP, Type: unix.IP_ORIGDSTADDR, Data: []byte{2, 0, 0, 80, 127, 0, 0, 1}},
	})
	f.Add(seed)
	f.Add([]byte{})
	f.Add(make([]byte, cmsgHdrSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := DecodeControl(b)
		if err == nil && len(b) > 0 && len(msgs) == 0 {
			t.Fatal("non-empty buffer decoded to nothing without error")
		}
		// Decoded messages encode again (their Data is kept as received).
		if _, err := EncodeControl(msgs); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzReceivedFDs: any control buffer is walked without a panic, and the
// descriptors of a well-formed SCM_RIGHTS message are all found.
func FuzzReceivedFDs(f *testing.F) {
	f.Add(unix.UnixRights(3, 4, 5), 0)
	f.Add(append(unix.UnixRights(7), unix.UnixRights(8, 9)...), 2)
	f.Add([]byte{1, 2, 3}, 0)
	f.Fuzz(func(t *testing.T, oob []byte, extra int) {
		receivedFDs(oob)
		fds := []int{extra, extra + 1}
		got := receivedFDs(append(unix.UnixRights(fds...), oob...))
		if len(got) < 2 || got[0] != int(int32(extra)) || got[1] != int(int32(extra+1)) {
			t.Fatalf("a rights message before %x gave %v", oob, got)
		}
	})
}
