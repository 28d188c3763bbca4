package server

import (
	"testing"

	"github.com/sockd/sockd/internal/leakcheck"
)

// TestMain fails the run if goroutines or fds leak: every session, Pipe,
// Relay and engine a test starts must be gone when it ends.
func TestMain(m *testing.M) { leakcheck.Main(m) }
