package wirelimit

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func sendMsg(pieces, cmsgs int) []byte {
	r := &sockdv1.SendMsgRequest{SocketId: "s"}
	for range pieces {
		r.Iov = append(r.Iov, nil)
	}
	for range cmsgs {
		r.Control = append(r.Control, &sockdv1.ControlMessage{})
	}
	b, err := proto.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

func TestCheckCountsEveryField(t *testing.T) {
	md := (&sockdv1.SendMsgRequest{}).ProtoReflect().Descriptor()
	// socket_id, 10 iov entries, 3 control messages: 14 fields.
	b := sendMsg(10, 3)
	if err := Check(b, md, 14); err != nil {
		t.Fatalf("14 fields within 14: %v", err)
	}
	var tooMany *TooManyError
	if err := Check(b, md, 13); !errors.As(err, &tooMany) || tooMany.Limit != 13 {
		t.Fatalf("14 fields within 13: %v, want TooManyError", err)
	}
	if err := Check(sendMsg(1_000_000, 0), md, 1<<16); !errors.As(err, &tooMany) {
		t.Fatalf("a million empty iov entries: %v, want TooManyError", err)
	}
}

func TestCheckCountsNestedAndPackedFields(t *testing.T) {
	// A message field's own fields count, and each element of a list.
	req := &sockdv1.SetOptRequest{SocketId: "s", Key: &sockdv1.OptionKey{Level: 1, Name: "x"},
		Value: &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IpMsfilter{IpMsfilter: &sockdv1.IpMsfilter{
			Multiaddr: "224.0.0.1", Slist: []string{"a", "b", "c"}}}}}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	md := req.ProtoReflect().Descriptor()
	// socket_id, key{level, name}, value{ip_msfilter{multiaddr, 3 slist}}: 1+3+1+1+1+3 = 10.
	if err := Check(b, md, 10); err != nil {
		t.Fatalf("within 10: %v", err)
	}
	if err := Check(b, md, 9); err == nil {
		t.Fatal("10 fields passed a limit of 9")
	}

	// Enum lists are packed: one field on the wire, an element per flag.
	send := &sockdv1.SendRequest{SocketId: "s", Flags: make([]sockdv1.MsgFlag, 100)}
	if b, err = proto.Marshal(send); err != nil {
		t.Fatal(err)
	}
	md = send.ProtoReflect().Descriptor()
	if err := Check(b, md, 102); err != nil {
		t.Fatalf("socket_id, the flags field and 100 flags within 102: %v", err)
	}
	if err := Check(b, md, 101); err == nil {
		t.Fatal("100 packed flags passed a limit of 101")
	}
}

func TestCheckRefusesMalformed(t *testing.T) {
	md := (&sockdv1.SendMsgRequest{}).ProtoReflect().Descriptor()
	for _, b := range [][]byte{
		{0x80},             // a tag cut short
		{0x12, 0x05, 'a'},  // iov entry longer than the message
		{0x0b},             // a group start, never ended
		{0x1a, 0x02, 0x80}, // control message whose own tag is cut short
	} {
		if err := Check(b, md, 100); !errors.Is(err, ErrMalformed) {
			t.Errorf("Check(%x) = %v, want ErrMalformed", b, err)
		}
	}
}

// fuzzed are request types of every shape Check walks: repeated bytes and
// messages (SendMsg), nested oneofs (SetOpt, Bind's address), maps and
// enums (Open), a bare string (Cancel's), a session's.
var fuzzed = []proto.Message{
	&sockdv1.SendMsgRequest{},
	&sockdv1.SetOptRequest{},
	&sockdv1.BindRequest{},
	&sockdv1.OpenRequest{},
	&sockdv1.CancelRequest{},
	&sockdv1.CreateSessionRequest{},
	&sockdv1.SendToRequest{},
}

// Check never panics, and what it calls malformed protobuf cannot decode,
// whichever request type it walks.
func FuzzCheck(f *testing.F) {
	f.Add(sendMsg(3, 2), uint8(0))
	f.Add([]byte{0x12, 0x00, 0x12, 0x00}, uint8(0))
	for i, m := range []proto.Message{
		&sockdv1.SetOptRequest{SocketId: "s"},
		&sockdv1.BindRequest{SocketId: "s", Address: &sockdv1.SockAddr{}},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(i+1))
	}
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		typ := fuzzed[int(which)%len(fuzzed)]
		err := Check(b, typ.ProtoReflect().Descriptor(), 1<<10)
		if errors.Is(err, ErrMalformed) {
			if proto.Unmarshal(b, typ.ProtoReflect().New().Interface()) == nil {
				t.Fatalf("Check called %x malformed as a %T; proto decodes it", b, typ)
			}
		}
	})
}
