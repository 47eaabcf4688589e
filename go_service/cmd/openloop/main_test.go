package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inferencepb "servebench/go_service/gen/inference"
	predictv1 "servebench/go_service/gen/predict/v1"
)

// fake answers Predict after delay; model "bad" gets INVALID_ARGUMENT, and every call after the
// first shedFrom ones (when set) RESOURCE_EXHAUSTED.
type fake struct {
	predictv1.UnimplementedPredictionServiceServer
	delay    time.Duration
	shedFrom int64
	calls    atomic.Int64
}

func (f *fake) Predict(_ context.Context, r *predictv1.PredictRequest) (*predictv1.PredictResponse, error) {
	n := f.calls.Add(1)
	time.Sleep(f.delay)
	if r.GetModel() == "bad" {
		return nil, status.Error(codes.InvalidArgument, "bad model")
	}
	if f.shedFrom > 0 && n > f.shedFrom {
		return nil, status.Error(codes.ResourceExhausted, "shed")
	}
	return &predictv1.PredictResponse{Model: r.GetModel()}, nil
}

func serve(t *testing.T, f *fake) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	predictv1.RegisterPredictionServiceServer(s, f)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

func configFor(t *testing.T, addr, model string, rate float64, maxInflight int) *config {
	t.Helper()
	body := filepath.Join(t.TempDir(), "req.json")
	if err := os.WriteFile(body, []byte(`{"model":"`+model+`","instances":[{"features":[1,2,3,4]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &config{addr: addr, body: body, method: "Predict", rate: rate, duration: 500 * time.Millisecond,
		timeout: 5 * time.Second, conns: 2, maxInflight: maxInflight}
	t.Cleanup(c.close)
	return c
}

func TestCallsFollowTheScheduleAndAreAllWritten(t *testing.T) {
	f := &fake{}
	c := configFor(t, serve(t, f), "iris-logreg", 200, 1000)
	c.out = filepath.Join(t.TempDir(), "calls.csv")
	if err := run(c); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(c.out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	if lines[0] != "seq,due_ns,sent_ns,end_ns,code" || len(lines) != 1+100 {
		t.Fatalf("header %q and %d calls, want 100 (200/s for 0.5 s)", lines[0], len(lines)-1)
	}
	if got := f.calls.Load(); got != 100+2 { // plus one first call per connection
		t.Fatalf("server saw %d calls, want 102", got)
	}
	for k, line := range lines[1:] {
		fields := strings.Split(line, ",")
		if len(fields) != 5 || fields[4] != "OK" {
			t.Fatalf("call %d: %q", k, line)
		}
		if want := (time.Duration(k) * 5 * time.Millisecond).Nanoseconds(); fields[1] != strconv.FormatInt(want, 10) {
			t.Fatalf("call %d due at %s ns, want %d", k, fields[1], want)
		}
	}
}

func TestALateAnswerCountsFromWhenTheCallWasDueAndTheScheduleDoesNotWait(t *testing.T) {
	f := &fake{delay: 100 * time.Millisecond}
	c := configFor(t, serve(t, f), "iris-logreg", 100, 1000)
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	calls := schedule(c, c.duration)
	if len(calls) != 50 {
		t.Fatalf("%d calls, want 50", len(calls))
	}
	for k, cl := range calls {
		if cl.code != "OK" || cl.end-cl.due < (100*time.Millisecond).Nanoseconds() {
			t.Fatalf("call %d: %+v", k, cl)
		}
		if cl.sent-cl.due > (50 * time.Millisecond).Nanoseconds() {
			t.Fatalf("call %d sent %v after it was due: the schedule waited for answers", k, time.Duration(cl.sent-cl.due))
		}
	}
	if took := time.Since(started); took > 2*time.Second {
		t.Fatalf("0.5 s of 100 ms calls took %v: not open loop", took)
	}
}

func TestBeyondMaxInflightCallsAreRecordedNotSent(t *testing.T) {
	f := &fake{delay: 200 * time.Millisecond}
	c := configFor(t, serve(t, f), "iris-logreg", 100, 3)
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	calls := schedule(c, c.duration)
	notSent := 0
	for _, cl := range calls {
		if cl.code == "NOT_SENT" {
			notSent++
			if cl.sent != -1 || cl.end != -1 {
				t.Fatalf("a call not sent has times: %+v", cl)
			}
		}
	}
	if notSent == 0 || notSent == len(calls) {
		t.Fatalf("%d of %d calls not sent with -max-inflight 3 and 200 ms answers", notSent, len(calls))
	}
}

func TestARequestTheServerRefusesStopsTheRunBeforeTheSchedule(t *testing.T) {
	c := configFor(t, serve(t, &fake{}), "bad", 100, 1000)
	if err := run(c); err == nil || !strings.Contains(err.Error(), "first call") {
		t.Fatalf("want an error on the first call, got %v", err)
	}
}

func TestErrorsAreRecordedByCode(t *testing.T) {
	c := configFor(t, serve(t, &fake{shedFrom: 12}), "iris-logreg", 100, 1000)
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	codes := map[string]int{}
	for _, cl := range schedule(c, c.duration) {
		codes[cl.code]++
	}
	if codes["OK"] != 10 || codes["ResourceExhausted"] != 40 {
		t.Fatalf("codes %v, want 10 OK (2 first calls + 10) and 40 ResourceExhausted", codes)
	}
}

// v2fake answers ModelInfer; it counts the calls and keeps the last request.
type v2fake struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
	calls atomic.Int64
	last  atomic.Pointer[inferencepb.ModelInferRequest]
}

func (f *v2fake) ModelInfer(_ context.Context, r *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	f.calls.Add(1)
	f.last.Store(r)
	return &inferencepb.ModelInferResponse{ModelName: r.GetModelName()}, nil
}

func TestModelInferSendsTheV2RequestOnTheSchedule(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	f := &v2fake{}
	inferencepb.RegisterGRPCInferenceServiceServer(s, f)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	body := filepath.Join(t.TempDir(), "infer.json")
	request := `{"model_name":"iris-logreg","inputs":[{"name":"input","datatype":"FP32","shape":[1,4],` +
		`"contents":{"fp32_contents":[5.1,3.5,1.4,0.2]}}],"outputs":[{"name":"label"}]}`
	if err := os.WriteFile(body, []byte(request), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &config{addr: lis.Addr().String(), body: body, method: "ModelInfer", rate: 100,
		duration: 300 * time.Millisecond, timeout: 5 * time.Second, conns: 2, maxInflight: 1000}
	t.Cleanup(c.close)
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	calls := schedule(c, c.duration)
	for k, cl := range calls {
		if cl.code != "OK" {
			t.Fatalf("call %d: %+v", k, cl)
		}
	}
	if len(calls) != 30 || f.calls.Load() != 30+2 {
		t.Fatalf("%d calls written, server saw %d: want 30 and 32", len(calls), f.calls.Load())
	}
	got := f.last.Load()
	if got.GetModelName() != "iris-logreg" || got.GetInputs()[0].GetContents().GetFp32Contents()[0] != 5.1 ||
		got.GetOutputs()[0].GetName() != "label" {
		t.Fatalf("server got %v", got)
	}
}

func TestAnUnknownMethodIsRefused(t *testing.T) {
	c := configFor(t, serve(t, &fake{}), "iris-logreg", 100, 1000)
	c.method = "Nope"
	if err := run(c); err == nil || !strings.Contains(err.Error(), "-method") {
		t.Fatalf("want a -method error, got %v", err)
	}
}
