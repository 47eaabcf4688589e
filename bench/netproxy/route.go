package main

import (
	"net"
	"sync"
	"sync/atomic"
)

// route is one listener and the emulated path behind it.
type route struct {
	name, listenAddr, upstream string
	delay                      atomic.Int64 // one way, ns (POST /delay changes it)
	ln                         net.Listener
	links                      [2]*link // up (client → server), down
	conns                      atomic.Int64
}

const (
	up   = 0
	down = 1
)

// link is one direction of a route: what crossed it, and how late it was released.
type link struct {
	bytes, writes      atomic.Int64
	lateSum, lateMaxNs atomic.Int64
}

type stats struct {
	Conns     int64   `json:"conns"`
	UpBytes   int64   `json:"up_bytes"`
	DownBytes int64   `json:"down_bytes"`
	LateMean  float64 `json:"late_mean_us"`
	LateMax   float64 `json:"late_max_us"`
}

func (r *route) stats() stats {
	s := stats{Conns: r.conns.Load(), UpBytes: r.links[up].bytes.Load(), DownBytes: r.links[down].bytes.Load()}
	var writes, late int64
	for _, l := range r.links {
		writes += l.writes.Load()
		late += l.lateSum.Load()
		s.LateMax = max(s.LateMax, float64(l.lateMaxNs.Load())/1e3)
	}
	if writes > 0 {
		s.LateMean = float64(late) / float64(writes) / 1e3
	}
	return s
}

// chunk is bytes read from one side, due at the other at `due` (CLOCK_MONOTONIC ns); nil data is
// the end of the stream.
type chunk struct {
	data []byte
	buf  *[32 << 10]byte // data's buffer, for the pool
	due  int64
}

// proxy pipes one client connection to a new upstream connection, both ways.
func (r *route) proxy(client *net.TCPConn) {
	accepted := monotonic()
	conn, err := net.Dial("tcp", r.upstream)
	if err != nil {
		client.Close()
		return
	}
	server := conn.(*net.TCPConn)
	client.SetNoDelay(true)
	server.SetNoDelay(true)
	// The handshake a real network would have made the client wait for: its first bytes leave
	// no earlier than one round trip after it connected.
	opened := accepted + 2*r.delay.Load()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.pipe(client, server, r.links[up], opened) }()
	go func() { defer wg.Done(); r.pipe(server, client, r.links[down], 0) }()
	wg.Wait()
	client.Close()
	server.Close()
}

// buffers are the read buffers, back in the pool once written.
var buffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// pipe copies src to dst over link: each read released `delay` after it arrived, no earlier than
// `opened` + `delay`.
func (r *route) pipe(src, dst *net.TCPConn, l *link, opened int64) {
	queue := make(chan chunk, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.deliver(dst, l, queue)
	}()
	for {
		buf := buffers.Get().(*[32 << 10]byte)
		n, err := src.Read(buf[:])
		due := max(monotonic(), opened) + r.delay.Load()
		if n > 0 {
			l.bytes.Add(int64(n))
			queue <- chunk{data: buf[:n], buf: buf, due: due}
		} else {
			buffers.Put(buf)
		}
		if err != nil {
			queue <- chunk{due: due}
			break
		}
	}
	<-done
	if err := dst.CloseWrite(); err != nil {
		dst.Close()
	}
}

// deliver writes each chunk at its due time; after a write error it only drains the queue.
func (r *route) deliver(dst *net.TCPConn, l *link, queue <-chan chunk) {
	clock, err := newClock()
	if err != nil {
		panic(err)
	}
	defer clock.Close()
	broken := false
	for c := range queue {
		if !broken {
			clock.waitUntil(c.due)
			late := monotonic() - c.due
			l.writes.Add(1)
			l.lateSum.Add(late)
			if late > l.lateMaxNs.Load() {
				l.lateMaxNs.Store(late)
			}
		}
		if c.data == nil {
			return
		}
		if !broken {
			if _, err := dst.Write(c.data); err != nil {
				broken = true
				dst.Close()
			}
		}
		buffers.Put(c.buf)
	}
}
