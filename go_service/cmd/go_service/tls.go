package main

import (
	"crypto/tls"
	"fmt"
)

// serverTLS is the TLS configuration of every listener, from --tls-cert and --tls-key (PEM), or
// nil when neither is given (plaintext). It offers h2 and http/1.1 by ALPN: net/http serves
// HTTP/2 or HTTP/1.1 by what the client picks, grpc-go needs h2. TLS 1.2 and 1.3, Go's defaults
// for everything else.
func serverTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}, nil
}
