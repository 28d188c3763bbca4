package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/tap"

	"github.com/sockd/sockd/internal/inflight"
	"github.com/sockd/sockd/internal/pipewire"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// ServerOptions are what a grpc.Server needs to serve s: peer credentials
// (a unix socket caller's uid makes its principal), the codec (Pipe's data
// stays in the transport's buffers, every other request is counted before
// it is decoded), the interceptors, unknown methods answered with
// ErrorInfo, and the message and transport buffer sizes Pipe is built for.
//
// The interceptors, outermost first: each finished call logged with its
// principal and code (only when the service's logger takes debug records:
// the interceptor costs each call allocations), the service's refusals
// while draining and of requests the codec did not decode, and the
// recovery of a handler's panic into INTERNAL, logged with its stack, so
// that one bad call does not take every client's sockets down with the
// daemon. Interceptors installed with options placed before these run
// outside them (grpc.ChainUnaryInterceptor accumulates in order), as metrics
// should, to count refused calls too.
func (s *Service) ServerOptions() []grpc.ServerOption {
	var unary []grpc.UnaryServerInterceptor
	var stream []grpc.StreamServerInterceptor
	if s.log.Enabled(context.Background(), slog.LevelDebug) {
		calls := logging.LoggerFunc(func(ctx context.Context, level logging.Level, msg string, fields ...any) {
			s.log.Log(ctx, slog.Level(level), msg, fields...)
		})
		opts := []logging.Option{
			logging.WithLogOnEvents(logging.FinishCall),
			logging.WithLevels(callLogLevel),
			logging.WithFieldsFromContext(principalField),
		}
		unary = append(unary, logging.UnaryServerInterceptor(calls, opts...))
		stream = append(stream, logging.StreamServerInterceptor(calls, opts...))
	}
	recovered := recovery.WithRecoveryHandlerContext(s.recovered)
	unary = append(unary, s.unaryInterceptor(), recovery.UnaryServerInterceptor(recovered))
	stream = append(stream, s.streamInterceptor(), recovery.StreamServerInterceptor(recovered))
	return []grpc.ServerOption{
		grpc.Creds(peerCreds{log: s.log, budgets: s.connBudgets}),
		grpc.ForceServerCodecV2(codec()),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.UnknownServiceHandler(unknownMethod),
		grpc.MaxRecvMsgSize(pipewire.MaxRequest),
		grpc.MaxSendMsgSize(pipewire.MaxAnswer),
		grpc.MaxHeaderListSize(maxHeaderList),
		grpc.InitialWindowSize(pipewire.StreamWindow),
		grpc.InitialConnWindowSize(pipewire.ConnWindow),
		// Each connection's inflight.Conn reads for gRPC instead (into a
		// pooled pipewire.TransportBuffer while it has bytes; TLS into its
		// records' buffers), so that it knows which stream gRPC's tap is
		// about and an idle connection holds no buffer.
		grpc.ReadBufferSize(0),
		grpc.WriteBufferSize(pipewire.TransportBuffer),
		experimental.BufferPool(inflight.BufferPool()),
		grpc.InTapHandle(s.tapStream),
	}
}

// tapStream refuses, before gRPC runs anything for it, a stream past its
// principal's or the daemon's bound on open streams (RESOURCE_EXHAUSTED,
// QUOTA_EXCEEDED), the stream alone: its connection and its other calls go
// on. gRPC calls it with its transport's lock held: it only looks. A Pipe's
// handler is given its stream on the connection, to say what it has read
// of it.
func (s *Service) tapStream(ctx context.Context, info *tap.Info) (context.Context, error) {
	auth, ok := peerAuthOf(ctx)
	if !ok || auth.conn == nil {
		return ctx, nil
	}
	if err := streamsRefusal(auth.streams, func() bool { return s.isAdmin(auth.principal) }); err != nil {
		auth.conn.LastOpened().Refused()
		return ctx, err
	}
	if info.FullMethodName == sockdv1.SocketService_Pipe_FullMethodName {
		ctx = context.WithValue(ctx, wireStreamKey{}, auth.conn.LastOpened())
	}
	return ctx, nil
}

// wireStreamKey keys a Pipe's inflight.Stream in its context.
type wireStreamKey struct{}

// wireStreamOf is the stream on its connection of the Pipe of ctx; its zero
// value, which says nothing, where the daemon does not follow it.
func wireStreamOf(ctx context.Context) inflight.Stream {
	st, _ := ctx.Value(wireStreamKey{}).(inflight.Stream)
	return st
}

// maxHeaderList bounds a request's metadata: the daemon reads two keys of
// it, a session id of at most 64 bytes and an event sequence. gRPC's 16 MiB
// default let one call of 15 MB of metadata raise the daemon's memory by
// tens of MB, and 64 KiB, which gRPC keeps for as long as the stream is
// open, let a reviewer's 15,000 streams of HPACK-indexed binary metadata
// (87 bytes on the wire each) hold 1.3 GB, uncounted: it is 8 KiB, the
// bound of most HTTP servers' request headers.
const maxHeaderList = 8 << 10

// Register registers the service on g, made with ServerOptions.
func (s *Service) Register(g *grpc.Server) { sockdv1.RegisterSocketServiceServer(g, s) }

// callLogLevel logs every finished call at debug level, except those that
// say the daemon is wrong.
func callLogLevel(code codes.Code) logging.Level {
	switch code {
	case codes.Internal, codes.Unknown, codes.DataLoss:
		return logging.LevelError
	}
	return logging.LevelDebug
}

func principalField(ctx context.Context) logging.Fields {
	if p, ok := principalOf(ctx); ok {
		return logging.Fields{"principal", p.String()}
	}
	return nil
}

// recovered answers a call whose handler panicked.
func (s *Service) recovered(ctx context.Context, p any) error {
	s.log.Error("a call's handler panicked; the call gets INTERNAL", "principal", callerPrincipal(ctx).String(), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return internalError(fmt.Sprintf("the daemon failed this call (%v); it is logged", p))
}
