// Package server is the gRPC face of sockd: thin adapters that translate the
// sockd.v1 API into calls on the engine, plus the things that exist only
// because the caller is remote: sessions (the Erlang processes of the model),
// their event streams with sequence numbers and replay, peer credentials, the
// policy that says what each principal may do with the daemon's privileges
// (policy*.go, quota.go), and the mapping of outcomes to in-band SocketError
// values or gRPC statuses.
//
// The package owns no socket state. Every socket fact lives in the engine;
// a Session only remembers which sockets it owns and which it waits on, so
// that its death can close the former and withdraw from the latter.
package server
