package main

import (
	"errors"
	"strings"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/sockd/sockd/client"
)

// tlsFlags identify sockctl to a daemon's tls:// listener.
type tlsFlags struct {
	cert, key, ca, serverName string
}

func (t *tlsFlags) register(f *pflag.FlagSet) {
	f.StringVar(&t.cert, "tls-cert", envOr("SOCKD_TLS_CERT", ""), "client certificate (PEM) for a tls:// daemon (other addresses ignore the TLS settings); its subject is who you are to the daemon (env SOCKD_TLS_CERT)")
	f.StringVar(&t.key, "tls-key", envOr("SOCKD_TLS_KEY", ""), "the key of --tls-cert (env SOCKD_TLS_KEY)")
	f.StringVar(&t.ca, "tls-ca", envOr("SOCKD_TLS_CA", ""), "CA certificates (PEM) the daemon's certificate must chain to (env SOCKD_TLS_CA)")
	f.StringVar(&t.serverName, "tls-server-name", "", "the name to check in the daemon's certificate (default: the host of --addr)")
}

// dialOptions are the credentials for a tls:// daemon at addr. Other
// addresses (unix, tcp on the loopback) take none: SOCKD_TLS_* exported for
// a remote daemon must not keep sockctl from a local one.
func (t *tlsFlags) dialOptions(addr string) ([]grpc.DialOption, error) {
	if !strings.HasPrefix(addr, "tls://") {
		return nil, nil
	}
	if t.cert == "" || t.key == "" || t.ca == "" {
		return nil, usage(errors.New("a tls:// daemon needs --tls-cert, --tls-key and --tls-ca (or SOCKD_TLS_CERT, SOCKD_TLS_KEY, SOCKD_TLS_CA)"))
	}
	creds, err := client.TLSCredentials(t.cert, t.key, t.ca, t.serverName)
	if err != nil {
		return nil, err
	}
	return []grpc.DialOption{creds}, nil
}
