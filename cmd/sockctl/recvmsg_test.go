package main

import (
	"testing"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func TestRecvMsgView(t *testing.T) {
	r := &sockdv1.RecvMsgResponse{
		Iov:        [][]byte{[]byte("ab"), []byte("c")},
		Address:    inetAddr("10.0.0.1", 53),
		Flags:      []sockdv1.MsgFlag{sockdv1.MsgFlag_MSG_FLAG_TRUNC},
		OtherFlags: 0x4000,
		Control: []*sockdv1.ControlMessage{
			{Level: 0, LevelName: "ip", Type: 1, TypeName: "tos", Value: &sockdv1.ControlMessage_IntValue{IntValue: 16}, ValueName: "lowdelay"},
			{Level: 0, LevelName: "ip", Type: 2, TypeName: "ttl", Value: &sockdv1.ControlMessage_IntValue{IntValue: 64}},
			{Level: 1, LevelName: "socket", Type: 29, TypeName: "timestamp", Value: &sockdv1.ControlMessage_Timestamp{Timestamp: &sockdv1.Timeval{Sec: 1700000000, Usec: 42}}},
			{Level: 99, Type: 7, Data: []byte{0xde, 0xad}},
		},
	}
	checkView(t, "full", recvMsgView(r),
		`from=10.0.0.1:53 data="abc" flags=trunc,0x4000 control=ip/tos:lowdelay control=ip/ttl:64 control=socket/timestamp:1700000000.000042 control=99/7:dead`,
		`{"source":"10.0.0.1:53","iov":["YWI=","Yw=="],"flags":["trunc","0x4000"],"control":[`+
			`{"data":"","int_value":16,"level":0,"level_name":"ip","type":1,"type_name":"tos","value_name":"lowdelay"},`+
			`{"data":"","int_value":64,"level":0,"level_name":"ip","type":2,"type_name":"ttl","value_name":""},`+
			`{"data":"","level":1,"level_name":"socket","timestamp":{"sec":1700000000,"usec":42},"type":29,"type_name":"timestamp","value_name":""},`+
			`{"data":"3q0=","level":99,"level_name":"","type":7,"type_name":"","value_name":""}]}`)
	checkView(t, "nowait", recvMsgView(&sockdv1.RecvMsgResponse{Async: async(sockdv1.Operation_OPERATION_RECVMSG, 5)}),
		"select recvmsg handle=5", `{"async":{"mode":"select","operation":"recvmsg","handle":5}}`)
	checkView(t, "empty message", recvMsgView(&sockdv1.RecvMsgResponse{}), `data=""`, `{"iov":[]}`)
}
