package main

import (
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/sockd/sockd/client"
)

// tlsFlags identify sockctl to a daemon's tls:// listener.
type tlsFlags struct {
	cert, key, ca, serverName string
}

func (t *tlsFlags) register(f *pflag.FlagSet) {
	f.StringVar(&t.cert, "tls-cert", envOr("SOCKD_TLS_CERT", ""), "client certificate (PEM) for a tls:// daemon; its subject is who you are to the daemon (env SOCKD_TLS_CERT)")
	f.StringVar(&t.key, "tls-key", envOr("SOCKD_TLS_KEY", ""), "the key of --tls-cert (env SOCKD_TLS_KEY)")
	f.StringVar(&t.ca, "tls-ca", envOr("SOCKD_TLS_CA", ""), "CA certificates (PEM) the daemon's certificate must chain to (env SOCKD_TLS_CA)")
	f.StringVar(&t.serverName, "tls-server-name", "", "the name to check in the daemon's certificate (default: the host of --addr)")
}

// dialOptions are the credentials for a TLS daemon, none when no TLS flag
// is set.
func (t *tlsFlags) dialOptions() ([]grpc.DialOption, error) {
	if t.cert == "" && t.key == "" && t.ca == "" {
		return nil, nil
	}
	creds, err := client.TLSCredentials(t.cert, t.key, t.ca, t.serverName)
	if err != nil {
		return nil, err
	}
	return []grpc.DialOption{creds}, nil
}
