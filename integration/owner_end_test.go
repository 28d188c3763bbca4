package integration

import (
	"testing"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// A session waiting (nowait) on a socket another session owns gets
// abort{closed} when the owner's session ends, as when the owner closes the
// socket (reference §2.4: close by anyone or owner death aborts every
// waiter). TestStressShort checks this at random; this is the plain case.
func TestOwnerSessionEndAbortsOtherSessionsWaiters(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{udp6, tcp4} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			owner := newSession(t)
			waiter := newSession(t)
			ev := waiter.events(t, 0)
			id := owner.open(t, v)
			owner.bind(t, id, v.loopback(t))
			if v.connectionOriented() {
				owner.listen(t, id)
			}
			var info *sockdv1.AsyncInfo
			if v.connectionOriented() {
				info = requireAsync(t, "accept", waiter.acceptT(t, id, nowait()).GetAsync(), sockdv1.Operation_OPERATION_ACCEPT)
			} else {
				info = requireAsync(t, "recvmsg", waiter.recvMsg(t, id, 0, nowait()).GetAsync(), sockdv1.Operation_OPERATION_RECVMSG)
			}
			ctx, cancel := owner.call()
			defer cancel()
			if _, err := owner.api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: owner.id}); err != nil {
				t.Fatal(err)
			}
			ev.expectAbort(t, id, info, sockdv1.SocketError_KIND_CLOSED)
		})
	}
}
