// Package client is the Go library for sockd, the daemon that owns OS sockets
// and exposes Erlang/OTP socket semantics over gRPC.
//
// A Client is a connection to the daemon. Socket calls go through a Session,
// the daemon's counterpart of an Erlang process: it owns the sockets it opens
// and receives the events (select, completion, abort, down, counter_wrap) of
// the operations it starts. A named session outlives the client for its grace
// period, so a restarted program can pick up its sockets and undelivered
// events by creating the session of the same name again.
//
//	ctx := context.Background()
//	c, err := client.Dial(ctx, client.DefaultAddress())
//	if err != nil {
//		return err // a *client.DialError if nothing answers there
//	}
//	defer c.Close()
//
//	s, err := c.CreateSession(ctx, "example", time.Minute)
//	if err != nil {
//		return err
//	}
//	defer s.Close(ctx)
//
//	open, err := s.Open(ctx, client.Inet, client.Stream, client.TCP, client.OpenOpts{})
//	if err != nil {
//		return err
//	}
//	sock := open.GetSocketId()
//	addr, _ := client.ParseAddr("127.0.0.1:8080")
//	if _, err := s.Connect(ctx, sock, addr, client.Millis(2000)); err != nil {
//		return err // e.g. econnrefused: errors.Is(err, syscall.ECONNREFUSED)
//	}
//
//	// Ask for data without waiting; a select event says when to retry.
//	events := s.Events(ctx, s.LastSequence())
//	defer events.Close()
//	recv, err := s.Recv(ctx, sock, 0, client.Nowait(0))
//	for err == nil && recv.GetAsync() != nil {
//		if err := awaitSelect(events, recv.GetAsync().GetHandle()); err != nil {
//			return err
//		}
//		recv, err = s.Recv(ctx, sock, 0, client.Nowait(0))
//	}
//	if err != nil {
//		return err
//	}
//	fmt.Printf("%s\n", recv.GetData())
//
// where awaitSelect reads the stream until the select event for the handle:
//
//	func awaitSelect(events *client.EventStream, handle uint64) error {
//		for ev := range events.C() {
//			if ev.GetSelect().GetHandle() == handle {
//				return nil
//			}
//		}
//		return events.Err()
//	}
//
// The same example, compiled, is this package's Example.
//
// # Errors
//
// Every socket call returns the daemon's response and an error, which is one
// of:
//
//   - nil: the call succeeded, or it was a nowait call that must wait; then the
//     response's Async info is set and an event will follow.
//   - a *SocketError: the daemon answered with Erlang's {error, Reason}. The
//     response is returned too, because it may carry partial progress (the
//     bytes a recv read before its timeout, the bytes a send got out before it
//     failed). errors.Is matches ErrClosed, ErrTimeout, ErrAlready,
//     ErrCancelled, ErrInvalid, and syscall.Errno values.
//   - a gRPC status error: the call itself failed (unknown socket or session,
//     malformed request, policy, quota, daemon unavailable). The response is
//     nil, except from a Send made of several calls, which returns what the
//     calls before the failure sent. ErrorReason returns the daemon's
//     google.rpc.ErrorInfo reason.
//   - a *DataTooLargeError: a send that is one call was given more than
//     MaxCallData bytes; nothing was sent, and no call was made.
//
// A call whose ctx is cancelled returns gRPC's status error with code
// Canceled (status.Code(err) == codes.Canceled; errors.Is(err,
// context.Canceled) does not hold, as for any gRPC call). A blocking call
// whose ctx has a deadline tells the daemon, which answers just before it,
// in-band: a *SocketError timeout, with what the call had done. The net
// adapters answer as package net does.
//
// The errors inside events (a completion's status, an abort's reason) are
// the daemon's *sockdv1.SocketError values; SocketErrorOf makes one an
// error that matches as the calls' do.
//
// # Events
//
// Events streams the session's events and survives broken connections: it
// reconnects and resumes after the last event it delivered. HeldEvents
// returns what the daemon holds without waiting for more. The daemon delivers
// a session's events to one stream at a time, the latest attached.
//
// # Broken connections
//
// The session, its sockets and its events stay in the daemon for the
// session's grace when the connection to it breaks. What crosses the break
// whole: events (an EventStream resumes), a Listener's accepts (it waits
// the break out, makes its accept again with the same request id, so that
// the daemon answers the connection it took rather than another, and binds
// the connection's pipe again if the socket has read nothing), and the
// calls a caller makes again itself with a request id (OpenOpts.RequestID,
// AcceptOnce). A call in flight otherwise fails UNAVAILABLE, what it did
// unknown; a Conn's pipe breaks with the connection (its Read and Write
// fail), and the bytes it carried then are lost with it.
//
// # Text forms
//
// ParseAddr and FormatAddr convert socket addresses to and from text
// (127.0.0.1:80, [::1]:80, local:/path, local:@abstract, any); ParseDomain,
// ParseType, ParseProtocol, ParseHow and ParseTimeout read the other argument
// kinds as sockctl takes them on its command line.
package client
