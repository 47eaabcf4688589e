package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"servebench/go_service/internal/modeltest"
)

// TestMetricsFlags: --metrics=false leaves /metrics 404; --metrics-addr serves it on its own
// port, also when --http-addr is empty.
func TestMetricsFlags(t *testing.T) {
	serverProcess(t)
	modeltest.InitORT(t)
	models := modeltest.ModelsDir(t)
	modeltest.Models(t)

	_, addrs := start(t, 1, "--models", models, "--grpc-addr", "", "--http-addr", "127.0.0.1:0", "--metrics=false")
	waitReady(t, "http://"+addrs["http"])
	if status, _ := get(t, "http://"+addrs["http"]+"/metrics"); status != http.StatusNotFound {
		t.Errorf("--metrics=false: GET /metrics %d; want 404", status)
	}

	_, addrs = start(t, 2, "--models", models, "--grpc-addr", "127.0.0.1:0", "--http-addr", "", "--metrics-addr", "127.0.0.1:0")
	status, text := get(t, "http://"+addrs["metrics"]+"/metrics")
	if status != http.StatusOK || !strings.Contains(text, "servebench_requests_total") {
		t.Errorf("--metrics-addr: GET /metrics %d", status)
	}
	if status, _ := get(t, "http://"+addrs["metrics"]+"/v1/models"); status != http.StatusNotFound {
		t.Errorf("--metrics-addr serves /v1/models: %d; want 404", status)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
