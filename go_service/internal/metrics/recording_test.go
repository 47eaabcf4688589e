package metrics_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/grpcapi"
	"servebench/go_service/internal/httpapi"
	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
)

var (
	coreOnce sync.Once
	core     *predictor.Predictor
	coreErr  error
)

func loadedCore(t *testing.T) *predictor.Predictor {
	t.Helper()
	modeltest.InitORT(t)
	models := modeltest.Only(t, "iris-logreg")
	coreOnce.Do(func() {
		core = predictor.New(predictor.Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 8})
		coreErr = core.Load(models)
	})
	if coreErr != nil {
		t.Fatal(coreErr)
	}
	return core
}

// servers serves the shared core over gRPC (bufconn) and HTTP with the same metrics.
func servers(t *testing.T, m *metrics.Metrics) (predictv1.PredictionServiceClient, *httptest.Server) {
	t.Helper()
	return serversOver(t, loadedCore(t), m)
}

func serversOver(t *testing.T, c *predictor.Predictor, m *metrics.Metrics) (predictv1.PredictionServiceClient, *httptest.Server) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv, _ := grpcapi.New(c, grpcapi.Options{MaxRecv: 1 << 20, Metrics: m})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	hs := httptest.NewServer(httpapi.New(c, httpapi.Options{MaxBody: 1 << 20, Metrics: m}))
	t.Cleanup(hs.Close)
	return predictv1.NewPredictionServiceClient(conn), hs
}

var setosa = &predictv1.PredictRequest{Model: "iris-logreg", Instances: []*predictv1.Instance{{Features: []float32{5.1, 3.5, 1.4, 0.2}}}}

// value is a counter's or gauge's value, or a histogram's sample count, for the series with
// exactly these labels (0 when there is none).
func value(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			default:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, name, val string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == val
		}
	}
	return false
}

// TestRecordingAcrossProtocols: after predictions over both protocols (JSON and protobuf over
// HTTP, unary and streamed over gRPC) and a few errors, each counter, duration and phase
// histogram says how many there were, per protocol; probes and /metrics are not counted.
func TestRecordingAcrossProtocols(t *testing.T) {
	m := metrics.New()
	client, hs := servers(t, m)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	const grpcN, streamN, jsonN, protoN = 3, 2, 4, 2
	for range grpcN {
		if _, err := client.Predict(ctx, setosa); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Predict(ctx, &predictv1.PredictRequest{Model: "iris-logreg"}); err == nil {
		t.Fatal("a request without instances succeeded")
	}
	stream, err := client.PredictStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for range streamN {
		stream.Send(setosa)
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	stream.CloseSend()
	if _, err := stream.Recv(); err != io.EOF {
		t.Fatalf("stream end: %v", err)
	}
	body, _ := proto.Marshal(setosa)
	post := func(contentType string, body []byte) int {
		resp, err := hs.Client().Post(hs.URL+"/v1/predict", contentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range jsonN {
		if code := post("application/json", []byte(`{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2]}]}`)); code != 200 {
			t.Fatalf("HTTP JSON predict: %d", code)
		}
	}
	for range protoN {
		if code := post("application/x-protobuf", body); code != 200 {
			t.Fatalf("HTTP protobuf predict: %d", code)
		}
	}
	if code := post("application/json", []byte(`{"model":"nope","instances":[{"features":[1]}]}`)); code != 404 {
		t.Fatalf("unknown model: %d", code)
	}
	for _, path := range []string{"/v1/models", "/v1/models/iris-logreg", "/healthz", "/readyz", "/metrics"} {
		resp, err := hs.Client().Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	type check struct {
		name   string
		labels []string
		want   float64
	}
	checks := []check{
		{"servebench_requests_total", []string{"protocol", "grpc", "method", "Predict", "code", "OK"}, grpcN},
		{"servebench_requests_total", []string{"protocol", "grpc", "method", "Predict", "code", "INVALID_ARGUMENT"}, 1},
		{"servebench_requests_total", []string{"protocol", "grpc", "method", "PredictStream", "code", "OK"}, streamN},
		{"servebench_requests_total", []string{"protocol", "http", "method", "Predict", "code", "OK"}, jsonN + protoN},
		{"servebench_requests_total", []string{"protocol", "http", "method", "Predict", "code", "NOT_FOUND"}, 1},
		{"servebench_requests_total", []string{"protocol", "http", "method", "ListModels", "code", "OK"}, 1},
		{"servebench_requests_total", []string{"protocol", "http", "method", "GetModel", "code", "OK"}, 1},
		{"servebench_request_duration_seconds", []string{"protocol", "grpc", "method", "Predict"}, grpcN + 1},
		{"servebench_request_duration_seconds", []string{"protocol", "grpc", "method", "PredictStream"}, streamN},
		{"servebench_request_duration_seconds", []string{"protocol", "http", "method", "Predict"}, jsonN + protoN + 1},
		{"servebench_inflight_requests", []string{"protocol", "grpc"}, 0},
		{"servebench_inflight_requests", []string{"protocol", "http"}, 0},
		{"servebench_shed_total", []string{"protocol", "grpc"}, 0},
	}
	for _, phase := range []string{"decode", "tensor", "inference", "encode"} { // answered requests only
		checks = append(checks,
			check{"servebench_phase_duration_seconds", []string{"protocol", "grpc", "phase", phase}, grpcN + streamN},
			check{"servebench_phase_duration_seconds", []string{"protocol", "http", "phase", phase}, jsonN + protoN})
	}
	g := m.Gatherer()
	for _, c := range checks {
		if got := value(t, g, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	var total float64
	for _, code := range []string{"OK", "INVALID_ARGUMENT", "NOT_FOUND"} {
		total += value(t, g, "servebench_requests_total", "protocol", "http", "method", "Predict", "code", code)
	}
	if total != jsonN+protoN+1 {
		t.Errorf("HTTP Predict requests %v; want %d (probes and /metrics are not counted)", total, jsonN+protoN+1)
	}
}

// TestMetricsRoute: GET /metrics serves the text format with the counters; with metrics off
// (no Metrics) it is 404 and nothing is recorded.
func TestMetricsRoute(t *testing.T) {
	m := metrics.New()
	_, on := servers(t, m)
	resp, err := on.Client().Post(on.URL+"/v1/predict", "application/json", strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = on.Client().Get(on.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") ||
		!strings.Contains(string(text), `servebench_requests_total{code="OK",method="Predict",protocol="http"} 1`) {
		t.Fatalf("GET /metrics: %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), text)
	}

	off := httptest.NewServer(httpapi.New(loadedCore(t), httpapi.Options{MaxBody: 1 << 20}))
	defer off.Close()
	for _, method := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(method, off.URL+"/metrics", nil)
		resp, err := off.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s /metrics with metrics off: %d; want 404", method, resp.StatusCode)
		}
	}

	only := httptest.NewServer(httpapi.MetricsHandler(m))
	defer only.Close()
	for path, want := range map[string]int{"/metrics": 200, "/v1/models": 404} {
		resp, err := only.Client().Get(only.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("metrics-only server, GET %s: %d; want %d", path, resp.StatusCode, want)
		}
	}
}
