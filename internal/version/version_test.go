package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestStringNamesTheGoVersion(t *testing.T) {
	if got := String(); !strings.HasSuffix(got, " "+runtime.Version()) {
		t.Fatalf("String() = %q, want it to end with the Go version %s", got, runtime.Version())
	}
}
