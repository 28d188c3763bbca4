package client

import (
	"context"
	"sync"

	"google.golang.org/grpc"

	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// Relay joins two connected stream sockets inside the daemon: bytes move
// between them with splice(2), never through this client, until both
// directions reach end of data, a socket fails or is closed, or ctx ends.
// The response counts the bytes moved each way; a relay that ctx ended
// answers only its status (CANCELLED, DEADLINE_EXCEEDED), and each socket's
// Info counts what it moved (relay_byte).
func (s *Session) Relay(ctx context.Context, a, b string) (*sockdv1.RelayResponse, error) {
	return result(s.api().Relay(s.OutgoingContext(ctx), &sockdv1.RelayRequest{SocketA: a, SocketB: b}))
}

// relayRunningKey is the header the daemon sends once it admitted a relay.
const relayRunningKey = "sockd-relay"

// RunningRelay is a relay the daemon has admitted (StartRelay).
type RunningRelay struct {
	stream grpc.ClientStream // the call, until Wait has its answer
	once   sync.Once
	ended  *sockdv1.RelayResponse // the answer, once it came
	err    error                  // the call's failure, once it came
}

// StartRelay is Relay returning as soon as the daemon has admitted the
// relay (its pipes have their places among the principal's sockets, and
// bytes move), or with the refusal Relay would answer (RESOURCE_EXHAUSTED
// at a quota, FAILED_PRECONDITION, ...): a caller that must not take more
// places before this relay has its own waits for it. Wait gives the relay's
// end, as Relay does. The relay runs until ctx ends: a caller that does not
// wait must end ctx.
func (s *Session) StartRelay(ctx context.Context, a, b string) (*RunningRelay, error) {
	desc := &grpc.StreamDesc{StreamName: "Relay"} // unary, called as a stream to see its headers
	stream, err := s.client.cc.NewStream(s.OutgoingContext(ctx), desc, sockdv1.SocketService_Relay_FullMethodName)
	if err != nil {
		return nil, err
	}
	r := &RunningRelay{stream: stream}
	if stream.SendMsg(&sockdv1.RelayRequest{SocketA: a, SocketB: b}) == nil && stream.CloseSend() == nil {
		if header, err := stream.Header(); err == nil && len(header.Get(relayRunningKey)) > 0 {
			return r, nil
		}
	}
	// Refused (no headers; a failed send or header read is said by the
	// status too), or ended before this client saw it run (a daemon of an
	// earlier release sends its headers with the answer).
	if resp, err := r.Wait(); resp == nil {
		return nil, err
	}
	return r, nil
}

// Wait waits for the relay's end and answers as Relay does; every call
// answers alike.
func (r *RunningRelay) Wait() (*sockdv1.RelayResponse, error) {
	r.once.Do(func() {
		resp := new(sockdv1.RelayResponse)
		if r.err = r.stream.RecvMsg(resp); r.err == nil {
			r.ended = resp
		}
	})
	if r.err != nil {
		return nil, r.err
	}
	return result(r.ended, nil)
}
