package client

import (
	"context"
	"errors"
	"testing"
)

// A send that is one call refuses more than MaxCallData bytes before the
// call: a typed error, not gRPC's message about message sizes.
func TestOneCallSendsRefuseTooMuchData(t *testing.T) {
	if err := fitsOneCall(MaxCallData); err != nil {
		t.Errorf("MaxCallData bytes: %v", err)
	}
	s := &Session{} // refused before any call is made
	big := make([]byte, MaxCallData+1)
	ctx := context.Background()
	var tooLarge *DataTooLargeError
	if _, err := s.SendTo(ctx, "id", big, nil, Infinity); !errors.As(err, &tooLarge) || tooLarge.Len != len(big) {
		t.Errorf("SendTo: %v", err)
	}
	if _, err := s.SendMsg(ctx, "id", Msg{IOV: [][]byte{big[:MaxCallData], big[:1]}}, Infinity); !errors.As(err, &tooLarge) {
		t.Errorf("SendMsg: %v", err)
	}
	if _, err := s.Send(ctx, "id", big, Nowait(0)); !errors.As(err, &tooLarge) {
		t.Errorf("nowait Send: %v", err)
	}
}
