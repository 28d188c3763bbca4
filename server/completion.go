package server

import (
	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Completion mode: a nowait call with ASYNC_MODE_COMPLETION is finished by
// the engine itself when its socket is ready, and the session receives
// {completion, {Handle, Status}} whose status is the response the call would
// have returned had it not waited. This file encodes those events and keeps
// the bytes they carry bounded per session.

// completionEvent encodes an engine completion as the response of its
// operation. An accepted socket must already be adopted by the session.
func completionEvent(ev engine.Event) *sockdv1.CompletionEvent {
	c := ev.Completion
	out := &sockdv1.CompletionEvent{Handle: ev.Handle, Operation: encodeOp(ev.Op)}
	switch {
	case c == nil:
		return nil
	case c.Accept != nil:
		resp := &sockdv1.AcceptResponse{Error: eventError(c.Accept.Err)}
		if c.Accept.Socket != nil {
			resp.SocketId = c.Accept.Socket.ID()
		}
		out.Status = &sockdv1.CompletionEvent_Accept{Accept: resp}
	case c.Connect != nil:
		out.Status = &sockdv1.CompletionEvent_Connect{Connect: &sockdv1.ConnectResponse{Error: eventError(c.Connect.Err)}}
	case c.Send != nil:
		out.Status = &sockdv1.CompletionEvent_Send{Send: &sockdv1.SendResponse{
			BytesSent: uint64(c.Send.Sent), BytesUnsent: uint64(c.Send.Unsent), Error: eventError(c.Send.Err)}}
	case c.Recv != nil:
		setRecvStatus(out, ev.Op, c.Recv)
	default:
		return nil
	}
	return out
}

// setRecvStatus encodes a completed recv, recvfrom or recvmsg as its response.
func setRecvStatus(out *sockdv1.CompletionEvent, op engine.Op, r *engine.RecvResult) {
	se := eventError(r.Err)
	switch op {
	case engine.OpRecvFrom:
		out.Status = &sockdv1.CompletionEvent_Recvfrom{Recvfrom: &sockdv1.RecvFromResponse{
			Data: r.Data, Source: encodeAddr(r.From), Error: se}}
	case engine.OpRecvMsg:
		out.Status = &sockdv1.CompletionEvent_Recvmsg{Recvmsg: encodeRecvMsg(*r, nil, se)}
	default:
		out.Status = &sockdv1.CompletionEvent_Recv{Recv: &sockdv1.RecvResponse{Data: r.Data, Error: se}}
	}
}

// acceptedBy returns the socket a completed accept produced, if any.
func acceptedBy(ev engine.Event) *engine.Socket {
	if ev.Kind != engine.EventCompletion || ev.Completion == nil || ev.Completion.Accept == nil {
		return nil
	}
	return ev.Completion.Accept.Socket
}

// payloadBytes is what an event holds in the session's log on behalf of the
// client: the data of a completed receive, or of one an abort cut short.
// Admission (Service.admitNowait) bounds the sum over events not yet sent.
func payloadBytes(ev *sockdv1.EventsResponse) int {
	c := ev.GetCompletion()
	if c == nil {
		c = ev.GetAbort().GetPartial()
	}
	if c == nil {
		return 0
	}
	n := len(c.GetRecv().GetData()) + len(c.GetRecvfrom().GetData())
	for _, b := range c.GetRecvmsg().GetIov() {
		n += len(b)
	}
	return n
}
