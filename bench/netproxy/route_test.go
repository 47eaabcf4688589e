package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRoute(t *testing.T) {
	r, err := parseRoute("lan=127.0.0.1:0,127.0.0.1:9,125us")
	if err != nil || r.name != "lan" || r.listenAddr != "127.0.0.1:0" || r.upstream != "127.0.0.1:9" || r.delay.Load() != int64(125*time.Microsecond) {
		t.Fatalf("%+v, %v", r, err)
	}
	for _, bad := range []string{"", "x", "x=a,b", "x=a,b,c", "=a,b,1ms", "x=a,b,-1ms", "x=a,b,1ms,5"} {
		if _, err := parseRoute(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// echo serves an echo server (which answers each read, and closes its side after the client's
// end of stream) and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// TestDelayAndCounts: bytes arrive intact and in order, no earlier than the delays allow (a
// lower bound only: a busy machine makes them later, never earlier), the end of stream is
// passed on, and the route counts the connection and the bytes each way.
func TestDelayAndCounts(t *testing.T) {
	const delay = 20 * time.Millisecond
	r := serving(t, "t=127.0.0.1:0,"+echo(t)+","+delay.String())
	start := time.Now()
	c, err := net.Dial("tcp", r.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := strings.Repeat("servebench ", 10000) // several reads' worth
	go func() { io.WriteString(c, msg); c.(*net.TCPConn).CloseWrite() }()
	got, err := io.ReadAll(c) // ends when the echo's end of stream came back through the proxy
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte(msg)) {
		t.Fatalf("got %d bytes, not the %d sent", len(got), len(msg))
	}
	// first bytes: the emulated handshake (2×delay) and the way there, then the way back
	if elapsed := time.Since(start); elapsed < 4*delay {
		t.Fatalf("echo came back after %v; the delays alone take %v", elapsed, 4*delay)
	}
	s := r.stats()
	if s.Conns != 1 || s.UpBytes != int64(len(msg)) || s.DownBytes != int64(len(msg)) {
		t.Fatalf("stats %+v; want 1 connection and %d bytes each way", s, len(msg))
	}
}

// TestStatsEndpoint: run() serves the routes and GET /stats answers their counts as JSON.
func TestStatsEndpoint(t *testing.T) {
	r := serving(t, "a=127.0.0.1:0,"+echo(t)+",0s")
	c, err := net.Dial("tcp", r.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	srv := &http.Server{Handler: statsHandler(map[string]*route{"a": r})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct{ Routes map[string]stats }
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Routes["a"]; got.Conns != 1 || got.UpBytes != 4 || got.DownBytes != 4 {
		t.Fatalf("stats %+v", doc.Routes)
	}
	base := "http://" + ln.Addr().String() + "/delay"
	for query, want := range map[string]int{"routes=a&delay=250us": 204, "routes=a&delay=x": 400, "routes=a,b&delay=1ms": 404} {
		resp, err := http.Post(base+"?"+query, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("POST /delay?%s: %d; want %d", query, resp.StatusCode, want)
		}
	}
	if r.delay.Load() != int64(250*time.Microsecond) {
		t.Errorf("delay %v after POST /delay; want 250µs", time.Duration(r.delay.Load()))
	}
}

// serving is the route of spec, listening and serving until the test ends.
func serving(t *testing.T, spec string) *route {
	t.Helper()
	r, err := parseRoute(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.ln.Close() })
	go r.serve()
	return r
}
