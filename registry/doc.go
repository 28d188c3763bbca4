// Package registry is sockd's socket registry: the Erlang socket_registry
// on top of the engine's id table. It is the set of sockets that NumberOf,
// WhichSockets and `sockctl i` see, the global use_registry default for new
// sockets, and the socket monitors that deliver DOWN.
//
// The engine's table finds any socket by id for every call; the registry
// only holds the sockets whose use_registry is on, and knows nothing of
// gRPC. Like the engine, it speaks Go types: *engine.Socket, and a Watcher
// (a sockd session) that receives Down notices.
//
// # How sockets get in and out
//
// A Registry is the engine's Observer (engine.Config.Observer): the engine
// calls SocketOpened for every socket it creates, opened or accepted, and
// SocketClosed once for every socket it closes, whatever the path: a Close
// call, an owner session dying (Socket.Abandon), the daemon shutting down
// (Engine.Close), a completion-mode accept delivered as an event. Hooking
// the engine rather than the server's Open and Accept handlers means no path
// can forget to register or unregister; the server only decides, at each
// Open, which default applies (UseRegistry, the runtime default) and passes
// it to the engine explicitly. An accepted socket inherits its listener's
// use_registry in the engine, before SocketOpened.
//
// # Four levels of use_registry
//
// Lowest to highest (reference §3.3): the daemon's built-in default (on;
// `sockd --socket-registry=false`), the environment variable
// ESOCK_USE_SOCKET_REGISTRY read at start (StartDefault), SetUseRegistry at
// run time (the default for sockets opened from then on), and the
// use_registry option of Open. Monitor, and setopt otp use_registry true (through
// the engine's UseRegistryOn), turn it on for one socket.
//
// # Not a bottleneck
//
// Erlang's registry is one process every open and close sends a message to;
// the seed warns it can become a bottleneck. Here registering is a map insert
// under one of 64 shard locks chosen by hashing the socket pointer, so
// concurrent opens and closes rarely meet, and a socket that is not
// registered costs one atomic load. Monitors live in a table of their own
// that the close path only touches when the socket has monitors. Queries
// (WhichSockets) walk the shards under read locks and filter on the
// socket's immutable domain, type and protocol without a syscall.
// BENCHMARKS.md has the measurements.
//
// # Ordering
//
// A socket is marked closed before SocketClosed is called, and every
// insertion (SocketOpened, UseRegistryOn, Monitor) checks the mark under the
// shard's lock: either it sees the socket closed and adds nothing (Monitor
// answers closed at once), or it added before the mark and SocketClosed, which takes
// the same lock, removes the entry and fires its monitors. So no closed
// socket stays registered and no monitor of a closed socket is lost, in
// whatever order the engine's goroutines run. A monitor fires or is
// cancelled exactly once: both take it out of the monitor table under its
// lock, and only the one that found it there acts.
package registry
