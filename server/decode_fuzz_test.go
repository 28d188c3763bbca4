package server

import (
	"math"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// FuzzSetOpt feeds arbitrary SetOpt requests, as wire bytes, to the service
// on a live TCP socket: none may panic, and whatever is accepted keeps the
// option's bounds (the otp rcvbuf product once overflowed them).
func FuzzSetOpt(f *testing.F) {
	seed := func(level sockdv1.OptionLevel, name string, v *sockdv1.OptionValue) {
		b, _ := proto.Marshal(&sockdv1.SetOptRequest{Key: &sockdv1.OptionKey{Level: level, Name: name}, Value: v})
		f.Add(b)
	}
	rcvbuf := func(n, size uint32) *sockdv1.OptionValue {
		return &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Rcvbuf{Rcvbuf: &sockdv1.RcvBuf{Count: n, Size: size}}}
	}
	seed(sockdv1.OptionLevel_OPTION_LEVEL_OTP, "rcvbuf", rcvbuf(4, 1024))
	seed(sockdv1.OptionLevel_OPTION_LEVEL_OTP, "rcvbuf", rcvbuf(1<<32-1, 1<<32-1))
	seed(sockdv1.OptionLevel_OPTION_LEVEL_SOCKET, "linger", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_Linger{Linger: &sockdv1.Linger{Onoff: true, Linger: 3}}})
	seed(sockdv1.OptionLevel_OPTION_LEVEL_TCP, "nodelay", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_BoolValue{BoolValue: true}})
	seed(sockdv1.OptionLevel_OPTION_LEVEL_IP, "tos", &sockdv1.OptionValue{Value: &sockdv1.OptionValue_IntValue{IntValue: -1}})

	l := newLive(f, Limits{})
	sock, _ := l.connected(f)
	rcvbufKey := &sockdv1.OptionKey{Level: sockdv1.OptionLevel_OPTION_LEVEL_OTP, Name: "rcvbuf"}
	f.Fuzz(func(t *testing.T, wire []byte) {
		var r sockdv1.SetOptRequest
		if proto.Unmarshal(wire, &r) != nil {
			return
		}
		r.SocketId = sock.ID()
		if k := r.GetKey(); k.GetLevel() == sockdv1.OptionLevel_OPTION_LEVEL_OTP && k.GetName() == "controlling_process" {
			return // hands the socket away from the session that fuzzes it
		}
		l.svc.SetOpt(l.ctx, &r)
		got, err := l.svc.GetOpt(l.ctx, &sockdv1.GetOptRequest{SocketId: sock.ID(), Key: rcvbufKey})
		if err != nil || got.GetError() != nil {
			t.Fatalf("getopt otp rcvbuf: %v %v", got, err)
		}
		rb := got.GetValue().GetRcvbuf()
		if n, size := uint64(max(rb.GetCount(), 1)), uint64(rb.GetSize()); n*size > options.MaxRcvBufBytes {
			t.Fatalf("otp rcvbuf %d x %d passed the bound", rb.GetCount(), rb.GetSize())
		}
	})
}

// FuzzDecodeControl feeds arbitrary SendMsg control messages through the
// request decoder and the engine's encoder: neither may panic.
func FuzzDecodeControl(f *testing.F) {
	for _, c := range [][]*sockdv1.ControlMessage{
		{{Level: 0, Type: 1, Data: []byte{1, 0, 0, 0}}},
		{{Level: 41, Type: 52, Value: &sockdv1.ControlMessage_IntValue{IntValue: 64}}},
		{{Level: 1, Type: 29, Value: &sockdv1.ControlMessage_Timestamp{Timestamp: &sockdv1.Timeval{Sec: 1, Usec: 2}}}},
	} {
		b, _ := proto.Marshal(&sockdv1.SendMsgRequest{Control: c})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		var r sockdv1.SendMsgRequest
		if proto.Unmarshal(wire, &r) != nil {
			return
		}
		msgs, bad := decodeControl(r.GetControl())
		if bad != nil {
			return
		}
		engine.EncodeControl(msgs)
	})
}

// FuzzEncodeReceivedControl feeds arbitrary control data, as a peer and
// the kernel make it, through the engine's decoder and the server's
// encoder into a RecvMsg response: neither may panic, and the response
// must marshal (a string that is not UTF-8 would not).
func FuzzEncodeReceivedControl(f *testing.F) {
	for _, msgs := range [][]engine.ControlMessage{
		{{Level: unix.SOL_SOCKET, Type: unix.SCM_TIMESTAMP, Value: engine.Timeval{Sec: 1, Usec: 2}}},
		{{Level: unix.IPPROTO_IP, Type: unix.IP_TOS, Value: 16}, {Level: unix.IPPROTO_IP, Type: unix.IP_TTL, Value: 64}},
		{{Level: unix.IPPROTO_IPV6, Type: unix.IPV6_HOPLIMIT, Value: 1}},
		{{Level: unix.SOL_IP, Type: unix.IP_RECVERR, Data: make([]byte, 16+16)}},
		{{Level: unix.SOL_IPV6, Type: unix.IPV6_RECVERR, Data: make([]byte, 16+28)}},
		{{Level: unix.SOL_IP, Type: unix.IP_PKTINFO, Data: make([]byte, 12)}},
	} {
		b, _ := engine.EncodeControl(msgs)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		msgs, _ := engine.DecodeControl(raw)
		resp := &sockdv1.RecvMsgResponse{Control: encodeControl(msgs)}
		if _, err := proto.Marshal(resp); err != nil {
			t.Fatalf("a response of %d control messages does not marshal: %v", len(msgs), err)
		}
	})
}

// FuzzDecodeCallFields feeds arbitrary requests to the decoders of the
// fields most calls share: timeouts, message flags, Open's domain, type and
// protocol, and which_sockets' filters. None may panic.
func FuzzDecodeCallFields(f *testing.F) {
	for _, m := range []proto.Message{
		&sockdv1.RecvRequest{Timeout: &sockdv1.Timeout{Kind: &sockdv1.Timeout_Nowait{Nowait: &sockdv1.Nowait{Handle: 7}}},
			Flags: []sockdv1.MsgFlag{sockdv1.MsgFlag_MSG_FLAG_PEEK, 99}},
		&sockdv1.OpenRequest{Domain: sockdv1.Domain_DOMAIN_INET6, Type: sockdv1.Type_TYPE_RAW, ProtocolNumber: 255},
		&sockdv1.WhichSocketsRequest{Domain: sockdv1.Domain_DOMAIN_LOCAL, Owner: "x"},
	} {
		b, _ := proto.Marshal(m)
		for kind := range byte(3) {
			f.Add(kind, b)
		}
	}
	f.Fuzz(func(t *testing.T, kind byte, wire []byte) {
		switch kind % 3 {
		case 0:
			var r sockdv1.RecvRequest
			if proto.Unmarshal(wire, &r) == nil {
				decodeTimeout(r.GetTimeout())
				decodeFlags(r.GetFlags())
			}
		case 1:
			var r sockdv1.OpenRequest
			if proto.Unmarshal(wire, &r) == nil {
				decodeOpen(&r)
			}
		case 2:
			var r sockdv1.WhichSocketsRequest
			if proto.Unmarshal(wire, &r) == nil {
				decodeFilters(&r)
			}
		}
	})
}

// FuzzOptNative: whatever a setopt_native or getopt_native request holds,
// the daemon answers it (a result or an in-band error) and keeps serving.
// The set is pinned to a harmless option (SO_KEEPALIVE): what is fuzzed is
// the decoding of values. Gets take any name of the levels a TCP socket
// answers, with any buffer: one through which the kernel writes where the
// buffer points (TCP_ZEROCOPY_RECEIVE) would crash the fuzzer's process as
// it would the daemon.
func FuzzOptNative(f *testing.F) {
	for _, v := range []*sockdv1.NativeValue{
		{Value: &sockdv1.NativeValue_IntValue{IntValue: 1}},
		{Value: &sockdv1.NativeValue_IntValue{IntValue: math.MaxInt64}},
		{Value: &sockdv1.NativeValue_BoolValue{BoolValue: true}},
		{Value: &sockdv1.NativeValue_BytesValue{BytesValue: []byte{1, 0, 0, 0}}},
		{},
	} {
		b, _ := proto.Marshal(&sockdv1.SetOptNativeRequest{Value: v})
		f.Add(b, uint8(unix.SO_TYPE))
	}
	for _, sp := range []*sockdv1.NativeValueSpec{
		{Spec: &sockdv1.NativeValueSpec_Int{Int: true}},
		{Spec: &sockdv1.NativeValueSpec_Size{Size: math.MaxUint32}},
		{Spec: &sockdv1.NativeValueSpec_Buffer{Buffer: make([]byte, 16)}},
	} {
		b, _ := proto.Marshal(&sockdv1.GetOptNativeRequest{Spec: sp})
		f.Add(b, uint8(unix.SO_RCVBUF))
	}
	pol, err := ParsePolicy([]byte("version: 1\nrules:\n- principals: [\"uid:1000\"]\n  unrestricted: true\n"))
	if err != nil {
		f.Fatal(err)
	}
	l := newLiveWith(f, Config{Policy: pol})
	sock, _ := l.connected(f)
	levels := []int32{unix.SOL_SOCKET, unix.IPPROTO_IP, unix.IPPROTO_IPV6, unix.IPPROTO_TCP, unix.SOL_MPTCP, unix.IPPROTO_SCTP}
	f.Fuzz(func(t *testing.T, wire []byte, name uint8) {
		var set sockdv1.SetOptNativeRequest
		if proto.Unmarshal(wire, &set) == nil {
			set.SocketId, set.Level, set.Name = sock.ID(), unix.SOL_SOCKET, unix.SO_KEEPALIVE
			if _, err := l.svc.SetOptNative(l.ctx, &set); err != nil {
				t.Fatalf("setopt_native %v: %v", &set, err)
			}
		}
		var get sockdv1.GetOptNativeRequest
		if proto.Unmarshal(wire, &get) == nil {
			get.SocketId, get.Level, get.Name = sock.ID(), levels[int(name)%len(levels)], int32(name)/int32(len(levels))
			if _, err := l.svc.GetOptNative(l.ctx, &get); err != nil {
				t.Fatalf("getopt_native %v: %v", &get, err)
			}
		}
		if r, err := l.svc.Info(l.ctx, &sockdv1.InfoRequest{SocketId: sock.ID()}); err != nil || len(r.GetInfo().GetRstates()) != 0 && r.GetInfo().GetRstates()[0] == "closed" {
			t.Fatalf("socket after native options: %v %v", r, err)
		}
	})
}

// FuzzSmallCalls feeds arbitrary Cancel, Shutdown and CreateSession
// requests to the service, Cancel and Shutdown on a live socket of the
// session: none may panic, or fail as the daemon's own fault (INTERNAL,
// UNKNOWN). A session made is ended again.
func FuzzSmallCalls(f *testing.F) {
	for i, m := range []proto.Message{
		&sockdv1.CancelRequest{Info: &sockdv1.AsyncInfo{Operation: sockdv1.Operation_OPERATION_RECV, Handle: 7, Mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION}},
		&sockdv1.ShutdownRequest{How: sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE},
		&sockdv1.CreateSessionRequest{Name: "fuzz", Grace: durationpb.New(-time.Second)},
	} {
		b, _ := proto.Marshal(m)
		f.Add(byte(i), b)
	}
	l := newLive(f, Limits{})
	sock, _ := l.connected(f)
	f.Fuzz(func(t *testing.T, kind byte, wire []byte) {
		var err error
		switch kind % 3 {
		case 0:
			var r sockdv1.CancelRequest
			if proto.Unmarshal(wire, &r) != nil {
				return
			}
			r.SocketId = sock.ID()
			_, err = l.svc.Cancel(l.ctx, &r)
		case 1:
			var r sockdv1.ShutdownRequest
			if proto.Unmarshal(wire, &r) != nil {
				return
			}
			r.SocketId = sock.ID()
			_, err = l.svc.Shutdown(l.ctx, &r)
		case 2:
			var r sockdv1.CreateSessionRequest
			if proto.Unmarshal(wire, &r) != nil {
				return
			}
			var resp *sockdv1.CreateSessionResponse
			if resp, err = l.svc.CreateSession(l.ctx, &r); err == nil && resp.GetSessionId() != l.sess.id {
				if _, err := l.svc.CloseSession(l.ctx, &sockdv1.CloseSessionRequest{SessionId: resp.GetSessionId()}); err != nil {
					t.Fatalf("closing the session made: %v", err)
				}
			}
		}
		if c := status.Code(err); c == codes.Internal || c == codes.Unknown {
			t.Fatalf("%x: %v", wire, err)
		}
	})
}
