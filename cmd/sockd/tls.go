package main

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/sockd/sockd/internal/tlsfiles"
)

// serverTLSConfig is the configuration of --listen tls:// listeners: the
// daemon's certificate, and mutual TLS against the client CA: every client
// presents a certificate that chains to it, whose subject is its principal.
func serverTLSConfig(opts config) (*tls.Config, error) {
	if opts.tlsCert == "" || opts.tlsKey == "" || opts.tlsClientCA == "" {
		return nil, errors.New("a tls:// listener needs --tls-cert, --tls-key and --tls-client-ca")
	}
	cert, clients, err := tlsfiles.Load(opts.tlsCert, opts.tlsKey, opts.tlsClientCA)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key/--tls-client-ca: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    clients,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}
