package daemonaddr

import "testing"

func TestParseDaemonAddress(t *testing.T) {
	tests := []struct {
		in   string
		want Target
	}{
		{"unix:///run/sockd.sock", Target{"unix", "/run/sockd.sock", "unix:///run/sockd.sock", true, false}},
		{"unix:/run/sockd.sock", Target{"unix", "/run/sockd.sock", "unix:///run/sockd.sock", true, false}},
		{"/run/sockd.sock", Target{"unix", "/run/sockd.sock", "unix:///run/sockd.sock", true, false}},
		{"tcp://127.0.0.1:7000", Target{"tcp", "127.0.0.1:7000", "passthrough:///127.0.0.1:7000", true, false}},
		{"tcp://[::1]:7000", Target{"tcp", "[::1]:7000", "passthrough:///[::1]:7000", true, false}},
		{"tcp://localhost:7000", Target{"tcp", "localhost:7000", "passthrough:///localhost:7000", true, false}},
		{"tcp://10.1.2.3:7000", Target{"tcp", "10.1.2.3:7000", "passthrough:///10.1.2.3:7000", false, false}},
		{"tls://127.0.0.1:7443", Target{"tcp", "127.0.0.1:7443", "passthrough:///127.0.0.1:7443", false, true}},
		{"tls://sockd.example:7443", Target{"tcp", "sockd.example:7443", "passthrough:///sockd.example:7443", false, true}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "unix://relative.sock", "unix:relative", "relative.sock", "tcp://127.0.0.1", "tcp://:7000x", "http://127.0.0.1:80", "tcp://127.0.0.1:80/path", "tls://127.0.0.1", "tls://:443/x"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, got)
		}
	}
}

// FuzzParse: the daemon address parser (flags, SOCKD_ADDR)
// never panics, and what it accepts names a network and an address.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"unix:///run/sockd.sock", "/x", "tcp://127.0.0.1:7000", "tls://[::1]:1", "tls://%", "tcp://", "unix:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			return
		}
		if got.Address == "" || (got.Network != "unix" && got.Network != "tcp") || (got.TLS && got.PlaintextOK) {
			t.Fatalf("Parse(%q) = %+v", s, got)
		}
	})
}
