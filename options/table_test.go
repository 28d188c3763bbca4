package options

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// seedDeviations are the rows where sockd deliberately departs from the
// seed's value type or Set/Get columns, each for a reason given.
var seedDeviations = map[string]string{
	"otp.use_registry": "set: the reference (§6.4) takes setopt use_registry true",
	"ipv6.mtu": "type: integer(); the seed's boolean() (copied from Erlang's docs) is a slip: " +
		"the kernel takes and answers the path MTU, at least 1280, so a boolean could never be set or read",
	"ipv6.v6only": "get: Erlang's NIF answers getopt v6only (esock_getopt_bool_opt) though its docs' table says no, " +
		"and a dual-stack listener needs to read it",
}

// TestTableMatchesSeed reads the fact table written from the seed and fails
// when options.Table differs: a missing or extra seed row, another value
// type, or other Set/Get columns.
func TestTableMatchesSeed(t *testing.T) {
	f, err := os.Open("testdata/seed-options.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[*Option]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 5 {
			t.Fatalf("malformed fact line %q", line)
		}
		level, err := ParseLevel(cols[0])
		if err != nil {
			t.Fatal(err)
		}
		names := strings.Split(cols[1], "|")
		o, ok := Lookup(Key{level, names[0]})
		if !ok {
			t.Errorf("seed row %s.%s is missing from the table", cols[0], cols[1])
			continue
		}
		for _, alias := range names[1:] {
			if other, ok := Lookup(Key{level, alias}); !ok || other != o {
				t.Errorf("%s: %s should name the same row", o.Key, alias)
			}
		}
		seen[o] = true
		if got := o.Type.String(); got != cols[2] && seedDeviations[o.Key.String()] == "" {
			t.Errorf("%s: value type %q, seed says %q", o.Key, got, cols[2])
		}
		set, get := cols[3] == "yes", cols[4] == "yes"
		if (o.Set != set || o.Get != get) && seedDeviations[o.Key.String()] == "" {
			t.Errorf("%s: set=%v get=%v, seed says set=%v get=%v", o.Key, o.Set, o.Get, set, get)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for i := range Table {
		o := &Table[i]
		if !seen[o] && !o.FromReference {
			t.Errorf("%s is in the table but not in the seed, and not marked FromReference", o.Key)
		}
		if seen[o] && o.FromReference {
			t.Errorf("%s is a seed row but marked FromReference", o.Key)
		}
	}
}

// TestTableRowsAreConsistent: every row that reaches the kernel has a codec,
// every name is unique within its level, and the rest is well-formed.
func TestTableRowsAreConsistent(t *testing.T) {
	names := map[Key]bool{}
	for i := range Table {
		o := &Table[i]
		for _, n := range append([]string{o.Name}, o.Aliases...) {
			k := Key{o.Level, n}
			if names[k] {
				t.Errorf("%s: duplicate name", k)
			}
			names[k] = true
		}
		if !o.Set && !o.Get {
			t.Errorf("%s: neither set nor get", o.Key)
		}
		if o.Level != LevelOTP && o.Native() && o.Unavailable == "" {
			if _, ok := codecs[o.Type]; !ok {
				t.Errorf("%s: type %s has no codec", o.Key, o.Type)
			}
		}
		if o.Level != LevelOTP && !o.Native() && o.Unavailable == "" {
			t.Errorf("%s: no Linux name and not marked unavailable", o.Key)
		}
		if o.Notes == "" {
			t.Errorf("%s: no notes", o.Key)
		}
	}
}
