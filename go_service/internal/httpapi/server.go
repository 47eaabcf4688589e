package httpapi

import (
	"context"
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
}

// Server is an http.Server hardened against ambiguous framing: it serves through a listener
// whose connections keep the head of each request, so that a chunked request that also carries
// Content-Length (which net/http drops silently) is refused. Use Serve, not http.Server's
// ListenAndServe.
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
	return &Server{
		Server: &http.Server{
			Handler:           guardFraming(h),
			ReadHeaderTimeout: opts.ReadHeaderTimeout,
			ReadTimeout:       opts.ReadTimeout,
			WriteTimeout:      opts.WriteTimeout,
			IdleTimeout:       opts.IdleTimeout,
			MaxHeaderBytes:    maxHeader,
			ConnContext: func(ctx context.Context, c net.Conn) context.Context {
				if gc, ok := c.(*guardConn); ok {
					return context.WithValue(ctx, connKey{}, gc)
				}
				return ctx
			},
		},
		capture: maxHeader + headSlack,
	}
}

// Serve accepts connections on ln and serves them until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(&guardListener{Listener: ln, capture: s.capture})
}
