package grpcapi_test

import (
	"context"
	"testing"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/grpcapi"
	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
)

// BenchmarkPredictGRPC is one unary Predict over an in-memory connection (bufconn), with
// metrics off and on: the difference is the cost of recording, the timing codec included.
func BenchmarkPredictGRPC(b *testing.B) {
	modeltest.InitORT(b)
	c := predictor.New(predictor.Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 1024})
	if err := c.Load(modeltest.Only(b, "iris-logreg")); err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := iris(setosa...)
	for _, bc := range []struct {
		name string
		m    *metrics.Metrics
	}{{"metrics=off", nil}, {"metrics=on", metrics.New()}} {
		client := predictv1.NewPredictionServiceClient(dialWith(b, c, true, grpcapi.Options{MaxRecv: testMaxRecv, Metrics: bc.m}))
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Predict(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
