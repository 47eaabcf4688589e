package predictor

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/modeltest"
)

const testMaxBatch = 8

var (
	sharedOnce sync.Once
	shared     *Predictor
	sharedErr  error
)

// loaded returns one Predictor with every model, shared by the read-only tests of this binary.
func loaded(tb testing.TB) *Predictor {
	tb.Helper()
	modeltest.InitORT(tb)
	models := modeltest.Models(tb)
	sharedOnce.Do(func() {
		shared = New(Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: testMaxBatch})
		sharedErr = shared.Load(models)
	})
	if sharedErr != nil {
		tb.Fatalf("Load: %v", sharedErr)
	}
	return shared
}

func rows(features ...[]float32) []*predictv1.Instance {
	out := make([]*predictv1.Instance, len(features))
	for i, f := range features {
		out[i] = &predictv1.Instance{Features: f}
	}
	return out
}

func repeat(n int, f []float32) []*predictv1.Instance {
	out := make([]*predictv1.Instance, n)
	for i := range out {
		out[i] = &predictv1.Instance{Features: f}
	}
	return out
}

var setosa = []float32{5.1, 3.5, 1.4, 0.2}

// TestPredictErrors covers every row of the shared validation order / error table.
func TestPredictErrors(t *testing.T) {
	ready := loaded(t)
	notLoaded := New(Options{MaxBatch: testMaxBatch})
	closed := New(Options{MaxBatch: testMaxBatch})
	closed.Close()
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	nan, inf := float32(math.NaN()), float32(math.Inf(1))

	tests := []struct {
		name    string
		p       *Predictor
		ctx     context.Context
		req     *predictv1.PredictRequest
		code    codes.Code
		message string // substring the message must contain
	}{
		{"not ready", notLoaded, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows(setosa)}, codes.Unavailable, "not ready"},
		{"shut down", closed, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows(setosa)}, codes.Unavailable, "not ready"},
		{"not ready beats bad request", notLoaded, nil, &predictv1.PredictRequest{}, codes.Unavailable, "not ready"},
		{"empty model name", ready, nil, &predictv1.PredictRequest{Instances: rows(setosa)}, codes.InvalidArgument, "model name is empty"},
		{"unknown model", ready, nil, &predictv1.PredictRequest{Model: "nope", Instances: rows(setosa)}, codes.NotFound, `"nope"`},
		{"unknown model beats no instances", ready, nil, &predictv1.PredictRequest{Model: "nope"}, codes.NotFound, "unknown model"},
		{"no instances", ready, nil, &predictv1.PredictRequest{Model: "iris-logreg"}, codes.InvalidArgument, "no instances"},
		{"batch over max-batch", ready, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: repeat(testMaxBatch+1, setosa)}, codes.InvalidArgument, "limit of 8"},
		{"batch over max-batch beats bad rows", ready, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: repeat(testMaxBatch+1, []float32{1})}, codes.InvalidArgument, "limit"},
		{"too few features", ready, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows([]float32{1, 2, 3})}, codes.InvalidArgument, "instance 0 has 3 features"},
		{"too many features", ready, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows([]float32{1, 2, 3, 4, 5})}, codes.InvalidArgument, "instance 0 has 5 features"},
		{"empty row", ready, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows([]float32{})}, codes.InvalidArgument, "instance 0 has 0 features"},
		{"ragged rows", ready, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows(setosa, []float32{1, 2})}, codes.InvalidArgument, "instance 1 has 2 features"},
		{"ragged beats NaN in an earlier row", ready, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows([]float32{1, nan, 3, 4}, []float32{1})}, codes.InvalidArgument, "instance 1 has 1 features"},
		{"NaN", ready, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows(setosa, []float32{1, 2, nan, 4})}, codes.InvalidArgument, "instance 1 feature 2 is not finite"},
		{"+Inf", ready, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows([]float32{inf, 2, 3, 4})}, codes.InvalidArgument, "instance 0 feature 0 is not finite"},
		{"-Inf", ready, nil, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows([]float32{1, 2, 3, -inf})}, codes.InvalidArgument, "instance 0 feature 3 is not finite"},
		{"deadline passed", ready, expired, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows(setosa)}, codes.DeadlineExceeded, "deadline"},
		{"NaN beats deadline", ready, expired, &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows([]float32{nan, 2, 3, 4})}, codes.InvalidArgument, "not finite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			resp, err := tc.p.Predict(ctx, tc.req)
			if resp != nil {
				t.Errorf("got a response %v alongside the error", resp)
			}
			st, ok := status.FromError(err)
			if !ok || st.Code() != tc.code || !strings.Contains(st.Message(), tc.message) {
				t.Fatalf("got %v; want code %v with message containing %q", err, tc.code, tc.message)
			}
		})
	}
}

// TestPredictInternalError: an inference failure is INTERNAL with a generic message; the details
// go to the log only. The failure is induced by corrupting a loaded model's expected width.
func TestPredictInternalError(t *testing.T) {
	modeltest.InitORT(t)
	var logs bytes.Buffer
	p := New(Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: testMaxBatch, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := p.Load(modeltest.Models(t)); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	(*p.models.Load())["iris-logreg"].nFeatures = 5 // the graph wants 4: ONNX Runtime rejects the input
	_, err := p.Predict(context.Background(), &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows([]float32{1, 2, 3, 4, 5})})
	if st := status.Convert(err); st.Code() != codes.Internal || st.Message() != "internal error" {
		t.Fatalf("got %v; want INTERNAL \"internal error\"", err)
	}
	if !strings.Contains(logs.String(), "inference failed") || !strings.Contains(logs.String(), "iris-logreg") {
		t.Errorf("details not logged; log was %q", logs.String())
	}
}

func TestReadiness(t *testing.T) {
	modeltest.InitORT(t)
	p := New(Options{MaxBatch: 1})
	if p.Ready() {
		t.Fatal("ready before Load")
	}
	if _, err := p.ListModels(); status.Code(err) != codes.Unavailable {
		t.Fatalf("ListModels before Load: %v", err)
	}
	if err := p.Load(modeltest.Models(t)); err != nil {
		t.Fatal(err)
	}
	if !p.Ready() {
		t.Fatal("not ready after Load")
	}
	p.Drain()
	if p.Ready() {
		t.Fatal("ready while draining")
	}
	// Requests already admitted when draining starts still complete.
	if _, err := p.Predict(context.Background(), &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows(setosa)}); err != nil {
		t.Fatalf("Predict while draining: %v", err)
	}
	p.Close()
	if _, err := p.Predict(context.Background(), &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows(setosa)}); status.Code(err) != codes.Unavailable {
		t.Fatalf("Predict after Close: %v", err)
	}
}

func TestValueBound(t *testing.T) {
	modeltest.InitORT(t)
	if got := New(Options{MaxBatch: testMaxBatch}).ValueBound(); got != 0 {
		t.Fatalf("ValueBound before Load: %d; want 0", got)
	}
	widest := 0
	for _, m := range modeltest.Models(t) {
		widest = max(widest, m.NFeatures)
	}
	if got, want := loaded(t).ValueBound(), int64(testMaxBatch*(widest+1)); got != want || widest == 0 {
		t.Fatalf("ValueBound %d; want %d (max batch %d × (widest %d + 1))", got, want, testMaxBatch, widest)
	}
}

func TestArgmaxFirstMaximum(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name string
		row  []float32
		want int
	}{
		{"single", []float32{0.3}, 0},
		{"clear max", []float32{0.1, 0.7, 0.2}, 1},
		{"tie picks first", []float32{0.4, 0.4, 0.2}, 0},
		{"tie later", []float32{0.2, 0.4, 0.4}, 1},
		{"NaN counts as max like numpy", []float32{0.2, nan, 0.9}, 1},
		{"first NaN wins", []float32{nan, 0.5, nan}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := argmax(tc.row); got != tc.want {
				t.Fatalf("argmax(%v) = %d; want %d", tc.row, got, tc.want)
			}
		})
	}
}
