package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// TLSCredentials is the dial option for a daemon's TLS listener
// (tls://host:port): the client certificate and key that identify the
// caller (the daemon's principal is the certificate's subject), and the CA
// certificates that the daemon's certificate must chain to (PEM files).
// serverName overrides the name checked in the daemon's certificate; empty
// checks the host of the address.
func TLSCredentials(certFile, keyFile, caFile, serverName string) (grpc.DialOption, error) {
	if certFile == "" || keyFile == "" || caFile == "" {
		return nil, errors.New("TLS needs a client certificate, its key and the daemon's CA")
	}
	cert, roots, err := LoadTLSFiles(certFile, keyFile, caFile)
	if err != nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      roots,
		ServerName:   serverName,
		MinVersion:   tls.VersionTLS12,
	})), nil
}

// LoadTLSFiles reads a certificate with its key, and a pool of CA
// certificates, from PEM files: what either end of sockd's mutual TLS needs.
func LoadTLSFiles(certFile, keyFile, caFile string) (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("certificate %s / key %s: %w", certFile, keyFile, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return tls.Certificate{}, nil, fmt.Errorf("CA %s: no PEM certificate", caFile)
	}
	return cert, pool, nil
}
