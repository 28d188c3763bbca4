package engine

import (
	"fmt"
	"net/netip"
	"time"
)

// This file is the engine's public contract: the types the server package
// translates to and from protobuf. Keep it free of gRPC and protobuf.

// Caller is the Erlang "process" on whose behalf an operation runs: in sockd,
// a session. The engine compares Callers by identity (==).
type Caller interface {
	// CallerID names the caller in Info (the socket's owner) and in logs.
	CallerID() string
	// Deliver hands an event to the caller. It must not block and must not
	// call back into the engine while holding engine locks (the engine calls
	// it with no socket lock held). It may be called concurrently from
	// several goroutines; an abort or completion is the last event of its
	// handle. Deliver should hand the event off rather than call into the
	// engine: Cancel and a replacing call wait for an event being delivered
	// to their handle, so Deliver calling them for that handle would
	// deadlock.
	Deliver(ev Event)
}

// A Holder is a Caller told what its pending completion-mode operations
// keep in the daemon, so that it can bound it: Hold(n) when such an
// operation starts waiting with up to n bytes to keep or deliver (a send's
// data not yet written, a recv's length or buffer size), Hold(-n) right
// after it ends, however it ends (completion, abort, cancel, replacement). Hold may be called with
// socket locks held: it must not call into the engine or block.
type Holder interface {
	Caller
	Hold(delta int)
}

// A Mortal is a Caller that can end while its blocking calls wait, as an
// Erlang process dies in the middle of a receive: once the channel Gone
// returns is closed, each of its blocking calls leaves its lane (the next
// requestor is activated) and returns ErrCallerGone. Its nowait requests are
// withdrawn by DropCaller, which the caller's owner calls for every socket
// it may wait on; a blocking call has no such record, so it watches Gone.
type Mortal interface {
	Caller
	Gone() <-chan struct{}
}

// A Tenant is a Caller that acts for someone (a server's principal). A
// socket whose owner dies keeps the owner's Tenant value (Socket.Orphaned),
// not the dead Caller, so that whoever the owner acted for can still reach
// the closed socket, as every holder of an Erlang socket can. Tenant values
// must be comparable: they also group the tombstones (Config.MaxTombstones).
type Tenant interface {
	Caller
	Tenant() any
}

// EventKind says what an Event reports.
type EventKind int

const (
	// EventSelect: the operation registered with Handle may be retried now.
	EventSelect EventKind = iota + 1
	// EventAbort: the operation registered with Handle was aborted; Reason says why
	// (ErrClosed, ErrCancelled, or an Errno propagated to queued requestors).
	EventAbort
	// EventCompletion: completion mode; Completion holds the operation's result.
	EventCompletion
	// EventCounterWrap: counter Counter of the socket wrapped (iow is on).
	EventCounterWrap
)

// Event is one '$socket' message: {'$socket', Socket, Tag, Info}.
type Event struct {
	Kind       EventKind
	Socket     *Socket
	Handle     uint64
	Op         Op          // the operation the handle belongs to
	Reason     error       // EventAbort
	Completion *Completion // EventCompletion; EventAbort of a completion cut short: what it had done (waiter.partial)
	Counter    string      // EventCounterWrap
}

// Completion is the result of an operation the engine performed itself in
// completion mode. Exactly one of the result pointers is set.
type Completion struct {
	// Op is the operation answered, where the completion comes without its
	// Event (Cancel's answer).
	Op      Op
	Accept  *AcceptResult
	Connect *ConnectResult
	Send    *SendResult
	Recv    *RecvResult
}

// Op names an operation, and so the lane it queues in (Erlang's select tag).
type Op int

const (
	OpAccept Op = iota + 1
	OpConnect
	OpRecv
	OpRecvFrom
	OpRecvMsg
	OpSend
	OpSendTo
	OpSendMsg
)

// TimeoutKind selects how a blocking-capable call waits.
type TimeoutKind int

const (
	// WaitInfinity waits until done (bounded only by ctx).
	WaitInfinity TimeoutKind = iota
	// WaitFor waits at most Timeout.D; D == 0 is Erlang's 0 ("poll").
	WaitFor
	// WaitNowait returns a SelectInfo instead of waiting.
	WaitNowait
)

// Timeout is Erlang's Timeout argument: infinity | 0 | N ms | nowait | Handle.
type Timeout struct {
	Kind TimeoutKind
	D    time.Duration
	// Handle is the caller's chosen handle for WaitNowait; 0 lets the engine choose.
	Handle uint64
	// Completion asks for completion mode instead of select mode (WaitNowait
	// only): when the call would block, the engine itself finishes the
	// operation once the socket is ready and delivers EventCompletion with
	// its result (a stream recv(N) gathers all N bytes first). Send data is
	// kept, not copied, until then.
	Completion bool
}

// SelectInfo is Erlang's {select_info, Tag, Handle} (or completion_info when
// Completion is true).
type SelectInfo struct {
	Op         Op
	Handle     uint64
	Completion bool
}

// String prints si as Erlang does: {select_info, recv, 7}, or
// {completion_info, recv, 7} in completion mode.
func (si SelectInfo) String() string {
	return fmt.Sprintf("{%s, %s, %d}", si.Tag(), si.Op, si.Handle)
}

// Tag is the info's Erlang record name, select_info or completion_info: what
// a cancel that matches nothing names as invalid ({invalid, SelectInfo}).
func (si SelectInfo) Tag() string {
	if si.Completion {
		return "completion_info"
	}
	return "select_info"
}

// String is the operation's Erlang name (recv, sendto, ...).
func (op Op) String() string {
	if name, ok := opNames[op]; ok {
		return name
	}
	return fmt.Sprintf("op(%d)", int(op))
}

var opNames = map[Op]string{
	OpAccept: "accept", OpConnect: "connect", OpRecv: "recv", OpRecvFrom: "recvfrom", OpRecvMsg: "recvmsg",
	OpSend: "send", OpSendTo: "sendto", OpSendMsg: "sendmsg",
}

// Family of a socket address.
type Family int

const (
	FamilyUnspec Family = iota
	FamilyInet
	FamilyInet6
	FamilyLocal
	// FamilyNative is an address of a family the engine does not decode:
	// Raw holds the whole sockaddr, family field first (Erlang's native
	// #{family := integer(), addr := binary()}, or a raw binary received).
	FamilyNative
)

// SockAddr is a decoded socket address (Erlang's sockaddr() map).
type SockAddr struct {
	Family   Family
	Addr     netip.Addr // inet, inet6 (unzoned)
	Port     uint16
	Flowinfo uint32 // inet6
	ScopeID  uint32 // inet6
	// Path of a local address; a leading NUL byte means the Linux abstract namespace.
	Path []byte
	// Raw holds the bytes of an address the engine cannot decode. For
	// FamilyUnspec it is Erlang's unspec addr: the bytes after the AF_UNSPEC
	// family field (empty is a bare AF_UNSPEC, as connect uses to dissolve a
	// dgram association). For FamilyNative it is the whole sockaddr.
	Raw []byte
}

// OpenOptions are the Opts map of socket:open/4.
type OpenOptions struct {
	// Netns, if set, is the path of a network namespace to create the socket in.
	Netns string
	// Creds, if set, are the local user the socket acts for. The kernel
	// records Creds.UID as the socket's owner (sk_uid, which iptables
	// --uid-owner, uid routing rules and reuseport groups see) instead of
	// the daemon's uid, and the connections it accepts too, whoever owns it
	// by then; that takes effect only if the daemon may change its
	// filesystem uid (CAP_SETUID). Its binds, connects and sends to
	// filesystem paths, and a local socket's connect and listen, are made
	// with the user's effective uid and gid and no supplementary groups, or
	// fail with EPERM if the daemon cannot switch (CAP_SETUID and
	// CAP_SETGID): the kernel checks the user's rights, and a local peer
	// reads the user with SO_PEERCRED. A local socket also sends the user's
	// SCM_CREDENTIALS with its data, which a receiver with SO_PASSCRED reads.
	Creds *Creds
	Debug bool
	// UseRegistry is nil for "the global default".
	UseRegistry *bool
}

// AcceptResult is {ok, Socket} | {select, SI} | {error, R}.
type AcceptResult struct {
	Socket *Socket
	Select *SelectInfo
	Err    error
}

// ConnectResult is ok | {select, SI} | {error, R}.
type ConnectResult struct {
	Select *SelectInfo
	Err    error
}

// SendResult covers ok | {ok, Rest} | {select, SI} | {select, {SI, Rest}} |
// {error, R} | {error, {R, Rest}}: Sent bytes were accepted by the OS and
// Unsent were not.
type SendResult struct {
	Sent   int
	Unsent int
	Select *SelectInfo
	Err    error
}

// RecvResult covers recv, recvfrom and recvmsg: {ok, Data} | {select, SI} |
// {select, {SI, Data}} | {error, R} | {error, {R, Data}}.
type RecvResult struct {
	Data   []byte
	Select *SelectInfo
	// SelectRead: Data is a completed read and Select a new select that
	// otp select_read armed for the caller ({select_read, {SI, Data}});
	// otherwise Data with Select is a partial stream read ({select, {SI, Data}}).
	SelectRead bool
	Err        error
	// recvfrom / recvmsg
	From *SockAddr
	// recvmsg
	Control []ControlMessage
	Flags   int // MSG_* bits returned by the kernel (MSG_TRUNC, MSG_CTRUNC, ...)
}

// ControlMessage is one received or sent cmsg.
type ControlMessage struct {
	Level int // SOL_SOCKET, IPPROTO_IP, IPPROTO_IPV6, ...; BadControlLevel for a malformed tail
	Type  int
	Data  []byte
	// Value is the decoded form when the engine knows the (Level, Type):
	// time.Duration-free typed values: Timeval, int (tos/ttl/hoplimit/tclass),
	// PktInfo, PktInfo6, SockAddr (origdstaddr), ExtendedErr.
	Value any
}

// Timeval is struct timeval.
type Timeval struct{ Sec, Usec int64 }

// PktInfo is IP_PKTINFO.
type PktInfo struct {
	Ifindex int32
	SpecDst netip.Addr
	Addr    netip.Addr
}

// PktInfo6 is IPV6_PKTINFO.
type PktInfo6 struct {
	Addr    netip.Addr
	Ifindex uint32
}

// ExtendedErr is struct sock_extended_err (IP_RECVERR / IPV6_RECVERR).
type ExtendedErr struct {
	Errno    int32
	Origin   uint8
	Type     uint8
	Code     uint8
	Info     uint32
	Data     uint32
	Offender *SockAddr
}

// Counters are the per-socket counters of reference §4.1.
type Counters struct {
	ReadByte, ReadFails, ReadPkg, ReadPkgMax, ReadTries, ReadWaits       uint64
	WriteByte, WriteFails, WritePkg, WritePkgMax, WriteTries, WriteWaits uint64
	AccSuccess, AccFails, AccTries, AccWaits                             uint64
}

// Info is socket:info/1.
type Info struct {
	ID                                   string
	Domain, Type, Protocol               int
	Owner                                string // owner's CallerID, "" after owner death
	RStates, WStates                     []string
	Counters                             Counters
	NumReaders, NumWriters, NumAcceptors int
	UseRegistry                          bool
	Fd                                   int    // -1 once closed
	RelayByte                            uint64 // bytes Relay moved out of the socket, to its other side
	RelayDroppedByte                     uint64 // bytes Relay read from the socket and could not write
}

// A Limiter is a Caller whose sockets are bounded besides the engine's
// MaxSockets. Open and Accept take a place from it before they make a
// socket it will own, and give the place back once that socket exists (the
// Observer has seen it) or none came of the call. A Limiter that counts
// its sockets through the Observer therefore never sees sockets being made
// pass its limit together, whatever the mode of the accept that makes them.
type Limiter interface {
	// ReserveSocket takes a place, or answers the error the call returns
	// (a *QuotaError).
	ReserveSocket() error
	// ReleaseSocket gives back a place ReserveSocket took.
	ReleaseSocket()
}

// A RequestLimiter is a Caller whose requests that wait are bounded across
// sockets: a call that may wait (a timeout other than nowait or 0) holds a
// place from ReserveRequest while it runs, and so does each request a
// nowait call leaves in a lane (answered select or completion) until it
// retires, however it ends (retried, completed, aborted, cancelled,
// dropped, replaced). The place is taken before the call's first attempt,
// so a refused call changes nothing; a call that replaces the caller's own
// request in that lane (rule 2) takes over the request's place instead and
// is never refused. Both methods may be called with socket locks held: they
// must not call into the engine or block.
type RequestLimiter interface {
	Caller
	// ReserveRequest takes a place, or answers the error the call returns
	// (a *QuotaError); counted false means there was nothing to take (no
	// bound applies) and ReleaseRequest is not called for it.
	ReserveRequest() (counted bool, err error)
	// ReleaseRequest gives back a place ReserveRequest counted.
	ReleaseRequest()
}

// Creds are a local user's uid and (primary) gid.
type Creds struct{ UID, GID uint32 }
