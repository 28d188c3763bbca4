// Package version says which build of sockd a binary is, from what the Go
// toolchain records in it: the module version and the VCS revision.
package version

import (
	"runtime/debug"
	"strings"
)

// String is the build's module version ("(devel)" for a plain build of a
// checkout), its revision (with "+dirty" for uncommitted changes) and the
// Go version: "v1.2.0 1a2b3c4d5e6f go1.26.8".
func String() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	parts := []string{bi.Main.Version}
	var revision, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			revision = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	if revision != "" {
		parts = append(parts, revision+dirty)
	}
	return strings.Join(append(parts, bi.GoVersion), " ")
}
