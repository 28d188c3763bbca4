// Package engine is sockd's nonblocking socket core: it owns the file
// descriptors and implements the semantics of Erlang/OTP's socket module
// (lanes of requestors, select/abort events, nowait and timeouts) in plain Go
// types. It knows nothing of gRPC or protobuf; the server package translates.
//
// # The model
//
// A Caller is an Erlang process (a sockd session). Every socket has four
// lanes: acceptors and readers share the read side, writers and the single
// connect slot share the write side. A lane has one current requestor and a
// bounded FIFO queue. The first caller tries the syscall; if it would block,
// the caller becomes current and waits for readiness. A caller that arrives
// while another is current is queued without a syscall and, in nowait mode,
// answered select at once; only the current requestor is ever told to retry.
// The rules are those of the reference (§2.2) and are implemented once, for
// all operations, in lanes.go (requestors in waiter.go, event delivery in
// outbox.go); each operation (accept.go, connect.go, recv.go, send.go)
// supplies only the syscalls of one attempt.
//
// Besides select mode (Erlang's Unix semantics), a nowait call may ask for
// completion mode (Timeout.Completion): the engine then finishes the
// operation itself, from the loop that sees the socket ready, and delivers
// the result in an EventCompletion.
//
// # Readiness: edge-triggered epoll with cached readiness
//
// Each socket is registered once with EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET
// on one of Config.Loops epoll loops (one per core by default; an eventfd
// wakes a loop to stop it), and only when a requestor first has to wait for
// an edge: a socket whose operations all complete at once costs epoll
// nothing and never wakes a loop (see watch in loop.go). Each side of a
// socket (read, write) keeps a cached "ready" flag meaning "not known to be
// empty". It starts true, is set true by an edge, and is set false only
// when a syscall on that side returns EAGAIN (or a connect is found still in
// progress, or a stream peek finds fewer bytes than it asks for). Syscalls and both transitions happen under the side's mutex, so
// an edge that arrives while a syscall is in flight is processed after the
// flag was cleared and the requestor armed: no wakeup is lost, and at worst
// a wakeup is spurious (a retry that answers select again, which Erlang
// allows).
//
// Spurious wakeups are kept rare by stamping edges: a loop counts its
// epoll_wait calls that return events, a syscall reads that count before it
// runs, and an EAGAIN records it. An edge from a harvest no later than the
// recorded one was harvested before the syscall and is dropped; anything
// newer is acted on. This removes, in particular, the edge every fresh socket reports when
// it is registered, which would otherwise often reach its first waiter.
//
// A loop is a goroutine, not a thread of its own: its epoll set is itself
// registered with the Go runtime's poller, and the loop drains the set with
// epoll_wait(0) and, once it is empty, parks there as a net.Conn read does.
// An edge wakes it on whichever thread runs the scheduler, and the
// requestor it readies usually runs next on that same thread. A loop that
// blocked in epoll_wait on a thread of its own paid a cross-thread wakeup
// for every requestor it readied: a ping-pong through the engine
// (BenchmarkPingPongEngine) took 66-72 µs per round trip that way, and
// 13-15 µs now, against 8 µs for the same exchange through package net.
// The price is paid at registration: an epoll set that is itself watched
// makes each EPOLL_CTL_ADD take the kernel's global epnested_mutex, once
// per socket (watch); an open, register and close measured the same either
// way (14-15 µs against 15-18 µs before, uncontended).
//
// Edge-triggered registration was chosen over EPOLLONESHOT re-arming because
// it costs no epoll_ctl per wait: arming a requestor is a field write under a
// lock the syscall already holds. The price is the cached flag, which also
// lets a freshly activated queued requestor be signalled immediately when
// the side is not known to be empty (rule 5 of §2.2).
//
// Nothing parks a goroutine per waiting nowait operation: a pending nowait
// recv is a lane entry of a few words, and the loop that sees the edge
// delivers its select event. Only blocking calls (infinity or a timeout)
// park their own goroutine, on a private channel.
//
// # Events and their guarantees
//
// Events are delivered through Caller.Deliver with no socket lock held. Each
// nowait requestor has a delivery gate: an event is either delivered before
// Cancel (or DropCaller) returns, or never. Close aborts every requestor:
// nowait ones receive EventAbort with ErrClosed, blocking ones return
// ErrClosed together with any partial data.
//
// Nothing a completion-mode requestor did is lost with it: an abort carries
// its partial work (Event.Completion: a stream recv's gathered bytes, a
// stream send's count), Cancel answers it, and a Cancel that finds the
// final event still on its way takes its result (an accepted socket too)
// instead of letting it go. A Mortal caller (a session) takes its blocking
// calls with it when it ends, as DropCaller takes its nowait ones.
//
// otp select_read (OTP 28) leaves a nowait reader that read data a new
// select, armed; a zero-timeout poll, which consumes nothing, decides
// whether it fires at once.
//
// # File descriptors
//
// Lane syscalls run under their side's mutex; other users of the fd (Bind,
// Listen, Control, ...) hold a read lock. Close takes that lock exclusively
// and both side mutexes, marks the socket closed, removes the fd from epoll,
// and only then, with no lock held, releases the fd: a TCP socket's
// SO_LINGER is waited out by watching its send queue drain, then close(2)
// with linger off (SCTP and MPTCP, whose drain cannot be watched, block in
// close(2) in turn: Config.MaxLingeringCloses). Epoll events carry a token
// (slot index and generation), never the fd, so an event for a reused fd
// number cannot reach a stale socket.
//
// # Acting for a user
//
// A root daemon opens a socket for a local user (OpenOptions.Creds) so that
// the kernel sees the user, not root, wherever it looks (thread.go): the
// socket is created, and its connections accepted, with the user's
// filesystem uid (the kernel's owner, which iptables --uid-owner matches);
// binds, connects and sends to paths, and a local socket's connect and
// listen, run on a locked thread switched to the user's effective uid and
// gid with no groups and no capabilities (path permissions, and what a
// local peer reads with SO_PEERCRED); a local socket's sends carry the
// user's SCM_CREDENTIALS. A thread that cannot be switched back is
// discarded, never reused.
//
// The engine is Linux-only (epoll, eventfd, setns, 64-bit cmsg layout).
package engine
