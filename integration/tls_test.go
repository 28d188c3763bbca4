package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/sockd/sockd/client"
	sockdv1 "github.com/sockd/sockd/proto/sockd/v1"
)

// TestTLSListener: a tls:// listener admits clients whose certificate
// chains to --tls-client-ca, each the principal its certificate names:
// alice (over client) and bob (through sockctl) see and touch only their own
// sockets. A client with no certificate, or one from another CA, is refused.
func TestTLSListener(t *testing.T) {
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	addr := freeLoopbackPort(t)
	dedicatedDaemon(t, filepath.Join(dir, "run"), "--listen", "tls://"+addr,
		"--tls-cert", pki.file("server.crt"), "--tls-key", pki.file("server.key"), "--tls-client-ca", pki.file("ca.crt"))
	// StartDaemon waits for the unix listener only; the TLS one opens next.
	waitListening(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()

	creds, err := client.TLSCredentials(pki.file("alice.crt"), pki.file("alice.key"), pki.file("ca.crt"), "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, "tls://"+addr, creds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	alice, err := c.CreateSession(ctx, "alice-session", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	l, err := alice.ListenTCP(ctx, "tcp4", "127.0.0.1:0", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	bob := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(sockctlBin, append([]string{"--addr", "tls://" + addr, "--session", "bob",
			"--tls-cert", pki.file("bob.crt"), "--tls-key", pki.file("bob.key"), "--tls-ca", pki.file("ca.crt")}, args...)...)
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
		out, errOut, code := runCommand(t, cmd)
		return strings.TrimSpace(out), errOut, code
	}
	own, errOut, code := bob("open", "inet", "dgram")
	if code != 0 {
		t.Fatalf("open as bob: exit %d: %s", code, errOut)
	}
	if _, errOut, code := bob("info", l.SocketID()); code != 1 || !strings.Contains(errOut, "not_found") {
		t.Errorf("bob's info of alice's socket: exit %d, %q; want 1 and not_found", code, errOut)
	}
	if listed, _, code := bob("ls"); code != 0 || strings.Contains(listed, l.SocketID()) || !strings.Contains(listed, own) {
		t.Errorf("ls as bob (exit %d) = %q: want its own %s and not alice's %s", code, listed, own, l.SocketID())
	}
	if _, err := c.Raw().Info(alice.OutgoingContext(ctx), &sockdv1.InfoRequest{SocketId: own}); err == nil {
		t.Error("alice can see bob's socket")
	}
	if _, errOut, code := bob("--tls-cert", "", "--tls-key", "", "--tls-ca", "", "ls"); code != 2 || !strings.Contains(errOut, "TLS") {
		t.Errorf("sockctl without TLS flags on a tls:// address: exit %d, %q; want 2 and a word on TLS", code, errOut)
	}

	// A daemon certificate this client cannot verify is said to be that, not
	// only that the daemon cannot be reached.
	wrongName, err := client.TLSCredentials(pki.file("alice.crt"), pki.file("alice.key"), pki.file("ca.crt"), "wrong.example")
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, err = client.Dial(dctx, "tls://"+addr, wrongName)
	dcancel()
	var dialErr *client.DialError
	if !errors.As(err, &dialErr) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("dial checking the daemon's certificate for another name: %v, want a DialError that names the certificate", err)
	}

	// Refused: no client certificate; a certificate from another CA.
	for name, cfg := range map[string]*tls.Config{
		"no certificate": {RootCAs: pki.roots},
		"foreign CA":     {RootCAs: pki.roots, Certificates: []tls.Certificate{pki.foreign}},
	} {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := client.Dial(dctx, "tls://"+addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err == nil {
			_, err = c.CreateSession(dctx, "", time.Minute)
			c.Close()
		}
		dcancel()
		if err == nil {
			t.Errorf("%s: admitted", name)
		} else if !strings.Contains(err.Error(), "certificate") {
			// Whether the handshake or the first write finds the refusal,
			// the error names the certificate.
			t.Errorf("%s: %v, want an error that names the certificate", name, err)
		} else if errors.As(err, &dialErr) && !strings.Contains(err.Error(), "--tls-client-ca") {
			t.Errorf("%s: %v, want the dial's error to say which certificates the daemon takes", name, err)
		}
	}
}

// testPKI is a CA with a server certificate for 127.0.0.1 and client
// certificates for alice and bob, written as PEM files, and a client
// certificate from a CA the daemon does not trust.
type testPKI struct {
	dir     string
	roots   *x509.CertPool
	foreign tls.Certificate
}

func (p *testPKI) file(name string) string { return filepath.Join(p.dir, name) }

func newTestPKI(t *testing.T, dir string) *testPKI {
	t.Helper()
	p := &testPKI{dir: dir, roots: x509.NewCertPool()}
	caKey, caCert := newCA(t, "sockd test CA")
	p.roots.AddCert(caCert)
	p.write(t, "ca.crt", "CERTIFICATE", caCert.Raw)
	leaf := func(name string, server bool) {
		key, der := newLeaf(t, name, server, caKey, caCert)
		p.write(t, name+".crt", "CERTIFICATE", der)
		p.write(t, name+".key", "PRIVATE KEY", key)
	}
	leaf("server", true)
	leaf("alice", false)
	leaf("bob", false)
	otherKey, otherCA := newCA(t, "another CA")
	key, der := newLeaf(t, "mallory", false, otherKey, otherCA)
	cert, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}))
	if err != nil {
		t.Fatal(err)
	}
	p.foreign = cert
	return p
}

func (p *testPKI) write(t *testing.T, name, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(p.file(name), pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

var serial int64

func template(name string) *x509.Certificate {
	serial++
	return &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
}

func newCA(t *testing.T, name string) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template(name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func newLeaf(t *testing.T, name string, server bool, caKey *ecdsa.PrivateKey, ca *x509.Certificate) (keyDER, certDER []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template(name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	certDER, err = x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err = x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return keyDER, certDER
}
