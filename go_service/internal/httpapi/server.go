package httpapi

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// ServerOptions are the HTTP server's limits (flags --http-*).
type ServerOptions struct {
	ReadHeaderTimeout time.Duration // to read a request head
	ReadTimeout       time.Duration // to read a whole request, body included
	WriteTimeout      time.Duration // from the end of the head to the end of the answer
	IdleTimeout       time.Duration // a keep-alive connection's wait for its next request
	MaxHeaderBytes    int           // a larger head is answered 431 and the connection closed
	// TLS, when set, serves HTTPS: HTTP/2 and HTTP/1.1 by ALPN (net/http adds h2 to NextProtos).
	TLS *tls.Config
}

// Server is an http.Server hardened against ambiguous framing: it serves through a listener
// whose connections keep the head of each request, so that a chunked request that also carries
// Content-Length (which net/http drops silently) is refused. Use Serve, not http.Server's
// ListenAndServe. Over TLS the listener sees only ciphertext, so it keeps nothing: a chunked
// HTTP/1.1 request is answered and its connection closed (RFC 9112 §6.3 allows either), and
// HTTP/2 has no such framing to confuse.
type Server struct {
	*http.Server
	capture int // bytes of a request head a connection keeps: net/http's own read limit
}

// headSlack is what net/http reads beyond MaxHeaderBytes before answering 431.
const headSlack = 4096

// NewServer returns a Server for h with the given limits.
func NewServer(h http.Handler, opts ServerOptions) *Server {
	maxHeader := opts.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = http.DefaultMaxHeaderBytes
	}
	capture := maxHeader + headSlack
	if opts.TLS != nil {
		capture = 0
	}
	return &Server{
		Server: &http.Server{
			Handler:           guardFraming(h),
			ReadHeaderTimeout: opts.ReadHeaderTimeout,
			ReadTimeout:       opts.ReadTimeout,
			WriteTimeout:      opts.WriteTimeout,
			IdleTimeout:       opts.IdleTimeout,
			MaxHeaderBytes:    maxHeader,
			TLSConfig:         opts.TLS,
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				if tc, ok := c.(*tls.Conn); ok {
					c = tc.NetConn()
				}
				if gc, ok := c.(*guardConn); ok {
					return context.WithValue(ctx, connKey{}, gc)
				}
				return ctx
			},
		},
		capture: capture,
	}
}

// Serve accepts connections on ln and serves them until Shutdown or Close (over TLS when the
// options had a TLS config).
func (s *Server) Serve(ln net.Listener) error {
	guarded := &guardListener{Listener: ln, capture: s.capture}
	if s.TLSConfig != nil {
		return s.Server.ServeTLS(guarded, "", "")
	}
	return s.Server.Serve(guarded)
}
