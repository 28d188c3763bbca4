package main

import (
	"strconv"
	"strings"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// outcome adds a response's async info and socket error to a view.
func outcome(v view, async *sockdv1.AsyncInfo, se *sockdv1.SocketError) view {
	if async != nil {
		v.text = joinLines(v.text, asyncText(async))
		v.obj = v.obj.with("async", asyncObject(async))
	}
	if se != nil {
		v.obj = v.obj.with("error", errorObject(se))
	}
	return v
}

// readOutcome is outcome for a read, whose async info after a completed
// read is the new select otp select_read armed: "select_read recv handle=7".
func readOutcome(v view, async *sockdv1.AsyncInfo, se *sockdv1.SocketError, selectRead bool) view {
	if !selectRead || async == nil {
		return outcome(v, async, se)
	}
	v.text = joinLines(v.text, line(word("select_read"), word(client.EnumName(async.GetOperation())),
		kv("handle", strconv.FormatUint(async.GetHandle(), 10))))
	v.obj = v.obj.with("async", asyncObject(async).with("mode", "select_read"))
	return outcome(v, nil, se)
}

// asyncText is the table form of a pending operation: "select recv handle=7".
func asyncText(a *sockdv1.AsyncInfo) string {
	return line(word(asyncMode(a)), word(client.EnumName(a.GetOperation())), kv("handle", strconv.FormatUint(a.GetHandle(), 10)))
}

func asyncObject(a *sockdv1.AsyncInfo) object {
	return object{}.
		with("mode", asyncMode(a)).
		with("operation", client.EnumName(a.GetOperation())).
		with("handle", a.GetHandle())
}

func asyncMode(a *sockdv1.AsyncInfo) string {
	if a.GetMode() == sockdv1.AsyncMode_ASYNC_MODE_COMPLETION {
		return "completion"
	}
	return "select"
}

// errorText is a socket error as sockctl prints it: "econnrefused",
// "invalid state".
func errorText(se *sockdv1.SocketError) string {
	return (&client.SocketError{Proto: se}).Error()
}

func errorObject(se *sockdv1.SocketError) object {
	o := object{}.
		with("reason", se.GetReason()).
		with("kind", client.EnumName(se.GetKind()))
	if se.GetErrno() != 0 {
		o = o.with("errno", se.GetErrno())
	}
	if se.GetInvalid() != "" {
		o = o.with("invalid", se.GetInvalid())
	}
	if se.GetInvalidValue() != "" {
		o = o.with("invalid_value", se.GetInvalidValue())
	}
	if se.GetMessage() != "" {
		o = o.with("message", se.GetMessage())
	}
	return o
}

// emptyView is the result of the calls that answer only ok or an error
// (bind, listen, shutdown, close, cancel), and of connect.
func emptyView(async *sockdv1.AsyncInfo, se *sockdv1.SocketError) view {
	return outcome(view{obj: object{}}, async, se)
}

// socketView is a new socket's id (open, accept): the id alone in table form.
func socketView(id string, async *sockdv1.AsyncInfo, se *sockdv1.SocketError) view {
	v := view{obj: object{}}
	if id != "" {
		v = view{text: id, obj: object{}.with("socket", id)}
	}
	return outcome(v, async, se)
}

// sendView is the result of send, sendto and sendmsg. The table form is
// silent when everything was sent, as Erlang's ok is.
func sendView(sent, unsent uint64, async *sockdv1.AsyncInfo, se *sockdv1.SocketError) view {
	v := view{obj: object{}.with("sent", sent).with("unsent", unsent)}
	if unsent > 0 {
		v.text = line(kv("sent", strconv.FormatUint(sent, 10)), kv("unsent", strconv.FormatUint(unsent, 10)))
	}
	return outcome(v, async, se)
}

// recvView prints the bytes as they are in table form, so that
// `sockctl recv ID > file` and `$(sockctl recv ID)` do what one expects.
func recvView(r *sockdv1.RecvResponse) view {
	v := view{obj: object{}}
	if readData(r.GetData(), r.GetAsync(), r.GetError(), r.GetSelectRead()) {
		v.text = string(r.GetData())
		v.obj = v.obj.with("data", nonNilBytes(r.GetData()))
	}
	return readOutcome(v, r.GetAsync(), r.GetError(), r.GetSelectRead())
}

// readData reports whether a read's answer has data to show: some, or none
// as its whole result (an empty datagram, or what select_read left), but
// not the nothing that comes with a select or an error.
func readData(data []byte, async *sockdv1.AsyncInfo, se *sockdv1.SocketError, selectRead bool) bool {
	return len(data) > 0 || (async == nil && se == nil) || selectRead
}

// recvFromView is "from=ADDR data=\"...\"".
func recvFromView(r *sockdv1.RecvFromResponse) view {
	v := view{obj: object{}}
	var fields []field
	if r.GetSource() != nil {
		fields = append(fields, kv("from", client.FormatAddr(r.GetSource())))
		v.obj = v.obj.with("source", client.FormatAddr(r.GetSource()))
	}
	if readData(r.GetData(), r.GetAsync(), r.GetError(), r.GetSelectRead()) {
		v.text = line(append(fields, kvData("data", r.GetData()))...)
		v.obj = v.obj.with("data", nonNilBytes(r.GetData()))
	}
	return readOutcome(v, r.GetAsync(), r.GetError(), r.GetSelectRead())
}

// addressView is an address in ParseAddr's text form (sockname, peername).
func addressView(a *sockdv1.SockAddr, se *sockdv1.SocketError) view {
	v := view{obj: object{}}
	if a != nil {
		text := client.FormatAddr(a)
		v = view{text: text, obj: object{}.with("address", text)}
	}
	return outcome(v, nil, se)
}

func joinLines(a, b string) string {
	if a == "" {
		return b
	}
	return strings.TrimSuffix(a, "\n") + "\n" + b
}

// nonNilBytes makes empty data "" in JSON rather than null.
func nonNilBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
