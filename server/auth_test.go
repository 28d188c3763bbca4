package server

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"testing"
)

// A TLS client is the principal its certificate names: the subject's common
// name, else its first URI, else its first DNS name; a certificate that
// names none is refused (empty name).
func TestCertificateName(t *testing.T) {
	spiffe, _ := url.Parse("spiffe://example.org/app")
	cases := []struct {
		cert *x509.Certificate
		want string
	}{
		{&x509.Certificate{Subject: pkix.Name{CommonName: "alice"}, URIs: []*url.URL{spiffe}, DNSNames: []string{"a.example"}}, "alice"},
		{&x509.Certificate{URIs: []*url.URL{spiffe}, DNSNames: []string{"a.example"}}, "spiffe://example.org/app"},
		{&x509.Certificate{DNSNames: []string{"a.example"}}, "a.example"},
		{&x509.Certificate{}, ""},
	}
	for _, c := range cases {
		if got := certificateName(c.cert); got != c.want {
			t.Errorf("certificateName(%v) = %q, want %q", c.cert.Subject, got, c.want)
		}
	}
	if p := (Principal{Kind: "x509", Name: "alice"}); p.String() != "x509:alice" || p.Admin() {
		t.Errorf("%v: admin %v", p, p.Admin())
	}
}
