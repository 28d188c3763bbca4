package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// defaultGCPercent is sockd's GOGC. The daemon allocates per call (requests,
// responses, read buffers) but keeps a small live heap (about 1 MB, mostly
// protobuf descriptors, plus a few hundred bytes per socket and session), so
// at Go's default of 100 it collects dozens of times a second under load:
// about 2 µs of every Recv call at 32 callers in recvbench's profiles, a
// tenth of the daemon's CPU per call. At 400 the heap may grow to five times
// the live data before a collection; for 100,000 sockets that is still tens
// of MB. GOGC or --gc-percent override it; GOMEMLIMIT caps the total.
const defaultGCPercent = 400

// setGCPercent applies --gc-percent unless the operator set GOGC.
func setGCPercent(percent int, logger *slog.Logger) {
	if v, ok := os.LookupEnv("GOGC"); ok {
		logger.Debug("GOGC from the environment", "GOGC", v)
		return
	}
	debug.SetGCPercent(percent)
}
