package main

import (
	"testing"

	"github.com/sockd/sockd/internal/leakcheck"
)

// TestMain fails the run if goroutines or fds leak.
func TestMain(m *testing.M) { leakcheck.Main(m) }
