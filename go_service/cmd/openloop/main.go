// Command openloop is the bench's open-loop gRPC load generator (capacity sweeps): it sends
// predict.v1 Predict calls on a fixed schedule — call k is due at t0 + k/rate — whether or not
// earlier calls were answered, each in its own goroutine over a fixed set of connections, and
// writes one CSV line per call so that latency can be measured from when the call was due.
//
//	openloop -addr HOST:PORT -body request.json -rate 800 -duration 3s [-warmup 0.5s]
//	         [-conns 4] [-timeout 10s] [-max-inflight 20000] [-cacert ca.pem] [-method ModelInfer] -out calls.csv
//
// With -cacert it speaks TLS and verifies the server against that CA (PEM). With -method ModelInfer
// it calls the Open Inference Protocol's inference.GRPCInferenceService/ModelInfer instead, the body
// a ModelInferRequest in the proto3 JSON mapping (any V2 server: servebench's, MLServer, KServe).
//
// Why not ghz --rps --async (bench/README.md, "Capacity"): on the 2-vCPU machines servebench runs
// on, ghz costs 310–680 µs of CPU per call and stalls for up to ~20 ms, so its own p99 against a
// null server (~5 ms at 450 calls/s, 20–25 ms at 2,000) is at or above a 10 ms SLO; this
// generator's is 1.4–2 ms and 4–5 ms on the same machine.
//
// The body is a PredictRequest (or ModelInferRequest) in the proto3 JSON mapping (the bench's request files), sent with
// the generated client. Output: a header, then `seq,due_ns,sent_ns,end_ns,code` per call of the
// timed period (ns from its t0; code "OK" or the gRPC code name; a call not sent because
// -max-inflight calls were outstanding has sent_ns and end_ns -1 and code "NOT_SENT"). The
// warm-up uses the same schedule and is not written.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	inferencepb "servebench/go_service/gen/inference"
	predictv1 "servebench/go_service/gen/predict/v1"
)

// The RPCs openloop can call (-method): each reads its request from the body file and returns the
// function that sends it once on a connection.
var methods = map[string]func(text []byte) (func(ctx context.Context, conn *grpc.ClientConn) error, error){
	"Predict": func(text []byte) (func(context.Context, *grpc.ClientConn) error, error) {
		req := &predictv1.PredictRequest{}
		if err := protojson.Unmarshal(text, req); err != nil {
			return nil, err
		}
		return func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := predictv1.NewPredictionServiceClient(conn).Predict(ctx, req)
			return err
		}, nil
	},
	"ModelInfer": func(text []byte) (func(context.Context, *grpc.ClientConn) error, error) {
		req := &inferencepb.ModelInferRequest{}
		if err := protojson.Unmarshal(text, req); err != nil {
			return nil, err
		}
		return func(ctx context.Context, conn *grpc.ClientConn) error {
			_, err := inferencepb.NewGRPCInferenceServiceClient(conn).ModelInfer(ctx, req)
			return err
		}, nil
	},
}

type call struct {
	due, sent, end int64
	code           string
}

type config struct {
	addr, body, out    string
	cacert, method     string
	rate               float64
	duration, warmup   time.Duration
	timeout            time.Duration
	conns, maxInflight int
	connections        []*grpc.ClientConn
	send               func(ctx context.Context, conn *grpc.ClientConn) error
	inflight           atomic.Int64
}

func main() {
	c := &config{}
	flag.StringVar(&c.addr, "addr", "", "gRPC server HOST:PORT")
	flag.StringVar(&c.body, "body", "", "PredictRequest as proto3 JSON (file)")
	flag.StringVar(&c.out, "out", "", "CSV of the timed period's calls (default stdout)")
	flag.Float64Var(&c.rate, "rate", 100, "calls per second")
	flag.DurationVar(&c.duration, "duration", 3*time.Second, "timed period")
	flag.DurationVar(&c.warmup, "warmup", 0, "discarded period at the same rate before the timed one")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Second, "per-call deadline")
	flag.IntVar(&c.conns, "conns", 4, "gRPC connections (calls spread round-robin)")
	flag.IntVar(&c.maxInflight, "max-inflight", 20000, "outstanding calls beyond this are recorded NOT_SENT")
	flag.StringVar(&c.method, "method", "Predict", "RPC: Predict (predict.v1) or ModelInfer (Open Inference Protocol)")
	flag.StringVar(&c.cacert, "cacert", "", "CA certificate (PEM): speak TLS and verify the server with it (default: plaintext)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "openloop:", err)
		os.Exit(1)
	}
}

func run(c *config) error {
	if c.addr == "" || c.body == "" || c.rate <= 0 || c.conns < 1 {
		return errors.New("-addr, -body, a positive -rate and -conns ≥ 1 are required")
	}
	err := c.connect()
	defer c.close()
	if err != nil {
		return err
	}
	if c.warmup > 0 {
		schedule(c, c.warmup)
	}
	calls := schedule(c, c.duration)
	return write(c.out, calls)
}

// connect reads the request and opens -conns connections, each with one call answered, so that
// the schedule starts on connected channels.
func (c *config) connect() error {
	text, err := os.ReadFile(c.body)
	if err != nil {
		return err
	}
	method, ok := methods[c.method]
	if !ok {
		return fmt.Errorf("-method %q: Predict or ModelInfer", c.method)
	}
	if c.send, err = method(text); err != nil {
		return fmt.Errorf("%s: %w", c.body, err)
	}
	creds := insecure.NewCredentials()
	if c.cacert != "" {
		if creds, err = credentials.NewClientTLSFromFile(c.cacert, ""); err != nil {
			return err
		}
	}
	for range c.conns {
		conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		c.connections = append(c.connections, conn)
	}
	for i, conn := range c.connections { // connect every connection before the schedule starts
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		err := c.send(ctx, conn)
		cancel()
		if err != nil {
			return fmt.Errorf("first call on connection %d: %w", i+1, err)
		}
	}
	return nil
}

func (c *config) close() {
	for _, conn := range c.connections {
		conn.Close()
	}
}

// schedule sends calls due at t0 + k/rate for the period and returns them once all are answered.
func schedule(c *config, period time.Duration) []call {
	n := int(c.rate * period.Seconds())
	calls := make([]call, n)
	interval := float64(time.Second) / c.rate
	var wg sync.WaitGroup
	t0 := time.Now()
	for k := range n {
		due := int64(float64(k) * interval)
		if wait := time.Duration(due) - time.Since(t0); wait > 0 {
			time.Sleep(wait)
		}
		if c.inflight.Load() >= int64(c.maxInflight) {
			calls[k] = call{due: due, sent: -1, end: -1, code: "NOT_SENT"}
			continue
		}
		c.inflight.Add(1)
		wg.Add(1)
		go func(k int, due int64) {
			defer wg.Done()
			defer c.inflight.Add(-1)
			ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
			defer cancel()
			sent := time.Since(t0)
			err := c.send(ctx, c.connections[k%len(c.connections)])
			end := time.Since(t0)
			code := "OK"
			if err != nil {
				code = status.Code(err).String()
			}
			calls[k] = call{due: due, sent: int64(sent), end: int64(end), code: code}
		}(k, due)
	}
	wg.Wait()
	return calls
}

func write(path string, calls []call) error {
	out := os.Stdout
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	w.WriteString("seq,due_ns,sent_ns,end_ns,code\n")
	for k, cl := range calls {
		w.WriteString(strconv.Itoa(k) + "," + strconv.FormatInt(cl.due, 10) + "," + strconv.FormatInt(cl.sent, 10) +
			"," + strconv.FormatInt(cl.end, 10) + "," + cl.code + "\n")
	}
	return w.Flush()
}
