package main

import (
	"testing"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestEventView(t *testing.T) {
	const sock = "ab12"
	event := func(seq uint64, e any) *sockdv1.EventsResponse {
		ev := &sockdv1.EventsResponse{Sequence: seq, SocketId: sock}
		switch e := e.(type) {
		case *sockdv1.SelectEvent:
			ev.Event = &sockdv1.EventsResponse_Select{Select: e}
		case *sockdv1.AbortEvent:
			ev.Event = &sockdv1.EventsResponse_Abort{Abort: e}
		case *sockdv1.CompletionEvent:
			ev.Event = &sockdv1.EventsResponse_Completion{Completion: e}
		case *sockdv1.DownEvent:
			ev.Event = &sockdv1.EventsResponse_Down{Down: e}
		case *sockdv1.CounterWrapEvent:
			ev.Event = &sockdv1.EventsResponse_CounterWrap{CounterWrap: e}
		}
		return ev
	}
	closed := &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_CLOSED, Reason: "closed"}
	tests := []struct {
		name     string
		ev       *sockdv1.EventsResponse
		wantText string
		wantJSON string
	}{
		{"select",
			event(3, &sockdv1.SelectEvent{Handle: 7, Operation: sockdv1.Operation_OPERATION_ACCEPT}),
			"seq=3 socket=ab12 select handle=7 op=accept",
			`{"seq":3,"socket":"ab12","event":"select","handle":7,"operation":"accept"}`},
		{"abort",
			event(4, &sockdv1.AbortEvent{Handle: 8, Operation: sockdv1.Operation_OPERATION_RECV, Reason: closed}),
			"seq=4 socket=ab12 abort handle=8 op=recv reason=closed",
			`{"seq":4,"socket":"ab12","event":"abort","handle":8,"operation":"recv","reason":{"reason":"closed","kind":"closed"}}`},
		{"abort with partial",
			event(4, &sockdv1.AbortEvent{Handle: 8, Operation: sockdv1.Operation_OPERATION_RECV, Reason: closed,
				Partial: &sockdv1.CompletionEvent{Handle: 8, Operation: sockdv1.Operation_OPERATION_RECV,
					Status: &sockdv1.CompletionEvent_Recv{Recv: &sockdv1.RecvResponse{Data: []byte("hel"), Error: closed}}}}),
			`seq=4 socket=ab12 abort handle=8 op=recv reason=closed data="hel" error=closed`,
			`{"seq":4,"socket":"ab12","event":"abort","handle":8,"operation":"recv","reason":{"reason":"closed","kind":"closed"},"partial":{"data":"aGVs","error":{"reason":"closed","kind":"closed"}}}`},
		{"completion recv",
			event(5, &sockdv1.CompletionEvent{Handle: 9, Operation: sockdv1.Operation_OPERATION_RECV,
				Status: &sockdv1.CompletionEvent_Recv{Recv: &sockdv1.RecvResponse{Data: []byte("hi there")}}}),
			`seq=5 socket=ab12 completion handle=9 op=recv data="hi there"`,
			`{"seq":5,"socket":"ab12","event":"completion","handle":9,"operation":"recv","result":{"data":"aGkgdGhlcmU="}}`},
		{"completion accept",
			event(6, &sockdv1.CompletionEvent{Handle: 1, Operation: sockdv1.Operation_OPERATION_ACCEPT,
				Status: &sockdv1.CompletionEvent_Accept{Accept: &sockdv1.AcceptResponse{SocketId: "cd34"}}}),
			"seq=6 socket=ab12 completion handle=1 op=accept accepted=cd34",
			`{"seq":6,"socket":"ab12","event":"completion","handle":1,"operation":"accept","result":{"socket":"cd34"}}`},
		{"completion connect refused",
			event(7, &sockdv1.CompletionEvent{Handle: 2, Operation: sockdv1.Operation_OPERATION_CONNECT,
				Status: &sockdv1.CompletionEvent_Connect{Connect: &sockdv1.ConnectResponse{Error: refusedErr}}}),
			"seq=7 socket=ab12 completion handle=2 op=connect error=econnrefused",
			`{"seq":7,"socket":"ab12","event":"completion","handle":2,"operation":"connect","result":{"error":{"reason":"econnrefused","kind":"posix","errno":111}}}`},
		{"completion send",
			event(8, &sockdv1.CompletionEvent{Handle: 3, Operation: sockdv1.Operation_OPERATION_SEND,
				Status: &sockdv1.CompletionEvent_Send{Send: &sockdv1.SendResponse{BytesSent: 5}}}),
			"seq=8 socket=ab12 completion handle=3 op=send sent=5 unsent=0",
			`{"seq":8,"socket":"ab12","event":"completion","handle":3,"operation":"send","result":{"sent":5,"unsent":0}}`},
		{"completion recvfrom",
			event(9, &sockdv1.CompletionEvent{Handle: 4, Operation: sockdv1.Operation_OPERATION_RECVFROM,
				Status: &sockdv1.CompletionEvent_Recvfrom{Recvfrom: &sockdv1.RecvFromResponse{Data: []byte("x"), Source: inetAddr("10.0.0.2", 9)}}}),
			`seq=9 socket=ab12 completion handle=4 op=recvfrom from=10.0.0.2:9 data="x"`,
			`{"seq":9,"socket":"ab12","event":"completion","handle":4,"operation":"recvfrom","result":{"source":"10.0.0.2:9","data":"eA=="}}`},
		{"completion recvmsg",
			event(9, &sockdv1.CompletionEvent{Handle: 4, Operation: sockdv1.Operation_OPERATION_RECVMSG,
				Status: &sockdv1.CompletionEvent_Recvmsg{Recvmsg: &sockdv1.RecvMsgResponse{Iov: [][]byte{[]byte("abc")},
					Address: inetAddr("10.0.0.2", 9), Flags: []sockdv1.MsgFlag{sockdv1.MsgFlag_MSG_FLAG_TRUNC},
					Control: []*sockdv1.ControlMessage{{Level: 0, LevelName: "ip", Type: 2, TypeName: "ttl", Value: &sockdv1.ControlMessage_IntValue{IntValue: 64}}}}}}),
			`seq=9 socket=ab12 completion handle=4 op=recvmsg from=10.0.0.2:9 data="abc" flags=trunc control=ip/ttl:64`,
			`{"seq":9,"socket":"ab12","event":"completion","handle":4,"operation":"recvmsg","result":{"source":"10.0.0.2:9","iov":["YWJj"],"flags":["trunc"],"control":[{"data":"","int_value":64,"level":0,"level_name":"ip","type":2,"type_name":"ttl","value_name":""}]}}`},
		{"down",
			event(10, &sockdv1.DownEvent{MonitorId: "m1", Reason: "closed"}),
			"seq=10 socket=ab12 down monitor=m1 reason=closed",
			`{"seq":10,"socket":"ab12","event":"down","monitor":"m1","reason":{"reason":"closed"}}`},
		{"counter wrap",
			event(11, &sockdv1.CounterWrapEvent{Counter: "read_byte"}),
			"seq=11 socket=ab12 counter_wrap counter=read_byte",
			`{"seq":11,"socket":"ab12","event":"counter_wrap","counter":"read_byte"}`},
		{"gap",
			&sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_Gap{Gap: &sockdv1.GapEvent{FirstHeld: 12}}},
			"gap first_held=12",
			`{"event":"gap","first_held":12}`},
		{"caught up",
			&sockdv1.EventsResponse{Event: &sockdv1.EventsResponse_CaughtUp{CaughtUp: &sockdv1.CaughtUpEvent{}}},
			"caught_up",
			`{"event":"caught_up"}`},
		{"unknown kind",
			&sockdv1.EventsResponse{Sequence: 13, SocketId: sock},
			"seq=13 socket=ab12 unknown",
			`{"seq":13,"socket":"ab12","event":"unknown"}`},
	}
	for _, tt := range tests {
		checkView(t, tt.name, eventView(tt.ev), tt.wantText, tt.wantJSON)
	}
}
