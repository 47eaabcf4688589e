package metrics_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
)

// TestInflightAndShed: with --max-inflight 2 filled by one request per protocol stuck in
// inference, the gauge says 1 per protocol, each refusal counts as shed and as a
// RESOURCE_EXHAUSTED request; once the load ends the gauge is back to 0.
func TestInflightAndShed(t *testing.T) {
	modeltest.InitORT(t)
	entered, release := make(chan struct{}, 16), make(chan struct{})
	core := predictor.New(predictor.Options{
		IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 8, MaxInflight: 2, MaxRuns: 2,
		BeforeRun: func() { entered <- struct{}{}; <-release },
	})
	if err := core.Load(modeltest.Only(t, "iris-logreg")); err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	m := metrics.New()
	grpcClient, hs := serversOver(t, core, m)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const body = `{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2]}]}`
	postCode := func() int {
		resp, err := hs.Client().Post(hs.URL+"/v1/predict", "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if _, err := grpcClient.Predict(ctx, setosa); err != nil {
			t.Errorf("admitted gRPC request: %v", err)
		}
	}()
	go func() {
		defer wg.Done()
		if code := postCode(); code != http.StatusOK {
			t.Errorf("admitted HTTP request: %d", code)
		}
	}()
	for range 2 {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal("the admitted requests never reached inference")
		}
	}
	g := m.Gatherer()
	for _, p := range []string{"grpc", "http"} {
		if got := value(t, g, "servebench_inflight_requests", "protocol", p); got != 1 {
			t.Errorf("inflight %s = %v while blocked; want 1", p, got)
		}
	}
	if _, err := grpcClient.Predict(ctx, setosa); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("gRPC beyond the bound: %v", err)
	}
	if code := postCode(); code != http.StatusServiceUnavailable {
		t.Fatalf("HTTP beyond the bound: %d", code)
	}
	close(release)
	wg.Wait()

	for _, p := range []string{"grpc", "http"} {
		if got := value(t, g, "servebench_shed_total", "protocol", p); got != 1 {
			t.Errorf("shed %s = %v; want 1", p, got)
		}
		if got := value(t, g, "servebench_requests_total", "protocol", p, "method", "Predict", "code", "RESOURCE_EXHAUSTED"); got != 1 {
			t.Errorf("RESOURCE_EXHAUSTED %s = %v; want 1", p, got)
		}
		if got := value(t, g, "servebench_inflight_requests", "protocol", p); got != 0 {
			t.Errorf("inflight %s = %v after the load; want 0", p, got)
		}
	}
}
