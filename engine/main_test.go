package engine

import (
	"testing"

	"github.com/sockd/sockd/internal/leakcheck"
)

// TestMain fails the run if goroutines or fds leak: every engine the tests
// start is closed, and so must be every fd they open.
func TestMain(m *testing.M) { leakcheck.Main(m) }
