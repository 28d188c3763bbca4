package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// serverTLSConfig is the configuration of --listen tls:// listeners: the
// daemon's certificate, and mutual TLS against the client CA: every client
// presents a certificate that chains to it, whose subject is its principal.
func serverTLSConfig(opts options) (*tls.Config, error) {
	if opts.tlsCert == "" || opts.tlsKey == "" || opts.tlsClientCA == "" {
		return nil, errors.New("a tls:// listener needs --tls-cert, --tls-key and --tls-client-ca")
	}
	cert, err := tls.LoadX509KeyPair(opts.tlsCert, opts.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	pem, err := os.ReadFile(opts.tlsClientCA)
	if err != nil {
		return nil, fmt.Errorf("--tls-client-ca: %w", err)
	}
	clients := x509.NewCertPool()
	if !clients.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-client-ca %s: no PEM certificate", opts.tlsClientCA)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    clients,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
