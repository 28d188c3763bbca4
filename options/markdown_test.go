package options

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/options.md from the table")

const docsPath = "../docs/options.md"

// TestDocsUpToDate fails when docs/options.md differs from the table;
// `go generate ./options` (go test -update) rewrites it.
func TestDocsUpToDate(t *testing.T) {
	want := Markdown()
	if *update {
		if err := os.WriteFile(docsPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is stale: run go generate ./options", docsPath)
	}
}
