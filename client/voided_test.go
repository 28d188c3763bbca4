package client

import (
	"context"
	"testing"
	"time"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

func selectEv(socket string, handle uint64) *sockdv1.EventsResponse {
	return selectOf(socket, handle, sockdv1.Operation_OPERATION_RECV)
}

func selectOf(socket string, handle uint64, op sockdv1.Operation) *sockdv1.EventsResponse {
	return &sockdv1.EventsResponse{SocketId: socket, Event: &sockdv1.EventsResponse_Select{Select: &sockdv1.SelectEvent{Handle: handle, Operation: op}}}
}

// A select a cancel voided is dropped up to the cancel's sequence, never
// after it (the handle may be reused), and results are never dropped.
func TestVoidedSelects(t *testing.T) {
	var v voidedSelects
	v.add("s", 7, sockdv1.Operation_OPERATION_RECV, 10)
	if v.drops(selectOf("s", 7, sockdv1.Operation_OPERATION_SEND), 9) {
		t.Error("a select of another lane under the same handle was dropped")
	}
	if !v.drops(selectOf("s", 7, sockdv1.Operation_OPERATION_RECVFROM), 8) {
		t.Error("a select of the same lane (recvfrom for recv) was delivered")
	}
	if !v.drops(selectEv("s", 7), 9) {
		t.Error("a select before the cancel was delivered")
	}
	if v.drops(selectEv("s", 8), 9) || v.drops(selectEv("t", 7), 9) {
		t.Error("another handle's or socket's select was dropped")
	}
	completion := &sockdv1.EventsResponse{SocketId: "s", Event: &sockdv1.EventsResponse_Completion{Completion: &sockdv1.CompletionEvent{Handle: 7}}}
	if v.drops(completion, 9) {
		t.Error("a completion was dropped")
	}
	abort := func(op sockdv1.Operation, partial *sockdv1.CompletionEvent) *sockdv1.EventsResponse {
		return &sockdv1.EventsResponse{SocketId: "s", Event: &sockdv1.EventsResponse_Abort{Abort: &sockdv1.AbortEvent{Handle: 7, Operation: op, Partial: partial}}}
	}
	if !v.drops(abort(sockdv1.Operation_OPERATION_RECV, nil), 9) {
		t.Error("an abort of the lane before the cancel was delivered")
	}
	if v.drops(abort(sockdv1.Operation_OPERATION_SEND, nil), 9) {
		t.Error("an abort of another lane under the same handle was dropped")
	}
	if v.drops(abort(sockdv1.Operation_OPERATION_RECV, &sockdv1.CompletionEvent{Handle: 7}), 9) {
		t.Error("an abort with partial work (a result) was dropped")
	}
	if !v.drops(selectEv("s", 7), 10) {
		t.Error("the select at the cancel's sequence was delivered")
	}
	if v.drops(selectEv("s", 7), 11) {
		t.Error("a select after the cancel (a reused handle) was dropped")
	}

	// Entries the streams have passed are not kept, and the map is bounded.
	v.passed(100)
	v.add("s", 1, 0, 50)
	for i := range 2 * maxVoided {
		v.add("s", uint64(i), 0, 1000+uint64(i))
	}
	if n := len(v.m); n > maxVoided {
		t.Fatalf("%d entries kept", n)
	}
}

// A select offered on C when a cancel voids it is never taken once the
// cancel's wait (caughtUp) returns, even when the cancel comes between the
// offer's look at the voided selects and its offer: the caller is held in
// Cancel until the offer has looked again.
func TestVoidedSelectOfferedOnC(t *testing.T) {
	looked, resume := make(chan struct{}), make(chan struct{})
	first := true
	testHookOffering = func() {
		if first { // each round's offer, the first time it is about to offer
			first = false
			looked <- struct{}{}
			<-resume
		}
	}
	defer func() { testHookOffering = nil }()
	for i := range 50 {
		first = true
		es := &EventStream{events: make(chan *sockdv1.EventsResponse)}
		var v voidedSelects
		done := make(chan struct{})
		go func() {
			es.offer(context.Background(), &v, selectEv("s", 7), 5)
			close(done)
		}()
		<-looked // it found nothing voided, and is about to offer
		gen := v.add("s", 7, sockdv1.Operation_OPERATION_RECV, 5)
		cancelled := make(chan struct{})
		go func() {
			v.caughtUp(gen)
			close(cancelled)
		}()
		select {
		case <-cancelled:
			t.Fatalf("round %d: Cancel returned while a select it voided was still being offered", i)
		case <-time.After(20 * time.Millisecond):
		}
		resume <- struct{}{}
		<-cancelled // Cancel returns; its caller takes events
		select {
		case ev := <-es.events:
			t.Fatalf("round %d: the voided select %v was taken after the cancel", i, ev)
		case <-done:
		}
	}
}

// A result a Cancel answered is dropped when its event (that sequence)
// comes, and only that one; one a stream gave the caller before the void
// is reported taken, so that the Cancel does not answer it again.
func TestVoidedResults(t *testing.T) {
	var v voidedSelects
	completion := func(handle uint64) *sockdv1.EventsResponse {
		return &sockdv1.EventsResponse{SocketId: "s", Event: &sockdv1.EventsResponse_Completion{Completion: &sockdv1.CompletionEvent{Handle: handle}}}
	}
	v.addResult("s", 7, 12)
	if v.drops(completion(7), 11) || v.drops(completion(8), 12) {
		t.Error("another event's result was dropped")
	}
	if v.tookResult("s", 7, 12) {
		t.Error("a result not yet come reported taken")
	}
	if !v.drops(completion(7), 12) {
		t.Error("the result its Cancel answered, coming after, was delivered")
	}
	if v.tookResult("s", 7, 12) {
		t.Error("a dropped result reported taken")
	}
	abort := &sockdv1.EventsResponse{SocketId: "s", Event: &sockdv1.EventsResponse_Abort{Abort: &sockdv1.AbortEvent{Handle: 9}}}
	v.addResult("s", 9, 13)
	if !v.drops(abort, 13) {
		t.Error("an abort with the partial work its Cancel answered was delivered")
	}

	v.gave(20) // the caller took it while its Cancel was on its way
	v.addResult("s", 7, 20)
	if !v.tookResult("s", 7, 20) {
		t.Error("a result given to the caller before its void is not reported taken")
	}
	for seq := range uint64(maxTook) {
		v.gave(100 + seq)
	}
	if v.tookResult("s", 7, 20) || len(v.took) != maxTook {
		t.Errorf("%d results remembered as taken, want the last %d", len(v.took), maxTook)
	}
}
