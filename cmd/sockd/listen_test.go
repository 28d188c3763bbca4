package main

import "testing"

func TestParseListenAddress(t *testing.T) {
	good := []struct{ in, network, address string }{
		{"unix:///run/sockd.sock", "unix", "/run/sockd.sock"},
		{"unix:/run/sockd.sock", "unix", "/run/sockd.sock"},
		{"/run/sockd.sock", "unix", "/run/sockd.sock"},
		{"tcp://127.0.0.1:7000", "tcp", "127.0.0.1:7000"},
		{"tcp://[::1]:7000", "tcp", "[::1]:7000"},
		// TLS on any address.
		{"tls://0.0.0.0:7443", "tls", "0.0.0.0:7443"},
		{"tls://sockd.example:7443", "tls", "sockd.example:7443"},
	}
	for _, tt := range good {
		network, address, err := parseListenAddress(tt.in)
		if err != nil || network != tt.network || address != tt.address {
			t.Errorf("parseListenAddress(%q) = %q, %q, %v; want %q, %q", tt.in, network, address, err, tt.network, tt.address)
		}
	}
	// Plain TCP only on a loopback IP literal; malformed addresses are refused.
	for _, in := range []string{"tcp://0.0.0.0:7000", "tcp://10.0.0.1:7000", "tcp://localhost:7000", "unix:relative", "", "http://x"} {
		if _, _, err := parseListenAddress(in); err == nil {
			t.Errorf("parseListenAddress(%q) accepted", in)
		}
	}
}
