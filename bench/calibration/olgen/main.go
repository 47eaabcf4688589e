// olgen: minimal open-loop load generator (gRPC unary Predict or HTTP POST) used as a reference
// instrument. Request k is due at t0 + k/rate (absolute schedule, never "catches up" by bursting
// beyond what is due); each request runs in its own goroutine over a fixed pool of connections.
// Per request it records due, send and end times; latency is reported both from send and from due.
//
//	olgen -mode grpc -addr 127.0.0.1:PORT -rate 2000 -dur 10s -conns 4 -out res.csv
//	olgen -mode http -addr 127.0.0.1:PORT -rate 2000 -dur 10s -conns 4 -out res.csv
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/protobuf/encoding/protowire"
)

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)      { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(d []byte, v any) error    { *(v.(*[]byte)) = append((*(v.(*[]byte)))[:0], d...); return nil }
func (rawCodec) Name() string                       { return "proto" } // wire-compatible: bytes are already proto
var _ encoding.Codec = rawCodec{}

func predictRequest() []byte {
	var inst []byte
	var packed []byte
	for _, f := range []float32{5.1, 3.5, 1.4, 0.2} {
		packed = protowire.AppendFixed32(packed, math.Float32bits(f))
	}
	inst = protowire.AppendTag(inst, 1, protowire.BytesType)
	inst = protowire.AppendBytes(inst, packed)
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, "iris-logreg")
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, inst)
	return b
}

type rec struct{ due, send, end int64; ok bool }

func main() {
	mode := flag.String("mode", "grpc", "grpc or http")
	addr := flag.String("addr", "", "host:port")
	rate := flag.Float64("rate", 1000, "requests per second")
	dur := flag.Duration("dur", 10*time.Second, "duration")
	conns := flag.Int("conns", 4, "connections (gRPC: ClientConns round-robin; HTTP: max idle conns kept)")
	maxInflight := flag.Int("max-inflight", 100000, "requests in flight beyond this are counted as failed (not sent)")
	out := flag.String("out", "", "CSV of due_ns,send_ns,end_ns,ok (ns from t0)")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout")
	flag.Parse()

	body := []byte(`{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2]}]}`)
	req := predictRequest()
	var do func(ctx context.Context, i int) bool
	switch *mode {
	case "grpc":
		ccs := make([]*grpc.ClientConn, *conns)
		for i := range ccs {
			cc, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
			if err != nil {
				panic(err)
			}
			cc.Connect()
			ccs[i] = cc
		}
		do = func(ctx context.Context, i int) bool {
			var resp []byte
			err := ccs[i%len(ccs)].Invoke(ctx, "/predict.v1.PredictionService/Predict", &req, &resp)
			return err == nil
		}
	case "http":
		tr := &http.Transport{MaxIdleConnsPerHost: *conns, DialContext: (&net.Dialer{}).DialContext}
		cl := &http.Client{Transport: tr}
		url := "http://" + *addr + "/v1/predict"
		do = func(ctx context.Context, i int) bool {
			r, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			resp, err := cl.Do(r)
			if err != nil {
				return false
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode == 200
		}
	}
	// warm the connections
	for i := 0; i < *conns; i++ {
		do(context.Background(), i)
	}

	n := int(*rate * dur.Seconds())
	recs := make([]rec, n)
	interval := float64(time.Second) / *rate
	var wg sync.WaitGroup
	var inflight atomic.Int64
	t0 := time.Now()
	for k := 0; k < n; k++ {
		due := int64(float64(k) * interval)
		if d := time.Duration(due) - time.Since(t0); d > 0 {
			time.Sleep(d)
		}
		if inflight.Load() >= int64(*maxInflight) {
			recs[k] = rec{due, -1, -1, false}
			continue
		}
		inflight.Add(1)
		wg.Add(1)
		go func(k int, due int64) {
			defer wg.Done()
			defer inflight.Add(-1)
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			s := time.Since(t0)
			ok := do(ctx, k)
			e := time.Since(t0)
			cancel()
			recs[k] = rec{due, int64(s), int64(e), ok}
		}(k, due)
	}
	sendEnd := time.Since(t0)
	wg.Wait()

	var lat, corr []float64
	var okN int
	for _, r := range recs {
		if r.ok {
			okN++
			lat = append(lat, float64(r.end-r.send)/1e6)
			corr = append(corr, float64(r.end-r.due)/1e6)
		}
	}
	sort.Float64s(lat)
	sort.Float64s(corr)
	p := func(xs []float64, q float64) float64 {
		if len(xs) == 0 {
			return math.NaN()
		}
		return xs[int(math.Ceil(q*float64(len(xs))))-1]
	}
	fmt.Fprintf(os.Stderr, "n=%d ok=%d send_span=%.3fs lat_ms p50=%.3f p99=%.3f p999=%.3f max=%.3f | from_due p50=%.3f p99=%.3f\n",
		n, okN, sendEnd.Seconds(), p(lat, .5), p(lat, .99), p(lat, .999), lat[len(lat)-1], p(corr, .5), p(corr, .99))
	if *out != "" {
		f, _ := os.Create(*out)
		w := bufio.NewWriter(f)
		for _, r := range recs {
			ok := 0
			if r.ok {
				ok = 1
			}
			fmt.Fprintf(w, "%d,%d,%d,%d\n", r.due, r.send, r.end, ok)
		}
		w.Flush()
		f.Close()
	}
}
