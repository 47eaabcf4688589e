package httpapi_test

// The hardened server (NewServer) against raw TCP clients: ambiguous and malformed framing,
// oversized heads, slow and idle clients.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"servebench/go_service/internal/httpapi"
)

var testLimits = httpapi.ServerOptions{
	ReadHeaderTimeout: 300 * time.Millisecond,
	ReadTimeout:       time.Second,
	WriteTimeout:      5 * time.Second,
	IdleTimeout:       300 * time.Millisecond,
	MaxHeaderBytes:    16384,
}

// hardened serves the routes through NewServer on a free port and returns its address.
func hardened(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.NewServer(httpapi.New(loadedCore(t), httpapi.Options{MaxBody: testMaxBody}), testLimits)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

type rawConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{Conn: c, r: bufio.NewReader(c)}
}

// answer reads one response and its body.
func (c *rawConn) answer(t *testing.T) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		t.Fatalf("reading an answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// closedWithin fails unless the server closes the connection within d.
func (c *rawConn) closedWithin(t *testing.T, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c.r)
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		t.Fatalf("connection still open after %v", d)
	}
}

const predictHead = "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(s), s) }

// TestAmbiguousAndMalformedFraming: both Content-Length and Transfer-Encoding, or a bad chunk
// size, is 400 with a JSON body and the connection closed.
func TestAmbiguousAndMalformedFraming(t *testing.T) {
	addr := hardened(t)
	ambiguous := "ambiguous framing"
	tests := []struct {
		name, request, contains string
	}{
		{"CL then TE", predictHead + fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n", len(chunk(irisSetosa))) + chunk(irisSetosa), ambiguous},
		{"TE then CL", predictHead + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunk(irisSetosa), ambiguous},
		{"lower case, no space", predictHead + "transfer-encoding: chunked\r\ncontent-length:4\r\n\r\n" + chunk(irisSetosa), ambiguous},
		{"LF line endings", strings.ReplaceAll(predictHead+"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", "\r\n", "\n") + chunk(irisSetosa), ambiguous},
		{"on a GET", "GET /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", ambiguous},
		{"non-hex chunk size", predictHead + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + irisSetosa + "\r\n0\r\n\r\n", "chunk"},
		{"23-digit chunk size", predictHead + "Transfer-Encoding: chunked\r\n\r\n" + strings.Repeat("1", 23) + "\r\n" + irisSetosa + "\r\n0\r\n\r\n", "chunk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			io.WriteString(c, tc.request)
			resp, body := c.answer(t)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" ||
				!strings.Contains(body, `"code":3`) || !strings.Contains(body, tc.contains) {
				t.Fatalf("got %d %s %s; want 400 JSON code 3 mentioning %q", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.contains)
			}
			if !resp.Close {
				t.Error("answer lacks Connection: close")
			}
			c.closedWithin(t, 2*time.Second)
		})
	}
}

// TestFramingOnKeepAlive: on a reused connection a chunked request is read normally, and one
// with both headers is still refused; a chunked request read ahead (pipelined) is answered with
// Connection: close.
func TestFramingOnKeepAlive(t *testing.T) {
	addr := hardened(t)
	plain := predictHead + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(irisSetosa), irisSetosa)
	chunked := predictHead + "Transfer-Encoding: chunked\r\n\r\n" + chunk(irisSetosa)
	both := predictHead + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunk(irisSetosa)
	lookalike := predictHead + "X-Content-Length: 4\r\nX-Note: Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(irisSetosa)

	c := dialRaw(t, addr)
	for i, req := range []string{plain, chunked, plain, chunked, lookalike} {
		io.WriteString(c, req)
		if resp, body := c.answer(t); resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("request %d: %d close=%v %s", i, resp.StatusCode, resp.Close, body)
		}
	}
	io.WriteString(c, both)
	if resp, _ := c.answer(t); resp.StatusCode != http.StatusBadRequest || !resp.Close {
		t.Fatalf("both headers after 5 requests: %d close=%v", resp.StatusCode, resp.Close)
	}

	c = dialRaw(t, addr)
	io.WriteString(c, plain+chunked)
	if resp, _ := c.answer(t); resp.StatusCode != http.StatusOK {
		t.Fatalf("first pipelined request: %d", resp.StatusCode)
	}
	if resp, _ := c.answer(t); resp.StatusCode != http.StatusOK || !resp.Close {
		t.Fatalf("pipelined chunked request: %d close=%v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	c.closedWithin(t, 2*time.Second)
}

// TestHeadTooLarge: a head over --http-max-header-bytes is 431 and the connection closed.
func TestHeadTooLarge(t *testing.T) {
	addr := hardened(t)
	var many strings.Builder
	for i := range 200 {
		fmt.Fprintf(&many, "X-Header-%03d: %s\r\n", i, strings.Repeat("v", 100))
	}
	tests := map[string]string{
		"100 KB header line": "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 100*1024) + "\r\n\r\n",
		"200 headers":        "GET /healthz HTTP/1.1\r\nHost: x\r\n" + many.String() + "\r\n",
	}
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, addr)
			go io.WriteString(c, req) // the server may stop reading before the end
			resp, _ := c.answer(t)
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !resp.Close {
				t.Fatalf("got %d close=%v; want 431 with Connection: close", resp.StatusCode, resp.Close)
			}
			c.closedWithin(t, 3*time.Second)
		})
	}
}

// TestSlowClients: a head trickling in, a body trickling in and an idle keep-alive connection
// are each closed by the server, while a fresh connection is served meanwhile.
func TestSlowClients(t *testing.T) {
	addr := hardened(t)
	trickle := func(c *rawConn, s string) {
		for i := range len(s) {
			if _, err := io.WriteString(c, s[i:i+1]); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Run("slow head", func(t *testing.T) {
		c := dialRaw(t, addr)
		go trickle(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("s", 100)+"\r\n\r\n")
		fresh := dialRaw(t, addr)
		io.WriteString(fresh, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := fresh.answer(t); resp.StatusCode != http.StatusOK {
			t.Fatalf("a fresh connection meanwhile: %d", resp.StatusCode)
		}
		c.closedWithin(t, 3*time.Second)
	})
	t.Run("slow body", func(t *testing.T) {
		c := dialRaw(t, addr)
		io.WriteString(c, predictHead+fmt.Sprintf("Content-Length: %d\r\n\r\n", len(irisSetosa)))
		go trickle(c, irisSetosa)
		if resp, _ := c.answer(t); resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("a body slower than the read timeout: %d; want 408", resp.StatusCode)
		}
		c.closedWithin(t, 4*time.Second)
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dialRaw(t, addr)
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := c.answer(t); resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("first request: %d close=%v", resp.StatusCode, resp.Close)
		}
		c.closedWithin(t, 3*time.Second)
	})
}
