package v2grpc_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inferencepb "servebench/go_service/gen/inference"
	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/predictor"
	"servebench/go_service/internal/v2cases"
	"servebench/go_service/internal/v2grpc"
)

func TestHealthAndMetadata(t *testing.T) {
	ctx := context.Background()
	ready := v2grpc.New(v2cases.Predictor(t), v2grpc.Options{})
	loading := v2grpc.New(predictor.New(predictor.Options{MaxBatch: 8}), v2grpc.Options{})
	for _, tc := range []struct {
		name    string
		s       *v2grpc.Server
		live    bool
		ready   bool
		modelOK bool
	}{{"ready", ready, true, true, true}, {"loading", loading, true, false, false}} {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := tc.s.ServerLive(ctx, &inferencepb.ServerLiveRequest{}); err != nil || r.GetLive() != tc.live {
				t.Errorf("ServerLive %v, %v", r, err)
			}
			if r, err := tc.s.ServerReady(ctx, &inferencepb.ServerReadyRequest{}); err != nil || r.GetReady() != tc.ready {
				t.Errorf("ServerReady %v, %v", r, err)
			}
			if r, err := tc.s.ModelReady(ctx, &inferencepb.ModelReadyRequest{Name: "iris-logreg", Version: "1"}); err != nil || r.GetReady() != tc.modelOK {
				t.Errorf("ModelReady %v, %v", r, err)
			}
			r, err := tc.s.ServerMetadata(ctx, &inferencepb.ServerMetadataRequest{})
			if err != nil || r.GetName() != "servebench" || !slices.Equal(r.GetExtensions(), []string{"binary_tensor_data"}) {
				t.Errorf("ServerMetadata %v, %v", r, err)
			}
		})
	}
	for _, req := range []*inferencepb.ModelReadyRequest{{Name: "nope"}, {Name: "iris-logreg", Version: "2"}} {
		if _, err := ready.ModelReady(ctx, req); status.Code(err) != codes.NotFound {
			t.Errorf("ModelReady(%v) = %v; want NOT_FOUND", req, err)
		}
	}
	md, err := ready.ModelMetadata(ctx, &inferencepb.ModelMetadataRequest{Name: "iris-logreg"})
	if err != nil {
		t.Fatal(err)
	}
	var outputs []string
	for _, o := range md.GetOutputs() {
		outputs = append(outputs, o.GetName())
	}
	if md.GetPlatform() != "onnx_onnxv1" || !slices.Equal(md.GetVersions(), []string{"1"}) || md.GetInputs()[0].GetName() != "input" ||
		!slices.Equal(md.GetInputs()[0].GetShape(), []int64{-1, 4}) || !slices.Equal(outputs, []string{"label", "class_index", "probabilities"}) ||
		md.GetProperties()["task"] != "classification" {
		t.Errorf("ModelMetadata %v", md)
	}
	if _, err := loading.ModelMetadata(ctx, &inferencepb.ModelMetadataRequest{Name: "iris-logreg"}); status.Code(err) != codes.Unavailable {
		t.Errorf("ModelMetadata while loading: %v; want UNAVAILABLE", err)
	}
	if _, err := ready.ModelMetadata(ctx, &inferencepb.ModelMetadataRequest{Name: "iris-logreg", Version: "7"}); status.Code(err) != codes.NotFound {
		t.Errorf("ModelMetadata of an unknown version: %v; want NOT_FOUND", err)
	}
}

// fakeCore refuses or fails as told.
type fakeCore struct{ admit, predict error }

func (f fakeCore) Admit(context.Context, any, *admission.Lane) error   { return f.admit }
func (f fakeCore) Release(any, *admission.Lane)                        {}
func (f fakeCore) Refuses(context.Context, any, *admission.Lane) error { return f.admit }
func (f fakeCore) Ready() bool                                         { return true }
func (f fakeCore) PredictBatch(context.Context, predictor.Batch) (predictor.Result, predictor.Timings, error) {
	return predictor.Result{}, predictor.Timings{}, f.predict
}
func (f fakeCore) GetModelVersion(string, string) (*predictv1.ModelInfo, error) {
	return &predictv1.ModelInfo{Name: "m", Version: "1", Task: "regression", InputName: "input", NFeatures: 1}, nil
}

// TestCoreErrorsPassThrough: the core's and admission's status errors reach the client with their
// code, the message capped.
func TestCoreErrorsPassThrough(t *testing.T) {
	req := &inferencepb.ModelInferRequest{ModelName: "m", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{
		{Name: "input", Datatype: "FP32", Shape: []int64{1, 1}, Contents: &inferencepb.InferTensorContents{Fp32Contents: []float32{1}}}}}
	long := strings.Repeat("x", 1000)
	for _, tc := range []struct {
		name string
		core fakeCore
		code codes.Code
	}{
		{"overloaded", fakeCore{admit: status.Error(codes.ResourceExhausted, "overloaded")}, codes.ResourceExhausted},
		{"deadline", fakeCore{predict: status.Error(codes.DeadlineExceeded, "deadline")}, codes.DeadlineExceeded},
		{"internal", fakeCore{predict: status.Error(codes.Internal, "internal error")}, codes.Internal},
		{"long message", fakeCore{predict: status.Error(codes.InvalidArgument, long)}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v2grpc.New(tc.core, v2grpc.Options{}).ModelInfer(context.Background(), req)
			if st := status.Convert(err); st.Code() != tc.code || len([]rune(st.Message())) > 256 {
				t.Fatalf("got %v (%d characters); want %v, at most 256 characters", st.Code(), len(st.Message()), tc.code)
			}
		})
	}
}

// TestDeadlinePassed: a call whose deadline has passed is DEADLINE_EXCEEDED, without inference.
func TestDeadlinePassed(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	req := &inferencepb.ModelInferRequest{ModelName: "iris-logreg", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{
		{Name: "input", Datatype: "FP32", Shape: []int64{1, 4}, Contents: &inferencepb.InferTensorContents{Fp32Contents: []float32{5.1, 3.5, 1.4, 0.2}}}}}
	if _, err := v2grpc.New(v2cases.Predictor(t), v2grpc.Options{}).ModelInfer(ctx, req); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v; want DEADLINE_EXCEEDED", err)
	}
}
