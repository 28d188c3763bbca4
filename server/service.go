package server

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	middleware "github.com/grpc-ecosystem/go-grpc-middleware/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/internal/pipewire"
	"github.com/sockd/sockd/options"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
	"github.com/sockd/sockd/registry"
)

// SessionMetadataKey is the metadata key naming the caller's session.
const SessionMetadataKey = "sockd-session"

// EventsTakenMetadataKey is the metadata key by which a call says the last
// event its client has read from the session's stream (Service.Events).
const EventsTakenMetadataKey = "sockd-events-taken"

// Limits bound what one request may ask the daemon to hold.
type Limits struct {
	// MaxRecvBuffer is the largest Recv length / RecvFrom, RecvMsg buffer.
	MaxRecvBuffer int
	// MaxControlBuffer is the largest RecvMsg control buffer.
	MaxControlBuffer int
	// MaxCompletionBytes bounds what a session's completion mode holds in
	// the daemon: the received bytes of completion events its stream has not
	// sent yet, and what its waiting completions keep or will deliver (a
	// send's data, a recv's length or buffer size).
	// Past it new completion-mode calls are refused.
	MaxCompletionBytes int
	// MaxPrincipalBytes bounds the same bytes, those kept for replay, every
	// held event's own cost (eventCost), and what calls that wait keep
	// meanwhile (a send's data, a recv's buffer), over all of one
	// principal's sessions together: past it its new completion-mode and
	// waiting calls, and those that would owe an event, are refused and its
	// sessions keep no sent events for replay. Without it a principal's
	// sessions quota, or its waiting operations, would multiply the bound.
	MaxPrincipalBytes int
	// MaxDaemonBytes bounds the bytes of MaxPrincipalBytes over all
	// principals together, as each principal's own bound does over its
	// sessions: past it every principal's calls that would add to them are
	// refused. It is what keeps the daemon within a memory limit once
	// several principals are busy.
	MaxDaemonBytes int
	// MaxMonitors bounds the live socket monitors of all of one principal's
	// sessions together.
	MaxMonitors int
	// MaxStreams bounds the calls and streams one principal has open over
	// all its connections, each a goroutine and gRPC's state in the daemon
	// even before its request has come (inflight.StreamCost): one more is
	// refused, RESOURCE_EXHAUSTED, alone. 0: no bound.
	MaxStreams int
}

// DefaultMaxPrincipalBytes is Limits.MaxPrincipalBytes when it gives none.
const DefaultMaxPrincipalBytes = 256 << 20

// DefaultMaxDaemonBytes is Limits.MaxDaemonBytes when it gives none: four
// principals at their default bound.
const DefaultMaxDaemonBytes = 4 * DefaultMaxPrincipalBytes

func (l Limits) withDefaults() Limits {
	if l.MaxRecvBuffer <= 0 {
		l.MaxRecvBuffer = options.MaxRcvBufBytes
	}
	if l.MaxControlBuffer <= 0 {
		l.MaxControlBuffer = options.MaxCtrlBuf
	}
	if l.MaxMonitors <= 0 {
		l.MaxMonitors = 65536
	}
	if l.MaxPrincipalBytes <= 0 {
		l.MaxPrincipalBytes = DefaultMaxPrincipalBytes
	}
	if l.MaxDaemonBytes <= 0 {
		l.MaxDaemonBytes = DefaultMaxDaemonBytes
	}
	if l.MaxCompletionBytes <= 0 {
		l.MaxCompletionBytes = 32 << 20
	}
	return l
}

// Config configures a Service.
type Config struct {
	Engine *engine.Engine
	// Registry is the socket registry; it must be Engine's Observer to see
	// the sockets. Nil: a registry on by default that no engine reports to.
	Registry *registry.Registry
	Sessions SessionLimits
	Limits   Limits
	Logger   *slog.Logger
	// Options is what this host's kernel accepts, probed at start-up
	// (options.Probe). Nil: probed by New.
	Options *options.Host
	// Policy says what each principal may do. Nil: DefaultPolicy for the
	// daemon's user and the kernel's unprivileged ports.
	Policy *Policy
	// Sockets counts principals' sockets for the policy's socket quotas; it
	// must be Engine's Observer. Nil: socket quotas are not enforced.
	Sockets *SocketCounter
}

// Service implements sockdv1.SocketServiceServer over an engine.
type Service struct {
	sockdv1.UnimplementedSocketServiceServer

	engine   *engine.Engine
	registry *registry.Registry
	sessions *sessionManager
	limits   Limits
	log      *slog.Logger
	options  *options.Host
	sockets  *SocketCounter
	pol      atomic.Pointer[Policy]
	// admins are the calls in progress that used a policy's admin right.
	admins adminCalls
	binds  *bindLocks
	// connBudgets bound what gRPC holds for connections: calls open,
	// requests still arriving or not yet read, answers not yet taken.
	connBudgets *connectionBudgets
	// defaultPolicy is what SetPolicy(nil) puts in force.
	defaultPolicy *Policy
	// root: the daemon runs as root, and creates local users' sockets as
	// theirs (socketCreds).
	root bool
	// denials counts the policy's refusals, by action, and logs them.
	denials  *denials
	draining atomic.Bool
	// drained is closed once the socket service has drained: the streams
	// of the other services end then (endOtherStreams).
	drained     chan struct{}
	drainedOnce sync.Once
}

var _ sockdv1.SocketServiceServer = (*Service)(nil)

// New returns a Service driving cfg.Engine.
func New(cfg Config) *Service {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	reg := cfg.Registry
	if reg == nil {
		reg = registry.New(true)
	}
	sessions := newSessionManager(cfg.Engine, cfg.Sessions)
	sessions.registry = reg
	s := &Service{
		engine:   cfg.Engine,
		registry: reg,
		sessions: sessions,
		limits:   cfg.Limits.withDefaults(),
		log:      logger,
		options:  hostOptions(cfg.Options),
		drained:  make(chan struct{}),
		sockets:  cfg.Sockets,
		root:     os.Geteuid() == 0,
		denials:  newDenials(logger),
		binds:    newBindLocks(),
	}
	s.connBudgets = newConnectionBudgets(logger, s.limits)
	sessions.maxCompletionBytes = s.limits.MaxCompletionBytes
	sessions.maxPrincipalBytes = s.limits.MaxPrincipalBytes
	sessions.daemonLoad.limit = int64(s.limits.MaxDaemonBytes)
	sessions.isAdmin = s.isAdmin
	sessions.log = logger
	sessions.sockets = cfg.Sockets
	sessions.policy = s.policy
	s.defaultPolicy = DefaultPolicy(uint32(os.Getuid()), UnprivilegedPortStart())
	s.SetPolicy(cfg.Policy)
	return s
}

// Drain drains the service: new calls are refused with UNAVAILABLE, every
// socket is closed so that every waiter gets its abort (nowait) or closed
// (blocking) answer, attached event streams are given until ctx ends to flush
// what they hold, and then every session ends.
func (s *Service) Drain(ctx context.Context) {
	s.draining.Store(true)
	// Waiters are answered at once, and no close lingers (Close calls in
	// flight included): a daemon that stops closes as an exiting process.
	s.engine.StopLingering()
	for _, sock := range s.engine.Sockets() {
		sock.CloseInBackground()
	}
	defer s.endOtherStreams()
	for !s.flushed() {
		select {
		case <-ctx.Done():
			s.sessions.endAll()
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	s.sessions.endAll()
}

// endOtherStreams ends the streams of the other services (streamInterceptor)
// once the socket service has drained: a health Watch or a reflection
// stream has no reason to end by itself, and a graceful stop would wait for
// it.
func (s *Service) endOtherStreams() {
	s.drainedOnce.Do(func() { close(s.drained) })
}

// flushed reports whether every attached stream has sent all it holds.
func (s *Service) flushed() bool {
	for _, sess := range s.sessions.all() {
		if attached, unsent, _ := sess.gauges(); attached && unsent > 0 {
			return false
		}
	}
	return true
}

// unaryInterceptor refuses new calls of the socket service while draining
// (health answers NOT_SERVING meanwhile), requests the codec did not
// decode (boundedCodec), and calls of a principal whose answers not yet
// taken are at their bound; it runs the calls of principals other than
// root in a context a policy reload can end (watchAdmin), and keeps each
// answer on its connection's account until gRPC lets go of it
// (answerAccount).
func (s *Service) unaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if s.draining.Load() && ofSocketService(info.FullMethod) {
			return nil, draining()
		}
		if err := refusedByCodec(req); err != nil {
			return nil, err
		}
		// Every call past the answer bounds is refused, health checks
		// too: their answers are held as others' are, and a principal
		// that read none filled the daemon's bound and locked root out (a
		// reviewer's 17,000 health streams). Root and the daemon's user
		// keep the daemon's last sixteenth for their probes.
		auth, _ := peerAuthOf(ctx)
		if err := s.answersRefusal(auth); err != nil {
			return nil, err
		}
		w := s.watchAdmin(ctx)
		if w == nil {
			resp, err := handler(ctx, req)
			return accounted(resp, err, auth.answers, 0), err
		}
		defer s.endWatched(w)
		resp, err := handler(w, req)
		return accounted(resp, err, auth.answers, 0), revokedError(w, err)
	}
}

// answersRefusal refuses a new call of the connection auth describes while
// its answers not yet taken are at their bound (answerAccount.refusal).
func (s *Service) answersRefusal(auth peerAuth) error {
	if auth.answers == nil {
		return nil
	}
	return auth.answers.refusal(func() bool { return s.isAdmin(auth.principal) })
}

// accounted is a call's answer with its bytes, and overhead (0: a unary
// call's), kept on the connection's account for as long as gRPC holds them
// (answerAccount).
func accounted(resp any, err error, account *answerAccount, overhead int) any {
	if m, ok := resp.(proto.Message); ok && err == nil && account != nil {
		return &pipewire.Accounted{Msg: m, Account: account, Overhead: overhead}
	}
	return resp
}

// streamAnswerOverhead is charged beside each answer of another service's
// stream: the stream stays open while its answer waits, with its handler's
// goroutine and state (a reviewer measured 115 KB of RSS a reflection
// stream whose 21 KB answer was not read).
const streamAnswerOverhead = 32 << 10

// streamInterceptor refuses new streams of the socket service while
// draining, and while the connection's answer account is at its bound,
// ends the other services' streams once it has drained
// (endOtherStreams) with UNAVAILABLE, keeps their answers on the
// connection's account (refusing new streams past its bound),
// has the requests that the codec did not decode refused, and runs the
// socket service's streams of principals other than root in a context a
// policy reload can end (watchAdmin).
func (s *Service) streamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !ofSocketService(info.FullMethod) {
			// Reflection's answers are large (a descriptor set, 100 KB),
			// and each stream of a client that reads none held one, with
			// nothing but the streams allowed a connection to bound them
			// (a reviewer's 15,000 streams: 1.7 GB); a health Watch's are
			// small, but each is charged its stream's cost. They are
			// accounted as unary answers are, and refused as those are.
			auth, _ := peerAuthOf(ss.Context())
			if err := s.answersRefusal(auth); err != nil {
				return err
			}
			ctx, cancel := context.WithCancel(ss.Context())
			defer cancel()
			go func() {
				select {
				case <-s.drained:
					cancel()
				case <-ctx.Done():
				}
			}()
			err := handler(srv, drainableStream{ServerStream: ss, ctx: ctx, drained: s.drained, answers: auth.answers})
			select {
			case <-s.drained:
				if err != nil {
					// Health's Watch answers its context's end as
					// cancelled, which its client would take for its own.
					return draining()
				}
			default:
			}
			return err
		}
		if s.draining.Load() {
			return draining()
		}
		// Events and Pipe streams send answers that gRPC holds while their
		// client reads none: refused, as calls are, while the principal's
		// answers are at their bound; live ones wait (streamAccount.waitRoom).
		if auth, ok := peerAuthOf(ss.Context()); ok {
			if err := s.answersRefusal(auth); err != nil {
				return err
			}
		}
		w := s.watchAdmin(ss.Context())
		if w == nil {
			return handler(srv, checkedStream{ss})
		}
		defer s.endWatched(w)
		return revokedError(w, handler(srv, checkedStream{&middleware.WrappedServerStream{ServerStream: ss, WrappedContext: w}}))
	}
}

// ofSocketService reports whether a method is the socket service's, not
// health's or reflection's.
func ofSocketService(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+sockdv1.SocketService_ServiceDesc.ServiceName+"/")
}

// principal returns the calling connection's principal.
func (s *Service) principal(ctx context.Context) (Principal, error) {
	p, ok := principalOf(ctx)
	if !ok {
		return Principal{}, unauthenticated()
	}
	return p, nil
}

// caller resolves the session named by the call's metadata.
func (s *Service) caller(ctx context.Context) (*Session, error) {
	return s.sessionByID(ctx, "")
}

// sessionByID resolves id, or the metadata's session when id is empty.
func (s *Service) sessionByID(ctx context.Context, id string) (*Session, error) {
	return s.session(ctx, id, true)
}

// session is sessionByID; a call that says what its client read
// (EventsTakenMetadataKey) makes the session count what its streams sent
// as unread until told, unless startsAcks is false: an Events call's says
// no more than its after_sequence, and a client that only follows the
// stream says nothing after it (a reviewer's `sockctl events --follow
// --after 1` had every other process's calls on the session refused once
// half the backlog had been sent, though it had read all of it).
func (s *Service) session(ctx context.Context, id string, startsAcks bool) (*Session, error) {
	p, err := s.principal(ctx)
	if err != nil {
		return nil, err
	}
	field := "session_id"
	if id == "" {
		// ValueFromIncomingContext does not copy the whole metadata map.
		ids := metadata.ValueFromIncomingContext(ctx, SessionMetadataKey)
		if len(ids) > 0 {
			id, field = ids[0], "metadata."+SessionMetadataKey
		}
		for _, other := range ids {
			if other != id {
				// Which one the caller meant is not for the daemon to
				// guess (one id twice, as a context made for raw calls
				// passed to the client's methods sends it, is one).
				return nil, invalidArgument(field, "%d values, not all the same: a call names one session", len(ids))
			}
		}
	}
	switch {
	case id == "":
		return nil, missingSession()
	case len(id) > maxIDLen:
		return nil, invalidArgument(field, "%d bytes: session ids have at most %d", len(id), maxIDLen)
	}
	sess, ok := s.sessions.lookup(p, id)
	if !ok {
		return nil, sessionNotFound(id)
	}
	if sess.principal != p {
		s.usedAdminRight(ctx, sess)
	}
	if err := noteEventsTaken(ctx, sess, startsAcks); err != nil {
		return nil, err
	}
	sess.noteCall()
	return sess, nil
}

// noteEventsTaken records the last event the call's client says it read;
// unless startsAcks, only on a session whose clients say so already.
func noteEventsTaken(ctx context.Context, sess *Session, startsAcks bool) error {
	taken := metadata.ValueFromIncomingContext(ctx, EventsTakenMetadataKey)
	if len(taken) == 0 {
		return nil
	}
	var through uint64
	for _, v := range taken {
		seq, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return invalidArgument("metadata."+EventsTakenMetadataKey, "%q: want the decimal sequence of the last event read", v)
		}
		through = max(through, seq)
	}
	sess.mu.Lock()
	if startsAcks || sess.events.acking {
		sess.events.ack(through)
	}
	sess.mu.Unlock()
	return nil
}

// target resolves the session and a socket its principal may use. Sockets of
// other principals are reported as not found, so ids cannot be probed.
func (s *Service) target(ctx context.Context, id string) (*Session, *engine.Socket, error) {
	sess, err := s.caller(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := checkSocketID("socket_id", id); err != nil {
		return nil, nil, err
	}
	sock, ok := s.engine.Lookup(id)
	if !ok || !s.mayUse(sess.principal, sock) {
		return nil, nil, socketNotFound(id)
	}
	if ownerPrincipal(sock) != sess.principal {
		s.usedAdminRight(ctx, sess)
	}
	return sess, sock, nil
}

// maxIDLen bounds the socket and session ids a request may name: the
// daemon's are 32 hex digits, and a longer one, which names nothing, would
// otherwise be held (a monitor's nosock event) or echoed, in an error's
// message and details, at whatever size it came.
const maxIDLen = 64

// checkSocketID refuses a request's socket id (its field) that cannot name
// a socket.
func checkSocketID(field, id string) error {
	switch {
	case id == "":
		return invalidArgument(field, "required")
	case len(id) > maxIDLen:
		return invalidArgument(field, "%d bytes: socket ids have at most %d", len(id), maxIDLen)
	}
	return nil
}

// mayUse reports whether the principal may use sock: its owner session belongs
// to the principal, or the principal is an admin.
func (s *Service) mayUse(p Principal, sock *engine.Socket) bool {
	// An orphan's zero Principal matches no caller: authentication always
	// sets Kind.
	return ownerPrincipal(sock) == p || s.isAdmin(p)
}

// isAdmin reports whether p sees and touches every session and socket:
// root on the unix socket, and whom the policy in force makes an admin.
func (s *Service) isAdmin(p Principal) bool {
	if p.Admin() {
		return true
	}
	r := s.policy().ruleFor(p)
	return r != nil && r.admin
}

// drainableStream is another service's stream, which ends once the socket
// service has drained (streamInterceptor): its context ends then (a health
// Watch looks at nothing else), and so does a RecvMsg that waits (a
// reflection stream waits in RecvMsg and never looks at its context).
type drainableStream struct {
	grpc.ServerStream
	ctx     context.Context // ends when the socket service has drained
	drained <-chan struct{}
	answers *answerAccount // the connection's, for what the stream sends
}

func (s drainableStream) Context() context.Context { return s.ctx }

func (s drainableStream) SendMsg(m any) error {
	return s.ServerStream.SendMsg(accounted(m, nil, s.answers, streamAnswerOverhead))
}

// RecvMsg waits for the next message or the drain. After the drain the
// receive goes on in its goroutine until the stream ends, and m is not
// to be used: the handler sees the error and returns.
func (s drainableStream) RecvMsg(m any) error {
	got := make(chan error, 1)
	go func() { got <- s.ServerStream.RecvMsg(m) }()
	select {
	case err := <-got:
		if err != nil {
			return err
		}
		return refusedByCodec(m)
	case <-s.drained:
		return draining()
	}
}
