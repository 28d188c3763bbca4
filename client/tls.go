package client

import (
	"crypto/tls"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/sockd/sockd/internal/tlsfiles"
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
	cert, roots, err := tlsfiles.Load(certFile, keyFile, caFile)
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
