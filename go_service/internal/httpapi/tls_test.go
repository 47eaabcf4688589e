package httpapi_test

// The hardened server over TLS: HTTP/2 and HTTP/1.1 by ALPN, the routes answer alike, and a chunked
// HTTP/1.1 request (whose head the guard cannot read under TLS) has its connection closed.

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"servebench/go_service/internal/httpapi"
	"servebench/go_service/internal/tlstest"
)

func hardenedTLS(t *testing.T) (string, tlstest.Files) {
	t.Helper()
	files := tlstest.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limits := testLimits
	limits.TLS = files.Server(t)
	srv := httpapi.NewServer(httpapi.New(loadedCore(t), httpapi.Options{MaxBody: testMaxBody}), limits)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), files
}

func TestTLSByALPN(t *testing.T) {
	addr, files := hardenedTLS(t)
	cases := []struct {
		name      string
		transport *http.Transport
		major     int
	}{
		{"h2", &http.Transport{TLSClientConfig: files.Client("h2", "http/1.1"), ForceAttemptHTTP2: true}, 2},
		{"http/1.1", &http.Transport{TLSClientConfig: files.Client("http/1.1")}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client := &http.Client{Transport: tc.transport, Timeout: 10 * time.Second}
			defer tc.transport.CloseIdleConnections()
			resp, err := client.Post("https://"+addr+"/v1/predict", "application/json",
				strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2]}]}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"label":"setosa"`) {
				t.Fatalf("status %d body %s", resp.StatusCode, body)
			}
			if resp.ProtoMajor != tc.major || resp.TLS == nil {
				t.Fatalf("answered over %s (TLS %v); want HTTP/%d over TLS", resp.Proto, resp.TLS != nil, tc.major)
			}
		})
	}
}

func TestTLSPlaintextClientIsRefused(t *testing.T) {
	addr, _ := hardenedTLS(t)
	c := dialRaw(t, addr)
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := c.answer(t)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plaintext request to a TLS listener: %d; want net/http's 400", resp.StatusCode)
	}
}

func TestTLSChunkedRequestClosesTheConnection(t *testing.T) {
	addr, files := hardenedTLS(t)
	conn, err := tls.Dial("tcp", addr, files.Client("http/1.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	body := `{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2]}]}`
	io.WriteString(conn, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
		"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"+chunk(body))
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !resp.Close {
		t.Fatalf("status %d without Connection: close after a chunked request over TLS", resp.StatusCode)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the connection stayed open")
	}
}
