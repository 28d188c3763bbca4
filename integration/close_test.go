package integration

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Socket-close scenarios of socket_SUITE (§9, items 47–50) and the accept
// tickets otp16359 and otp18240. An Erlang process is a session here; a
// blocking call is an RPC that waits inside the daemon.

// TestOwnerExitCleansUpSocket re-expresses sc_cpe_socket_cleanup_{tcp4,tcp6,
// tcpL,udp4,udp6,udpL}: when the owning session ends without closing its
// socket, the socket is closed: another session's call blocked on it
// answers closed, its monitor gets DOWN closed, the registry no longer
// lists it, Info shows it closed and ownerless, and calls answer closed.
func TestOwnerExitCleansUpSocket(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{tcp4, tcp6, tcpL, udp4, udp6, udpL} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			owner := newSession(t)
			other := newSession(t)
			id, _ := owner.bound(t, v)
			if got := other.info(t, id).GetOwner(); got != owner.id {
				t.Fatalf("owner = %q, want %q", got, owner.id)
			}
			op := sockdv1.Operation_OPERATION_RECV
			if v.connectionOriented() {
				owner.listen(t, id)
				op = sockdv1.Operation_OPERATION_ACCEPT
			}
			blocked := startBlocked(t, owner, id, op, 1)[0]
			events := other.events(t, 0)
			mon := other.monitor(t, id)
			if !slices.Contains(other.whichSockets(t, &sockdv1.WhichSocketsRequest{}), id) {
				t.Fatal("the socket is not in the registry before its owner exits")
			}
			closeSession(t, owner)
			if r := await(t, "blocked "+opName(op), blocked); r.err != nil || r.se.GetKind() != sockdv1.SocketError_KIND_CLOSED {
				t.Fatalf("another session's blocked %s when the owner exits: %v %v, want closed", opName(op), r.se, r.err)
			}
			events.expectDowns(t, "closed", map[string]string{mon: id})
			if slices.Contains(other.whichSockets(t, &sockdv1.WhichSocketsRequest{}), id) {
				t.Fatal("the registry still lists the socket after its owner exited")
			}
			// Closed, not gone, for every session that holds the id
			// (reference §2.4, §4.1): Info works with no owner, calls
			// answer closed.
			in := other.info(t, id)
			if in.GetOwner() != "" || !slices.Contains(in.GetRstates(), "closed") {
				t.Fatalf("info after owner exit: owner %q rstates %v, want no owner and closed", in.GetOwner(), in.GetRstates())
			}
			ctx, cancel := other.call()
			defer cancel()
			r, err := other.api.Recv(ctx, &sockdv1.RecvRequest{SocketId: id, Timeout: infinity()})
			if err != nil {
				t.Fatalf("recv after owner exit: %v", err)
			}
			requireSockErr(t, "recv after owner exit", r.GetError(), sockdv1.SocketError_KIND_CLOSED, "closed")
			c, err := other.api.Close(ctx, &sockdv1.CloseRequest{SocketId: id})
			if err != nil {
				t.Fatalf("close after owner exit: %v", err)
			}
			requireSockErr(t, "close after owner exit", c.GetError(), sockdv1.SocketError_KIND_CLOSED, "closed")
		})
	}
}

// closeSession ends s now through CloseSession.
func closeSession(t testing.TB, s *rawSession) {
	t.Helper()
	ctx, cancel := s.call()
	defer cancel()
	if _, err := s.api.CloseSession(ctx, &sockdv1.CloseSessionRequest{SessionId: s.id}); err != nil {
		t.Fatalf("close session: %v", err)
	}
}

// blockedOp is one blocking receive or accept started from a session.
type blockedOp func(s *rawSession, sock string) (data []byte, se *sockdv1.SocketError, err error)

func blockingRecv(op sockdv1.Operation) blockedOp {
	return func(s *rawSession, sock string) ([]byte, *sockdv1.SocketError, error) {
		ctx, cancel := s.call()
		defer cancel()
		switch op {
		case sockdv1.Operation_OPERATION_RECVFROM:
			r, err := s.api.RecvFrom(ctx, &sockdv1.RecvFromRequest{SocketId: sock, Timeout: infinity()})
			return r.GetData(), r.GetError(), err
		case sockdv1.Operation_OPERATION_RECVMSG:
			r, err := s.api.RecvMsg(ctx, &sockdv1.RecvMsgRequest{SocketId: sock, Timeout: infinity()})
			return bytes.Join(r.GetIov(), nil), r.GetError(), err
		case sockdv1.Operation_OPERATION_ACCEPT:
			r, err := s.api.Accept(ctx, &sockdv1.AcceptRequest{SocketId: sock, Timeout: infinity()})
			return []byte(r.GetSocketId()), r.GetError(), err
		default:
			r, err := s.api.Recv(ctx, &sockdv1.RecvRequest{SocketId: sock, Timeout: infinity()})
			return r.GetData(), r.GetError(), err
		}
	}
}

type opResult struct {
	data []byte
	se   *sockdv1.SocketError
	err  error
}

// startBlocked starts op from n fresh sessions and waits until all of them
// wait on sock (as readers, or acceptors for accept).
func startBlocked(t testing.TB, owner *rawSession, sock string, op sockdv1.Operation, n int) []<-chan opResult {
	t.Helper()
	var chans []<-chan opResult
	for range n {
		s := newSession(t)
		call := blockingRecv(op)
		chans = append(chans, goCall(func() opResult {
			d, se, err := call(s, sock)
			return opResult{d, se, err}
		}))
	}
	if op == sockdv1.Operation_OPERATION_ACCEPT {
		owner.waitAcceptors(t, sock, uint32(n))
	} else {
		owner.waitReaders(t, sock, uint32(n))
	}
	return chans
}

// TestLocalCloseAnswersBlockedCallers re-expresses sc_lc_recv_response_tcp4,
// sc_lc_recvfrom_response_udp4, sc_lc_recvmsg_response_{tcp4,udp4} and
// sc_lc_acceptor_response_tcp4: three sessions block in the call on one
// socket; when its owner closes it, each answers closed.
func TestLocalCloseAnswersBlockedCallers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v  variant
		op sockdv1.Operation
	}{
		{tcp4, sockdv1.Operation_OPERATION_RECV},
		{udp4, sockdv1.Operation_OPERATION_RECVFROM},
		{tcp4, sockdv1.Operation_OPERATION_RECVMSG},
		{udp4, sockdv1.Operation_OPERATION_RECVMSG},
		{tcp4, sockdv1.Operation_OPERATION_ACCEPT},
	} {
		t.Run(c.v.name+"/"+opName(c.op), func(t *testing.T) {
			t.Parallel()
			owner := newSession(t)
			var sock string
			if c.op == sockdv1.Operation_OPERATION_ACCEPT {
				sock, _ = owner.listener(t, c.v)
			} else {
				_, sock = owner.pair(t, c.v)
			}
			waiters := startBlocked(t, owner, sock, c.op, 3)
			owner.close(t, sock)
			for i, ch := range waiters {
				r := await(t, opName(c.op), ch)
				if r.err != nil {
					t.Fatalf("waiter %d: %v", i, r.err)
				}
				requireSockErr(t, fmt.Sprintf("waiter %d", i), r.se, sockdv1.SocketError_KIND_CLOSED, "closed")
			}
		})
	}
}

// TestRemoteCloseAnswersBlockedReaders re-expresses sc_rc_recv_response_tcp4
// and sc_rc_recvmsg_response_tcp4 (+ tcp6, tcpL): three sessions block reading
// a connected stream; when the peer closes, each answers closed.
func TestRemoteCloseAnswersBlockedReaders(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		for _, op := range []sockdv1.Operation{sockdv1.Operation_OPERATION_RECV, sockdv1.Operation_OPERATION_RECVMSG} {
			t.Run(v.name+"/"+opName(op), func(t *testing.T) {
				t.Parallel()
				owner := newSession(t)
				peer, sock := owner.pair(t, v)
				waiters := startBlocked(t, owner, sock, op, 3)
				owner.close(t, peer)
				for i, ch := range waiters {
					r := await(t, opName(op), ch)
					if r.err != nil {
						t.Fatalf("reader %d: %v", i, r.err)
					}
					requireSockErr(t, fmt.Sprintf("reader %d", i), r.se, sockdv1.SocketError_KIND_CLOSED, "closed")
				}
			})
		}
	}
}

// TestPeerShutdownWriteThenClosed re-expresses
// sc_rs_recv_send_shutdown_receive_tcp4 and
// sc_rs_recvmsg_send_shutdown_receive_tcp4 (+ tcp6, tcpL): the peer writes and
// shuts down its write side; the reader gets the data, then closed, while
// still able to send back.
func TestPeerShutdownWriteThenClosed(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		for _, op := range []sockdv1.Operation{sockdv1.Operation_OPERATION_RECV, sockdv1.Operation_OPERATION_RECVMSG} {
			t.Run(v.name+"/"+opName(op), func(t *testing.T) {
				t.Parallel()
				s := newSession(t)
				peer, sock := s.pair(t, v)
				msg := []byte("last words")
				s.send(t, peer, msg)
				s.shutdown(t, peer, sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE)

				var got []byte
				for {
					data, _, se := s.nowaitRecv(t, sock, op, 0, millis(eventWait.Milliseconds()))
					got = append(got, data...)
					if se != nil {
						requireSockErr(t, "recv after the data", se, sockdv1.SocketError_KIND_CLOSED, "closed")
						break
					}
					if len(data) == 0 {
						t.Fatalf("%s answered ok with no data", opName(op))
					}
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("reader got %q before closed, want %q", got, msg)
				}
				// The other direction still works.
				s.send(t, sock, []byte("reply"))
				s.recvExactly(t, peer, []byte("reply"))
			})
		}
	}
}

// TestBlockedAcceptorsAllGetConnections re-expresses otp16359_maccept_tcp4
// (+ tcp6, tcpL): several sessions blocked in accept on one listener each get
// a distinct connection, owned by the session that accepted it.
func TestBlockedAcceptorsAllGetConnections(t *testing.T) {
	t.Parallel()
	for _, v := range streamVariants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			owner := newSession(t)
			l, addr := owner.listener(t, v)
			const n = 3
			type accepted struct {
				s   *rawSession
				res <-chan opResult
			}
			var as []accepted
			for range n {
				s := newSession(t)
				as = append(as, accepted{s, goCall(func() opResult {
					d, se, err := blockingRecv(sockdv1.Operation_OPERATION_ACCEPT)(s, l)
					return opResult{d, se, err}
				})})
			}
			owner.waitAcceptors(t, l, n)
			for range n {
				owner.connect(t, owner.open(t, v), addr)
			}
			seen := map[string]bool{}
			for i, a := range as {
				r := await(t, "accept", a.res)
				if r.err != nil {
					t.Fatalf("acceptor %d: %v", i, r.err)
				}
				requireOK(t, fmt.Sprintf("acceptor %d", i), r.se)
				id := string(r.data)
				if id == "" || seen[id] {
					t.Fatalf("acceptor %d got socket %q (seen: %v)", i, id, seen)
				}
				seen[id] = true
				if got := a.s.info(t, id).GetOwner(); got != a.s.id {
					t.Errorf("accepted socket owned by %q, want the acceptor %q", got, a.s.id)
				}
			}
			if got := owner.info(t, l).GetNumAcceptors(); got != 0 {
				t.Fatalf("num_acceptors = %d after all accepted, want 0", got)
			}
		})
	}
}

// TestAcceptsLeaveNoWaiters re-expresses otp18240_accept_mon_leak_tcp4: after
// many accepts, none of which had to wait, the listener holds no acceptor and
// counts every success; the descriptors come back when everything closes
// (checked for the whole run by TestMain).
func TestAcceptsLeaveNoWaiters(t *testing.T) {
	t.Parallel()
	for _, v := range []variant{tcp4, tcpL} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			s := newSession(t)
			l, addr := s.listener(t, v)
			const n = 20
			for i := range n {
				c := s.open(t, v)
				s.connect(t, c, addr)
				a := s.accept(t, l)
				s.close(t, a)
				s.close(t, c)
				if got := s.info(t, l).GetNumAcceptors(); got != 0 {
					t.Fatalf("after accept %d: num_acceptors = %d, want 0", i, got)
				}
			}
			cnt := s.info(t, l).GetCounters()
			if cnt.GetAccSuccess() != n || cnt.GetAccFails() != 0 {
				t.Fatalf("listener counters %v, want acc_success %d acc_fails 0", cnt, n)
			}
		})
	}
}
