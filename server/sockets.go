package server

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/metadata"

	"github.com/sockd/sockd/engine"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// defaultBacklog is Erlang's listen/1 backlog.
const defaultBacklog = 5

// Open implements sockdv1.SocketServiceServer.
func (s *Service) Open(ctx context.Context, r *sockdv1.OpenRequest) (*sockdv1.OpenResponse, error) {
	sess, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	return requestOnce(ctx, sess, r.GetRequestId(), callTarget{method: "Open"}, func() (*sockdv1.OpenResponse, error) { return s.open(ctx, sess, r) })
}

func (s *Service) open(ctx context.Context, sess *Session, r *sockdv1.OpenRequest) (*sockdv1.OpenResponse, error) {
	domain, typ, proto, bad := decodeOpen(r)
	if bad != nil {
		return &sockdv1.OpenResponse{Error: bad}, nil
	}
	check := s.checkCaller(ctx)
	if err := check.open(domain, typ, proto, r.GetNetns()); err != nil {
		return nil, err
	}
	// The runtime default (UseRegistry RPC) applies at each open, so it is
	// passed explicitly: the engine's own default is fixed at start.
	use := s.registry.UseRegistry()
	if r.UseRegistry != nil {
		use = r.GetUseRegistry()
	}
	opts := engine.OpenOptions{Netns: r.GetNetns(), Debug: r.GetDebug(), UseRegistry: &use, Creds: s.socketCreds(ctx, check.r)}
	sock, err := s.engine.Open(sess, domain, typ, proto, opts)
	if err != nil {
		se, rerr := outcome(err)
		return &sockdv1.OpenResponse{Error: se}, rerr
	}
	if !sess.adopt(sock) {
		s.sessions.discard(sock)
		return nil, sessionNotFound(sess.id)
	}
	return &sockdv1.OpenResponse{SocketId: sock.ID()}, nil
}

// Bind implements sockdv1.SocketServiceServer.
func (s *Service) Bind(ctx context.Context, r *sockdv1.BindRequest) (*sockdv1.BindResponse, error) {
	_, sock, err := s.target(ctx, r.GetSocketId())
	if err != nil {
		return nil, err
	}
	sa, bad := decodeAddr(r.GetAddress(), sock.Domain())
	if bad != nil {
		return &sockdv1.BindResponse{Error: bad}, nil
	}
	mu := s.binds.of(sock)
	mu.Lock()
	defer mu.Unlock()
	if err := s.checkCaller(ctx).bind(sock, sa); err != nil {
		return nil, err
	}
	se, err := outcome(sock.BindWith(sa, engine.BindOptions{UnlinkOnClose: r.GetUnlinkOnClose() && s.mayUnlink(ctx, sock)}))
	return &sockdv1.BindResponse{Error: se}, err
}

// mayUnlink reports whether a bind of sock may have its socket file removed
// at close (BindRequest.unlink_on_close). The removal looks the path up
// again, and whoever may rename a directory on it can point it elsewhere:
// it is done only with rights the caller has itself, those of the user the
// socket acts as, or the daemon's for root or for the daemon's own user.
// Not for a policy's admins (a reload may take that away before the close),
// nor for a TCP or TLS client without act_as: the file stays, as Erlang
// leaves it.
func (s *Service) mayUnlink(ctx context.Context, sock *engine.Socket) bool {
	if _, actsFor := sock.ActsFor(); actsFor {
		return true
	}
	p := callerPrincipal(ctx)
	return p.Kind == "uid" && (p.UID == 0 || p.UID == uint32(os.Geteuid()))
}

// Listen implements sockdv1.SocketServiceServer.
func (s *Service) Listen(ctx context.Context, r *sockdv1.ListenRequest) (*sockdv1.ListenResponse, error) {
	_, sock, err := s.target(ctx, r.GetSocketId())
	if err != nil {
		return nil, err
	}
	backlog := defaultBacklog
	if r.Backlog != nil {
		backlog = int(r.GetBacklog()) // any int, as Erlang's: the kernel caps it
	}
	mu := s.binds.of(sock)
	mu.Lock()
	defer mu.Unlock()
	if sock.Domain() != unix.AF_UNIX { // a local listen binds nothing (an unnamed one is einval)
		if err := s.checkCaller(ctx).implicitBind(sock); err != nil {
			return nil, err
		}
	}
	if d := sock.Domain(); d == unix.AF_INET || d == unix.AF_INET6 {
		sock.SetAcceptFilter(s.acceptFilter)
	}
	se, err := outcome(sock.Listen(backlog))
	return &sockdv1.ListenResponse{Error: se}, err
}

// Connect implements sockdv1.SocketServiceServer.
func (s *Service) Connect(ctx context.Context, r *sockdv1.ConnectRequest) (*sockdv1.ConnectResponse, error) {
	sess, sock, err := s.target(ctx, r.GetSocketId())
	if err != nil {
		return nil, err
	}
	t, err := waitTimeout(ctx, r.GetTimeout())
	if err != nil {
		return nil, err
	}
	var dest *engine.SockAddr
	if r.GetAddress() != nil {
		sa, bad := decodeAddr(r.GetAddress(), sock.Domain())
		if bad != nil {
			return &sockdv1.ConnectResponse{Error: bad}, nil
		}
		if sendBinds(sock) { // a datagram connect, which never waits
			mu := s.binds.of(sock)
			mu.Lock()
			defer mu.Unlock()
		}
		if err := s.checkCaller(ctx).connect(sock, sa); err != nil {
			return nil, err
		}
		dest = &sa
	}
	adm, err := s.admit(sess, t, nil)
	if err != nil {
		return nil, err
	}
	res := sock.Connect(ctx, sess, dest, t)
	adm.done()
	async, se, err := finishWait(sess, sock, res.Select, res.Err)
	return &sockdv1.ConnectResponse{Async: async, Error: se}, err
}

// Accept implements sockdv1.SocketServiceServer.
func (s *Service) Accept(ctx context.Context, r *sockdv1.AcceptRequest) (*sockdv1.AcceptResponse, error) {
	sess, sock, err := s.target(ctx, r.GetSocketId())
	if err != nil {
		return nil, err
	}
	t, err := waitTimeout(ctx, r.GetTimeout())
	if err != nil {
		return nil, err
	}
	return requestOnce(ctx, sess, r.GetRequestId(), callTarget{"Accept", sock.ID()}, func() (*sockdv1.AcceptResponse, error) {
		return s.accept(ctx, sess, sock, t, r.GetRequestId() != "")
	})
}

// accept is Accept's call; retriable says it has a request id, which its
// client makes it again with if the answer does not reach it.
func (s *Service) accept(ctx context.Context, sess *Session, sock *engine.Socket, t engine.Timeout, retriable bool) (*sockdv1.AcceptResponse, error) {
	adm, err := s.admit(sess, t, nil)
	if err != nil {
		return nil, err
	}
	res := sock.Accept(ctx, sess, t)
	adm.done()
	resp := &sockdv1.AcceptResponse{}
	if res.Socket != nil {
		if err := ctx.Err(); err != nil && !retriable {
			// The client gave up on the call as the connection came: it
			// would never learn the id, and the socket would stay, open
			// and owned, until its session ends. (A call made again with
			// its request id answers it: the client's connection to the
			// daemon broke, not its will to accept.)
			s.sessions.discard(res.Socket)
			return nil, rpcError(err)
		}
		if !sess.adopt(res.Socket) {
			s.sessions.discard(res.Socket)
			return nil, sessionNotFound(sess.id)
		}
		resp.SocketId = res.Socket.ID()
	}
	resp.Async, resp.Error, err = finishWait(sess, sock, res.Select, res.Err)
	return resp, err
}

var shutdownHows = map[sockdv1.ShutdownHow]int{
	sockdv1.ShutdownHow_SHUTDOWN_HOW_READ:       unix.SHUT_RD,
	sockdv1.ShutdownHow_SHUTDOWN_HOW_WRITE:      unix.SHUT_WR,
	sockdv1.ShutdownHow_SHUTDOWN_HOW_READ_WRITE: unix.SHUT_RDWR,
}

// Shutdown implements sockdv1.SocketServiceServer.
func (s *Service) Shutdown(ctx context.Context, r *sockdv1.ShutdownRequest) (*sockdv1.ShutdownResponse, error) {
	_, sock, err := s.target(ctx, r.GetSocketId())
	if err != nil {
		return nil, err
	}
	how, ok := shutdownHows[r.GetHow()]
	if !ok {
		// Erlang raises {invalid, {how, H}}.
		return nil, invalidArgument("how", "must be read, write or read_write")
	}
	se, err := outcome(sock.Shutdown(how))
	return &sockdv1.ShutdownResponse{Error: se}, err
}

// Close implements sockdv1.SocketServiceServer.
func (s *Service) Close(ctx context.Context, r *sockdv1.CloseRequest) (*sockdv1.CloseResponse, error) {
	sess, sock, err := s.target(ctx, r.GetSocketId())
	if err != nil {
		return nil, err
	}
	sess.enterCall() // close(2) may linger
	defer sess.leaveCall()
	se, err := outcome(sock.Close())
	return &sockdv1.CloseResponse{Error: se}, err
}

// Cancel implements sockdv1.SocketServiceServer. Without an operation it
// cancels whichever of the caller's pending operations on the socket has
// the handle (accept, connect, a read, a write, tried in that order), for
// clients such as sockctl that know only the handle.
func (s *Service) Cancel(ctx context.Context, r *sockdv1.CancelRequest) (*sockdv1.CancelResponse, error) {
	if r.GetInfo().GetHandle() == 0 {
		// No call was ever answered with handle 0: this is no select_info
		// at all, which socket:cancel/2 refuses with badarg.
		return nil, invalidArgument("info.handle", "required: the handle a nowait call answered with")
	}
	sess, sock, err := s.target(ctx, r.GetSocketId())
	if err != nil {
		return nil, err
	}
	ops := []engine.Op{engine.OpAccept, engine.OpConnect, engine.OpRecv, engine.OpSend}
	if r.GetInfo().GetOperation() != sockdv1.Operation_OPERATION_UNSPECIFIED {
		op, ok := decodeOp(r.GetInfo().GetOperation())
		if !ok {
			return nil, invalidArgument("info.operation", "unknown operation %d", r.GetInfo().GetOperation())
		}
		ops = []engine.Op{op}
	}
	mode := r.GetInfo().GetMode()
	if _, known := sockdv1.AsyncMode_name[int32(mode)]; !known {
		return nil, invalidArgument("info.mode", "unknown mode %d", mode)
	}
	si := engine.SelectInfo{Handle: r.GetInfo().GetHandle(), Completion: mode == sockdv1.AsyncMode_ASYNC_MODE_COMPLETION}
	done, matched, cerr := cancelIn(sock, sess, ops, si)
	se, err := outcome(cerr)
	if err != nil {
		return nil, err
	}
	resp := &sockdv1.CancelResponse{Error: se}
	if done != nil {
		if child := done.Accept; child != nil && child.Socket != nil && !sess.adopt(child.Socket) {
			s.sessions.discard(child.Socket)
		}
		resp.Completion = completionEvent(engine.Event{Kind: engine.EventCompletion, Socket: sock, Handle: si.Handle, Op: done.Op, Completion: done})
	}
	// No event for the handle can be logged any more: take back those not
	// yet on the stream, of the lane it was found in (any, if none had it:
	// they are stale). A result among them is answered here instead, but
	// only when nothing was pending: else it is an earlier operation's, of
	// a reused handle, and goes out as its event.
	lane := matched
	if lane == 0 && len(ops) == 1 {
		lane = ops[0]
	}
	readSaid := len(metadata.ValueFromIncomingContext(ctx, EventsTakenMetadataKey)) > 0
	withdrawn, claimed, last := sess.withdrawEvents(sock.ID(), lane, si.Handle, resp.Completion == nil && matched == 0, readSaid)
	if withdrawn != nil {
		resp.Completion = withdrawn
	}
	resp.CompletionSequence = claimed
	resp.FlushedThrough = last
	if matched != 0 {
		resp.Operation = encodeOp(matched)
	} else if withdrawn != nil {
		resp.Operation = withdrawn.GetOperation()
	}
	return resp, nil
}

// cancelIn cancels c's request of handle si.Handle in the lane of ops that
// has it, pending (matched is its op) or with its result on its way (done
// is that result). With several ops the lane is found first, without side
// effects (a Cancel of another lane could retire a stray there), a pending
// request before one that has finished (a reused handle may have both);
// none has it: invalid naming no operation, or closed on a closed socket.
func cancelIn(sock *engine.Socket, c engine.Caller, ops []engine.Op, si engine.SelectInfo) (done *engine.Completion, matched engine.Op, err error) {
	var inv *engine.InvalidError
	nothing := func(done *engine.Completion, err error) bool {
		return done == nil && (errors.As(err, &inv) || errors.Is(err, engine.ErrClosed))
	}
	if len(ops) == 1 {
		si.Op = ops[0]
		if done, err = sock.Cancel(c, si); nothing(done, err) {
			return nil, 0, err
		}
		return done, si.Op, err
	}
	for _, wantPending := range []bool{true, false} {
		for _, op := range ops {
			si.Op = op
			if pending, onItsWay := sock.HasRequest(c, si); (wantPending && !pending) || (!wantPending && !onItsWay) {
				continue
			}
			// It may have finished since: then it is not there after all.
			if done, err = sock.Cancel(c, si); !nothing(done, err) {
				return done, op, err
			}
		}
	}
	if sock.Closed() {
		return nil, 0, engine.ErrClosed
	}
	return nil, 0, &engine.InvalidError{What: si.Tag(), Value: fmt.Sprintf("{%s, _, %d}", si.Tag(), si.Handle)}
}

// SockName implements sockdv1.SocketServiceServer.
func (s *Service) SockName(ctx context.Context, r *sockdv1.SockNameRequest) (*sockdv1.SockNameResponse, error) {
	addr, se, err := s.nameOf(ctx, r.GetSocketId(), (*engine.Socket).SockName)
	if err != nil {
		return nil, err
	}
	return &sockdv1.SockNameResponse{Address: addr, Error: se}, nil
}

// PeerName implements sockdv1.SocketServiceServer.
func (s *Service) PeerName(ctx context.Context, r *sockdv1.PeerNameRequest) (*sockdv1.PeerNameResponse, error) {
	addr, se, err := s.nameOf(ctx, r.GetSocketId(), (*engine.Socket).PeerName)
	if err != nil {
		return nil, err
	}
	return &sockdv1.PeerNameResponse{Address: addr, Error: se}, nil
}

// nameOf answers SockName and PeerName: the address name reports, or the
// socket error it met.
func (s *Service) nameOf(ctx context.Context, id string, name func(*engine.Socket) (engine.SockAddr, error)) (*sockdv1.SockAddr, *sockdv1.SocketError, error) {
	_, sock, err := s.target(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	sa, err := name(sock)
	if err != nil {
		se, err := outcome(err)
		return nil, se, err
	}
	return encodeAddr(&sa), nil, nil
}

// Info implements sockdv1.SocketServiceServer.
func (s *Service) Info(ctx context.Context, r *sockdv1.InfoRequest) (*sockdv1.InfoResponse, error) {
	_, sock, err := s.target(ctx, r.GetSocketId())
	if err != nil {
		return nil, err
	}
	return &sockdv1.InfoResponse{Info: encodeInfo(sock.Info())}, nil
}
