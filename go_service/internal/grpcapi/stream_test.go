package grpcapi_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/predictor"
)

// iris is a one-row iris-logreg request.
func iris(features ...float32) *predictv1.PredictRequest {
	return &predictv1.PredictRequest{Model: "iris-logreg", Instances: []*predictv1.Instance{{Features: features}}}
}

var (
	setosa    = []float32{5.1, 3.5, 1.4, 0.2}
	virginica = []float32{6.7, 3.0, 5.2, 2.3}
)

// TestPredictStream: the answers come in request order, a refusal ends the stream with its code
// after the earlier answers, and a half-close ends it with OK.
func TestPredictStream(t *testing.T) {
	ready := predictv1.NewPredictionServiceClient(dial(t, loadedCore(t), true))
	notReady := predictv1.NewPredictionServiceClient(dial(t, predictor.New(predictor.Options{MaxBatch: 1}), false))
	tests := []struct {
		name       string
		client     predictv1.PredictionServiceClient
		reqs       []*predictv1.PredictRequest
		wantLabels []string
		wantCode   codes.Code // OK: the stream ends cleanly
	}{
		{"answers in order", ready, []*predictv1.PredictRequest{iris(setosa...), iris(virginica...), iris(setosa...), iris(virginica...)},
			[]string{"setosa", "virginica", "setosa", "virginica"}, codes.OK},
		{"no requests", ready, nil, nil, codes.OK},
		{"bad request mid-stream", ready, []*predictv1.PredictRequest{iris(setosa...), iris(virginica...), iris(1, 2), iris(setosa...)},
			[]string{"setosa", "virginica"}, codes.InvalidArgument},
		{"unknown model first", ready, []*predictv1.PredictRequest{{Model: "nope", Instances: iris(setosa...).Instances}}, nil, codes.NotFound},
		{"not ready", notReady, []*predictv1.PredictRequest{iris(setosa...)}, nil, codes.Unavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stream, err := tc.client.PredictStream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, req := range tc.reqs {
				if err := stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err) // io.EOF: the server ended the stream; Recv has its status
				}
			}
			if err := stream.CloseSend(); err != nil {
				t.Fatal(err)
			}
			var labels []string
			for {
				resp, err := stream.Recv()
				if err != nil {
					if errors.Is(err, io.EOF) {
						err = nil
					}
					if status.Code(err) != tc.wantCode {
						t.Fatalf("stream ended with %v; want %v", err, tc.wantCode)
					}
					break
				}
				labels = append(labels, resp.GetPredictions()[0].GetLabel())
			}
			if len(labels) != len(tc.wantLabels) {
				t.Fatalf("labels %v; want %v", labels, tc.wantLabels)
			}
			for i := range labels {
				if labels[i] != tc.wantLabels[i] {
					t.Fatalf("labels %v; want %v", labels, tc.wantLabels)
				}
			}
		})
	}
}

// TestPredictStreamInterleaved: a client that waits for each answer before sending the next
// request gets it (the server does not wait for the half-close).
func TestPredictStreamInterleaved(t *testing.T) {
	client := predictv1.NewPredictionServiceClient(dial(t, loadedCore(t), true))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := client.PredictStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range [][]float32{setosa, virginica, setosa} {
		if err := stream.Send(iris(f...)); err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil || resp.GetModel() != "iris-logreg" {
			t.Fatalf("answer %d: %v, %v", i, resp, err)
		}
	}
	stream.CloseSend()
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the half-close: %v; want io.EOF", err)
	}
}
