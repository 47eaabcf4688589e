package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/tlstest"
)

// TestTLSEveryListener: with --tls-cert and --tls-key, HTTP answers over TLS in HTTP/2 and
// HTTP/1.1 (by ALPN), gRPC over TLS, and --metrics-addr over TLS too.
func TestTLSEveryListener(t *testing.T) {
	serverProcess(t)
	modeltest.InitORT(t)
	models := modeltest.ModelsDir(t)
	modeltest.Models(t)
	files := tlstest.New(t)
	_, addrs := start(t, 3, "--models", models, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--metrics-addr", "127.0.0.1:0", "--tls-cert", files.Cert, "--tls-key", files.Key)

	for _, protos := range [][]string{{"h2", "http/1.1"}, {"http/1.1"}} {
		tr := &http.Transport{TLSClientConfig: files.Client(protos...), ForceAttemptHTTP2: protos[0] == "h2"}
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := client.Get("https://" + addrs["http"] + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					if want := map[string]int{"h2": 2, "http/1.1": 1}[protos[0]]; resp.ProtoMajor != want {
						t.Errorf("ALPN %v: answered over %s", protos, resp.Proto)
					}
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("ALPN %v: /readyz not 200 within 20s: %v", protos, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		resp, err := client.Get("https://" + addrs["metrics"] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "servebench_requests_total") {
			t.Errorf("metrics over TLS: %d", resp.StatusCode)
		}
		tr.CloseIdleConnections()
	}

	conn, err := grpc.NewClient(addrs["grpc"], grpc.WithTransportCredentials(credentials.NewTLS(files.Client())))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || got.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health over TLS: %v, %v", got, err)
	}
}
