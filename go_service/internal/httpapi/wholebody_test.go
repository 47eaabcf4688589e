package httpapi_test

// Refusals given before a body is used must reach a client that writes its whole body before it
// reads (Python's http.client, many SDKs): the answer, not a connection reset or a broken pipe.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// writeWhole writes s to c in full, failing the test on a write error (a reset, a broken pipe).
func writeWhole(t *testing.T, c *rawConn, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("writing the whole request: %v", err)
	}
}

// TestTooLargeBodySentWhole: through the hardened server with the default --max-body (4 MiB), a
// client that writes a body over it in full, then reads, reads the 413: the handler reads and
// drops up to 4 × --max-body before answering, the lingering close what comes after.
func TestTooLargeBodySentWhole(t *testing.T) {
	addr := hardened(t)
	for _, size := range []int{testMaxBody + 1, 2 * testMaxBody, 4 * testMaxBody, 5 * testMaxBody} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			c := dialRaw(t, addr)
			// Writes block once the socket buffers are full, until the server reads; not smaller,
			// or delayed ACKs slow loopback to a few MB/s, under the read timeout's pace.
			_ = c.Conn.(*net.TCPConn).SetWriteBuffer(256 << 10)
			body := `{"model":"` + strings.Repeat("a", size) + `"}`
			writeWhole(t, c, predictHead+fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))+body)
			resp, text := c.answer(t)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(text, `"code":8`) || !resp.Close {
				t.Fatalf("got %d close=%v %s; want 413, code 8, Connection: close", resp.StatusCode, resp.Close, text)
			}
		})
	}
}

// TestSlowBodySentWhole: a client whose body stalls past --http-read-timeout and then comes whole,
// after which the client reads, reads the 408 and finds the connection closed: the server reads
// and drops what comes within a linger after its answer (net/http alone waits 500 ms, then closes,
// and a client still writing then gets a reset instead of the answer).
func TestSlowBodySentWhole(t *testing.T) {
	addr := hardened(t)
	for _, late := range []time.Duration{0, 700 * time.Millisecond} {
		t.Run(fmt.Sprint("rest ", late, " after the answer"), func(t *testing.T) {
			c := dialRaw(t, addr)
			body := irisSetosa + strings.Repeat(" ", 3_000_000) // over the socket buffers, under --max-body
			writeWhole(t, c, predictHead+fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))+body[:10])
			time.Sleep(testLimits.ReadTimeout + 100*time.Millisecond + late)
			writeWhole(t, c, body[10:])
			resp, text := c.answer(t)
			if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
				t.Fatalf("got %d close=%v %s; want 408 and Connection: close", resp.StatusCode, resp.Close, text)
			}
			c.closedWithin(t, 3*time.Second)
		})
	}
}

// TestShortBodyHalfClosed: a body shorter than its Content-Length, followed by the client's
// half-close, is the client's error: 400 (code 3) and the connection closed, never a 5xx.
func TestShortBodyHalfClosed(t *testing.T) {
	addr := hardened(t)
	c := dialRaw(t, addr)
	writeWhole(t, c, predictHead+fmt.Sprintf("Content-Length: %d\r\n\r\n", len(irisSetosa)+50)+irisSetosa)
	if err := c.Conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, text := c.answer(t)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(text, `"code":3`) {
		t.Fatalf("got %d %s; want 400 with code 3", resp.StatusCode, text)
	}
	c.closedWithin(t, 3*time.Second)
}
