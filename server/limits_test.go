package server

import (
	"testing"

	"github.com/sockd/sockd/engine"
	"github.com/sockd/sockd/options"
)

// The options package bounds otp rcvbuf by the size the engine reads with
// by default; the two packages do not import each other, so they are
// checked to agree here, where both are known.
func TestEngineAndOptionsAgree(t *testing.T) {
	if engine.DefaultRcvBufSize != options.DefaultRcvBufSize {
		t.Fatalf("engine reads %d bytes by default, options bounds rcvbuf by %d", engine.DefaultRcvBufSize, options.DefaultRcvBufSize)
	}
	if l := (Limits{}).withDefaults(); l.MaxRecvBuffer != options.MaxRcvBufBytes {
		t.Fatalf("Recv's length bound %d, rcvbuf's %d", l.MaxRecvBuffer, options.MaxRcvBufBytes)
	}
}
