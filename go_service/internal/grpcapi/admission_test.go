package grpcapi_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/grpcapi"
	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
)

// blockingCore is a loaded core with --max-inflight bound whose inference waits, once entered,
// until release is closed.
func blockingCore(t *testing.T, bound int) (core *predictor.Predictor, entered <-chan struct{}, release chan struct{}) {
	t.Helper()
	modeltest.InitORT(t)
	in := make(chan struct{}, 16)
	release = make(chan struct{})
	core = predictor.New(predictor.Options{
		IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 8, MaxInflight: bound, MaxRuns: bound,
		BeforeRun: func() { in <- struct{}{}; <-release },
	})
	if err := core.Load(modeltest.Only(t, "iris-logreg")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	return core, in, release
}

// TestAdmission: with --max-inflight 2 and both requests (one per connection) stuck in
// inference, a third Predict and a PredictStream message, on a third connection, are refused at
// once with RESOURCE_EXHAUSTED and a RetryInfo of 1 s; once the load ends requests succeed again.
func TestAdmission(t *testing.T) {
	core, entered, release := blockingCore(t, 2)
	clients := dialN(t, core, 3)
	client := clients[2]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := clients[i].Predict(ctx, iris(setosa...)); err != nil {
				t.Errorf("an admitted request: %v", err)
			}
		}()
	}
	for range 2 {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal("the first two requests never reached inference")
		}
	}

	refused := func(name string, err error, took time.Duration) {
		t.Helper()
		st := status.Convert(err)
		if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "--max-inflight 2") {
			t.Fatalf("%s: %v; want RESOURCE_EXHAUSTED naming --max-inflight 2", name, err)
		}
		var delay time.Duration
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.RetryInfo); ok {
				delay = info.GetRetryDelay().AsDuration()
			}
		}
		if delay != time.Second {
			t.Fatalf("%s: RetryInfo delay %v; want 1s", name, delay)
		}
		if took > 2*time.Second {
			t.Fatalf("%s: refused after %v; want at once", name, took)
		}
	}
	start := time.Now()
	_, err := client.Predict(ctx, iris(setosa...))
	refused("third Predict", err, time.Since(start))

	stream, err := client.PredictStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := stream.Send(iris(setosa...)); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	refused("PredictStream message", err, time.Since(start))

	close(release)
	wg.Wait()
	if _, err := client.Predict(ctx, iris(setosa...)); err != nil {
		t.Fatalf("after the load: %v", err)
	}
}

// dialN starts one server over core on a loopback TCP port (admission's per-connection share
// names connections by their TCP address) and opens n connections to it.
func dialN(t *testing.T, core grpcapi.Core, n int) []predictv1.PredictionServiceClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, hs := grpcapi.New(core, grpcapi.Options{MaxRecv: testMaxRecv})
	grpcapi.SetServing(hs, true)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	var clients []predictv1.PredictionServiceClient
	for range n {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		clients = append(clients, predictv1.NewPredictionServiceClient(conn))
	}
	return clients
}

// TestShareByConnection: with --max-inflight 3, one connection's two requests stuck in inference
// hold its share: its third is refused at once, while another connection's is admitted.
func TestShareByConnection(t *testing.T) {
	core, entered, release := blockingCore(t, 3)
	clients := dialN(t, core, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	predict := func(c predictv1.PredictionServiceClient) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Predict(ctx, iris(setosa...)); err != nil {
				t.Errorf("an admitted request: %v", err)
			}
		}()
	}
	await := func(what string) {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal(what)
		}
	}
	for range 2 {
		predict(clients[0])
		await("the first connection's requests never reached inference")
	}
	_, err := clients[0].Predict(ctx, iris(setosa...))
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "this connection holds 2 of the 3 places") {
		t.Fatalf("the first connection's third request: %v; want RESOURCE_EXHAUSTED for its share", err)
	}
	predict(clients[1])
	await("the second connection's request was not admitted beside the first's share")
	close(release)
	wg.Wait()
}

// TestErrorMessagesAreBounded: a huge model name is quoted short, with its length.
func TestErrorMessagesAreBounded(t *testing.T) {
	client := predictv1.NewPredictionServiceClient(dialWith(t, loadedCore(t), true, grpcapi.Options{MaxRecv: 1 << 20}))
	name := strings.Repeat("a", 512*1024)
	want := `unknown model "` + strings.Repeat("a", 64) + `…" (524288 bytes)`
	calls := map[string]func() error{
		"Predict": func() error {
			_, err := client.Predict(context.Background(), &predictv1.PredictRequest{Model: name})
			return err
		},
		"GetModel": func() error {
			_, err := client.GetModel(context.Background(), &predictv1.GetModelRequest{Name: name})
			return err
		},
	}
	for method, call := range calls {
		t.Run(method, func(t *testing.T) {
			st := status.Convert(call())
			if st.Code() != codes.NotFound || st.Message() != want {
				t.Fatalf("got %v %q; want NOT_FOUND %q", st.Code(), st.Message(), want)
			}
		})
	}
}
