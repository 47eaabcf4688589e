package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/modeltest"
)

// The test binary doubles as the server: with GO_SERVICE_TEST_MAIN=1 it runs main's run().
func TestMain(m *testing.M) {
	if os.Getenv("GO_SERVICE_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// serverProcess skips a test that starts server processes under -short (make test-unit).
func serverProcess(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts server processes; not in -short")
	}
}

func command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "GO_SERVICE_TEST_MAIN=1")
	return cmd
}

var listening = regexp.MustCompile(`(grpc|http|metrics) listening on (\S+:\d+)`)

// start runs the server with args and returns its process and the address of each
// "<proto> listening on" line, once want lines have come.
func start(t *testing.T, want int, args ...string) (*exec.Cmd, map[string]string) {
	t.Helper()
	cmd := command(args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	addrs := map[string]string{}
	lines := bufio.NewScanner(stderr)
	for len(addrs) < want && lines.Scan() {
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			if _, dup := addrs[m[1]]; dup {
				t.Fatalf("second %s listening line: %q", m[1], lines.Text())
			}
			addrs[m[1]] = m[2]
		}
	}
	go io.Copy(io.Discard, stderr)
	if len(addrs) < want {
		t.Fatalf("listening lines missing; got %v", addrs)
	}
	return cmd, addrs
}

// TestServeAndGracefulShutdown starts the real server on free ports, predicts over both
// protocols, then sends SIGTERM while an HTTP request is in flight and a health Watch is open:
// health must turn NOT_SERVING, the in-flight request must still succeed, and the exit be 0.
func TestServeAndGracefulShutdown(t *testing.T) {
	serverProcess(t)
	modeltest.InitORT(t)
	modeltest.Models(t)
	cmd, addrs := start(t, 2, "--models", modeltest.ModelsDir(t), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	base := "http://" + addrs["http"]
	waitReady(t, base)

	resp, err := http.Post(base+"/v1/predict", "application/json", strings.NewReader(`{"model":"iris-logreg","instances":[{"features":[5.1,3.5,1.4,0.2]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if label := labelOf(t, resp); label != "setosa" {
		t.Fatalf("HTTP label %q", label)
	}
	conn, err := grpc.NewClient(addrs["grpc"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	gresp, err := predictv1.NewPredictionServiceClient(conn).Predict(ctx, &predictv1.PredictRequest{
		Model: "iris-logreg", Instances: []*predictv1.Instance{{Features: []float32{5.1, 3.5, 1.4, 0.2}}}})
	if err != nil || gresp.GetPredictions()[0].GetLabel() != "setosa" {
		t.Fatalf("gRPC Predict = %v, %v", gresp, err)
	}
	for _, want := range []string{
		`servebench_requests_total{code="OK",method="Predict",protocol="http"} 1`,
		`servebench_requests_total{code="OK",method="Predict",protocol="grpc"} 1`,
	} {
		if status, text := get(t, base+"/metrics"); status != http.StatusOK || !strings.Contains(text, want) {
			t.Fatalf("GET /metrics: %d, lacks %s", status, want)
		}
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watch, err := healthpb.NewHealthClient(conn).Watch(watchCtx, &healthpb.HealthCheckRequest{Service: "predict.v1.PredictionService"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health before SIGTERM: %v, %v", st, err)
	}

	// An HTTP request whose body is still arriving when SIGTERM comes.
	body, bodyWriter := io.Pipe()
	inflight := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("POST", base+"/v1/predict", body)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("in-flight request: %v", err)
		}
		inflight <- resp
	}()
	io.WriteString(bodyWriter, `{"model":"iris-logreg",`)
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st, err := watch.Recv(); err != nil || st.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health after SIGTERM: %v, %v", st, err)
	}
	stopWatch()
	io.WriteString(bodyWriter, `"instances":[{"features":[5.1,3.5,1.4,0.2]}]}`)
	bodyWriter.Close()
	if resp := <-inflight; resp == nil || labelOf(t, resp) != "setosa" {
		t.Fatal("the in-flight request did not complete")
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; want status 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("server did not exit within 20s of SIGTERM")
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("/readyz did not answer 200 within 20s")
}

func labelOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var out struct {
		Predictions []struct{ Label string } `json:"predictions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Predictions) != 1 {
		t.Fatalf("status %d, decode error %v", resp.StatusCode, err)
	}
	return out.Predictions[0].Label
}

// TestStartupFailures: every refusal to start is one clear line on stderr and exit status 1.
func TestStartupFailures(t *testing.T) {
	serverProcess(t)
	lib := modeltest.InitORT(t)
	models := modeltest.ModelsDir(t)
	modeltest.Models(t)
	tmp := t.TempDir()
	badSHA := filepath.Join(tmp, "badsha")
	copyModel(t, filepath.Join(models, "iris-logreg", "1"), filepath.Join(badSHA, "iris-logreg", "1"), strings.Repeat("0", 64))
	notALib := filepath.Join(tmp, "libonnxruntime.so.txt")
	os.WriteFile(notALib, []byte("not a shared library"), 0o644)
	serve := []string{"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}

	tests := []struct {
		name string
		args []string
		want []string // substrings of the one line
	}{
		{"missing library", append([]string{"--models", models, "--ort-lib", "/nonexistent/libonnxruntime.so"}, serve...), []string{"/nonexistent/libonnxruntime.so", "make setup", "--ort-lib"}},
		{"not a library", append([]string{"--models", models, "--ort-lib", notALib}, serve...), []string{notALib, "make setup"}},
		{"library without ORT API 24", append([]string{"--models", models, "--ort-lib", fakeOldLibrary(t)}, serve...), []string{"1.20.0-fake", "API version 24", "make setup"}},
		{"sha256 mismatch", append([]string{"--models", badSHA, "--ort-lib", lib}, serve...), []string{"sha256 mismatch", "model.onnx"}},
		{"no models", append([]string{"--models", t.TempDir(), "--ort-lib", lib}, serve...), []string{"no models", "make models"}},
		{"nothing to serve", []string{"--models", models, "--grpc-addr", "", "--http-addr", ""}, []string{"nothing to serve"}},
		{"bad max-batch", append([]string{"--models", models, "--max-batch", "0"}, serve...), []string{"--max-batch"}},
		{"negative max-inflight", append([]string{"--models", models, "--max-inflight", "-1"}, serve...), []string{"--max-inflight"}},
		{"negative max-queue-delay", append([]string{"--models", models, "--max-queue-delay", "-1s"}, serve...), []string{"--max-queue-delay"}},
		{"max-queue-delay over an hour", append([]string{"--models", models, "--max-queue-delay", "2h"}, serve...), []string{"--max-queue-delay", "1h0m0s"}},
		{"negative timeout", append([]string{"--models", models, "--http-idle-timeout", "-1s"}, serve...), []string{"timeout"}},
		{"metrics-addr without metrics", append([]string{"--models", models, "--metrics=false", "--metrics-addr", "127.0.0.1:0"}, serve...), []string{"--metrics-addr"}},
		{"tls-cert without tls-key", append([]string{"--models", models, "--tls-cert", notALib}, serve...), []string{"--tls-cert and --tls-key"}},
		{"not a certificate", append([]string{"--models", models, "--tls-cert", notALib, "--tls-key", notALib}, serve...), []string{"--tls-cert/--tls-key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			cmd := command(tc.args...)
			cmd.Stderr = &stderr
			err := cmd.Run()
			exit, ok := err.(*exec.ExitError)
			if !ok || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v; want status 1 (stderr %q)", err, stderr.String())
			}
			out := strings.TrimSuffix(stderr.String(), "\n")
			if strings.Contains(out, "\n") || !strings.HasPrefix(out, "go_service: ") {
				t.Fatalf("want exactly one 'go_service: ...' line, got:\n%s", stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("line %q lacks %q", out, w)
				}
			}
		})
	}
}

// copyModel copies a model directory, replacing the sha256 in its metadata.
func copyModel(t *testing.T, from, to, sha string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	onnx, err := os.ReadFile(filepath.Join(from, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	raw, err := os.ReadFile(filepath.Join(from, "metadata.json"))
	if err != nil || json.Unmarshal(raw, &meta) != nil {
		t.Fatalf("metadata: %v", err)
	}
	meta["sha256"] = sha
	raw, _ = json.Marshal(meta)
	os.WriteFile(filepath.Join(to, "metadata.json"), raw, 0o644)
	os.WriteFile(filepath.Join(to, "model.onnx"), onnx, 0o644)
}

// fakeOldLibrary builds a shared library that behaves like an ONNX Runtime too old for
// onnxruntime_go v1.27.0: GetApi(24) prints a complaint to stderr and returns NULL.
func fakeOldLibrary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "fake.c")
	os.WriteFile(src, []byte(`#include <stdio.h>
typedef struct { const void *(*GetApi)(unsigned); const char *(*GetVersionString)(void); } OrtApiBase;
static const void *get_api(unsigned v) {
  fprintf(stderr, "The requested API version [%u] is not available, only API versions [1, 20] are supported in this build. Current ORT Version is: 1.20.0-fake\n", v);
  return NULL;
}
static const char *version(void) { return "1.20.0-fake"; }
static const OrtApiBase base = { get_api, version };
const OrtApiBase *OrtGetApiBase(void) { return &base; }
`), 0o644)
	cc := "cc"
	if out, err := exec.Command("go", "env", "CC").Output(); err == nil && strings.TrimSpace(string(out)) != "" {
		cc = strings.Fields(string(out))[0]
	}
	lib := filepath.Join(dir, "libonnxruntime.so.1.20.0")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("building the fake library with %s (cgo needs a C compiler anyway): %v\n%s", cc, err, out)
	}
	return lib
}

// TestServeGC: the collector runs at gcPercent unless GOGC is set, which it leaves alone.
func TestServeGC(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	t.Setenv("GOGC", "")
	if got := serveGC(); got != strconv.Itoa(gcPercent) {
		t.Fatalf("serveGC() = %q without GOGC; want %d", got, gcPercent)
	}
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Fatalf("GC percent %d without GOGC; want %d", got, gcPercent)
	}

	t.Setenv("GOGC", "150")
	if got := serveGC(); got != "150" {
		t.Fatalf("serveGC() = %q with GOGC=150", got)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent %d with GOGC set: serveGC changed it", got)
	}
}
