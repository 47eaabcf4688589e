package httpapi

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// Request smuggling guard. RFC 9112 §6.3: a request with both Content-Length and
// Transfer-Encoding is ambiguous and ought to be refused, and the connection closed. net/http
// honours Transfer-Encoding and deletes Content-Length before a handler can see it, so each
// connection keeps the bytes it reads between requests (from its start, and from the end of
// each handler until the next one starts); the guard reads the head of a chunked request there.

// connKey is the request context key of the connection's *guardConn.
type connKey struct{}

type guardListener struct {
	net.Listener
	capture int
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c, limit: l.capture, capturing: true}, nil
}

// guardConn keeps the bytes read while capturing, up to limit; once half-closed, it closes by
// lingering (Close).
type guardConn struct {
	net.Conn
	limit       int
	mu          sync.Mutex
	capturing   bool
	head        []byte
	lingerUntil time.Time // set by CloseWrite: until when Close reads what the client still sends
}

// lingerTimeout bounds a lingering close. net/http half-closes a connection it answered with
// "Connection: close" (a refusal such as 408, 413, 400 for bad framing, 431), waits 500 ms without
// reading, then closes it; a client still sending its request (one that writes it whole before
// reading, as Python's http.client does) then gets a reset, and loses the answer, instead of
// reading it. So Close first reads and drops what the client sends until it closes its side or
// lingerTimeout has passed since the half-close.
const lingerTimeout = time.Second

func (c *guardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.capturing {
			room := c.limit - len(c.head)
			c.head = append(c.head, p[:min(n, room)]...)
			c.capturing = len(c.head) < c.limit
		}
		c.mu.Unlock()
	}
	return n, err
}

// CloseWrite lets net/http half-close before it closes (answers with "Connection: close"), as on
// a *net.TCPConn, and makes Close linger.
func (c *guardConn) CloseWrite() error {
	c.mu.Lock()
	c.lingerUntil = time.Now().Add(lingerTimeout)
	c.mu.Unlock()
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection; after CloseWrite it first reads and drops what the client still
// sends, until the client's end of the stream or the linger's end (lingerTimeout). A Close meanwhile
// (Server.Close) closes at once, which ends the lingering read.
func (c *guardConn) Close() error {
	c.mu.Lock()
	until := c.lingerUntil
	c.lingerUntil = time.Time{}
	c.mu.Unlock()
	if !until.IsZero() && c.Conn.SetReadDeadline(until) == nil {
		_, _ = io.Copy(io.Discard, c.Conn)
	}
	return c.Conn.Close()
}

// stop ends capturing and returns what was kept; it stays valid until resume.
func (c *guardConn) stop() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.capturing = false
	return c.head
}

// resume starts capturing afresh, for the connection's next request.
func (c *guardConn) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.head = c.head[:0]
	c.capturing = true
}

// guardFraming refuses a chunked request whose head also has a Content-Length line (400,
// INVALID_ARGUMENT, connection closed) and closes the connection after any chunked request
// whose head it could not read (a request read ahead of its turn, such as a pipelined one).
func guardFraming(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(*guardConn)
		if c == nil {
			next.ServeHTTP(w, r)
			return
		}
		captured := c.stop()
		if len(r.TransferEncoding) > 0 {
			hasLength, read := contentLengthIn(captured, r)
			if hasLength {
				w.Header().Set("Connection", "close")
				writeError(w, http.StatusBadRequest, codes.InvalidArgument,
					"ambiguous framing: both Content-Length and Transfer-Encoding")
				return
			}
			if !read {
				w.Header().Set("Connection", "close")
			}
		}
		next.ServeHTTP(w, r)
		c.resume()
	})
}

// contentLengthIn looks for a Content-Length header line in the head of r at the start of
// captured. read is false when captured does not start with r's request line or holds no
// complete head. Lines may end in CRLF or, as net/http also accepts, in LF alone.
func contentLengthIn(captured []byte, r *http.Request) (hasLength, read bool) {
	line := r.Method + " " + r.RequestURI + " " + r.Proto
	rest, ok := bytes.CutPrefix(captured, []byte(line))
	if !ok {
		return false, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte("\r\n")); !ok {
		if rest, ok = bytes.CutPrefix(rest, []byte("\n")); !ok {
			return false, false
		}
	}
	const name = "content-length"
	for {
		field, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return false, false // the head goes on beyond what was kept
		}
		field = bytes.TrimSuffix(field, []byte("\r"))
		if len(field) == 0 {
			return false, true
		}
		if len(field) > len(name) && bytes.EqualFold(field[:len(name)], []byte(name)) {
			if v := bytes.TrimLeft(field[len(name):], " \t"); len(v) > 0 && v[0] == ':' {
				return true, true
			}
		}
		rest = after
	}
}
