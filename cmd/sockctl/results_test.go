package main

import (
	"encoding/json"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sockd/sockd/client"
	"github.com/sockd/sockd/internal/reasons"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// checkView compares both forms of a view.
func checkView(t *testing.T, name string, v view, wantText, wantJSON string) {
	t.Helper()
	if v.text != wantText {
		t.Errorf("%s: table form\n got %q\nwant %q", name, v.text, wantText)
	}
	b, err := json.Marshal(v.obj)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if string(b) != wantJSON {
		t.Errorf("%s: json form\n got %s\nwant %s", name, b, wantJSON)
	}
}

func async(op sockdv1.Operation, handle uint64) *sockdv1.AsyncInfo {
	return &sockdv1.AsyncInfo{Operation: op, Handle: handle, Mode: sockdv1.AsyncMode_ASYNC_MODE_SELECT}
}

var (
	timeoutErr = &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_TIMEOUT, Reason: "timeout", Message: "timeout expired"}
	refusedErr = &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: "econnrefused", Errno: 111}
	stateErr   = &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_INVALID, Reason: "invalid", Invalid: "state"}
)

func TestSocketAndEmptyViews(t *testing.T) {
	checkView(t, "open", socketView("ab12", nil, nil), "ab12", `{"socket":"ab12"}`)
	checkView(t, "accept nowait", socketView("", async(sockdv1.Operation_OPERATION_ACCEPT, 1), nil),
		"select accept handle=1", `{"async":{"mode":"select","operation":"accept","handle":1}}`)
	checkView(t, "accept completion", socketView("", &sockdv1.AsyncInfo{Operation: sockdv1.Operation_OPERATION_ACCEPT, Handle: 2, Mode: sockdv1.AsyncMode_ASYNC_MODE_COMPLETION}, nil),
		"completion accept handle=2", `{"async":{"mode":"completion","operation":"accept","handle":2}}`)
	checkView(t, "open error", socketView("", nil, refusedErr),
		"", `{"error":{"reason":"econnrefused","kind":"posix","errno":111}}`)
	checkView(t, "bind", emptyView(nil, nil), "", `{}`)
	checkView(t, "connect error", emptyView(nil, stateErr),
		"", `{"error":{"reason":"invalid","kind":"invalid","invalid":"state"}}`)
}

func TestSendView(t *testing.T) {
	checkView(t, "all sent", sendView(5, 0, nil, nil), "", `{"sent":5,"unsent":0}`)
	checkView(t, "partial nowait", sendView(3, 2, async(sockdv1.Operation_OPERATION_SEND, 9), nil),
		"sent=3 unsent=2\nselect send handle=9",
		`{"sent":3,"unsent":2,"async":{"mode":"select","operation":"send","handle":9}}`)
	checkView(t, "partial timeout", sendView(3, 2, nil, timeoutErr),
		"sent=3 unsent=2",
		`{"sent":3,"unsent":2,"error":{"reason":"timeout","kind":"timeout","message":"timeout expired"}}`)
}

func TestRecvView(t *testing.T) {
	checkView(t, "data", recvView(&sockdv1.RecvResponse{Data: []byte("hello")}), "hello", `{"data":"aGVsbG8="}`)
	checkView(t, "empty datagram", recvView(&sockdv1.RecvResponse{}), "", `{"data":""}`)
	checkView(t, "nowait", recvView(&sockdv1.RecvResponse{Async: async(sockdv1.Operation_OPERATION_RECV, 7)}),
		"select recv handle=7", `{"async":{"mode":"select","operation":"recv","handle":7}}`) // no data: it does not apply
	checkView(t, "partial nowait", recvView(&sockdv1.RecvResponse{Data: []byte("par"), Async: async(sockdv1.Operation_OPERATION_RECV, 7)}),
		"par\nselect recv handle=7", `{"data":"cGFy","async":{"mode":"select","operation":"recv","handle":7}}`)
	checkView(t, "partial timeout", recvView(&sockdv1.RecvResponse{Data: []byte("par"), Error: timeoutErr}),
		"par", `{"data":"cGFy","error":{"reason":"timeout","kind":"timeout","message":"timeout expired"}}`)
	checkView(t, "timeout", recvView(&sockdv1.RecvResponse{Error: timeoutErr}),
		"", `{"error":{"reason":"timeout","kind":"timeout","message":"timeout expired"}}`)
}

func inetAddr(host string, port uint32) *sockdv1.SockAddr {
	return &sockdv1.SockAddr{Family: &sockdv1.SockAddr_Inet{Inet: &sockdv1.InetAddr{
		Host: &sockdv1.InetAddr_Address{Address: host}, Port: port}}}
}

func TestRecvFromView(t *testing.T) {
	checkView(t, "datagram", recvFromView(&sockdv1.RecvFromResponse{Data: []byte("ping pong"), Source: inetAddr("127.0.0.1", 5353)}),
		`from=127.0.0.1:5353 data="ping pong"`, `{"source":"127.0.0.1:5353","data":"cGluZyBwb25n"}`)
	checkView(t, "no source", recvFromView(&sockdv1.RecvFromResponse{Data: []byte("x")}),
		`data="x"`, `{"data":"eA=="}`)
	checkView(t, "nowait", recvFromView(&sockdv1.RecvFromResponse{Async: async(sockdv1.Operation_OPERATION_RECVFROM, 3)}),
		"select recvfrom handle=3", `{"async":{"mode":"select","operation":"recvfrom","handle":3}}`)
}

func TestAddressView(t *testing.T) {
	checkView(t, "sockname", addressView(inetAddr("127.0.0.1", 40123), nil), "127.0.0.1:40123", `{"address":"127.0.0.1:40123"}`)
	checkView(t, "peername error", addressView(nil, &sockdv1.SocketError{Kind: sockdv1.SocketError_KIND_POSIX, Reason: "enotconn", Errno: 107}),
		"", `{"error":{"reason":"enotconn","kind":"posix","errno":107}}`)
}

// A read that otp select_read left with a new select says so once: its
// async object's mode is select_read, not select and select_read.
func TestSelectReadView(t *testing.T) {
	r := &sockdv1.RecvResponse{Data: []byte("three"), Async: async(sockdv1.Operation_OPERATION_RECV, 5), SelectRead: true}
	checkView(t, "select_read", recvView(r), "three\nselect_read recv handle=5",
		`{"data":"dGhyZWU=","async":{"mode":"select_read","operation":"recv","handle":5}}`)
}

// forward's per-connection failures print an error object in JSON, as the
// other verbs' errors are, and the socket error as they print it.
func TestForwardFailedView(t *testing.T) {
	refused := &client.SocketError{Proto: refusedErr}
	checkView(t, "refused", failedView(fmt.Errorf("dial tcp4: %w", refused)), "error: econnrefused",
		`{"error":{"reason":"econnrefused","kind":"posix","errno":111}}`)
	// A relay refused as its accepted connection was reset first (a port
	// scan's) is that connection's enotconn, as nc says it.
	st, _ := status.New(codes.FailedPrecondition, "socket_a: not connected").WithDetails(
		&errdetails.ErrorInfo{Reason: reasons.NotConnectedStream, Domain: reasons.Domain})
	if v := failedView(st.Err()); v.text != "error: enotconn" {
		t.Errorf("a relay refused NOT_CONNECTED_STREAM: %q, want error: enotconn", v.text)
	}
}
