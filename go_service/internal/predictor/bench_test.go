package predictor

import (
	"context"
	"fmt"
	"testing"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/modeltest"
)

// BenchmarkPredict measures the core predict path (validate → tensor → ONNX Runtime → shape),
// in process, for every default model at batch 1, 32 (the bench's batched scenarios) and 64: the floor serving overhead is
// measured against. Sessions use 1 intra-op and 1 inter-op thread, as the servers do by default.
func BenchmarkPredict(b *testing.B) {
	modeltest.InitORT(b)
	p := New(Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 1024})
	if err := p.Load(modeltest.Models(b)); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for _, name := range modeltest.DefaultModels {
		info, err := p.GetModel(name)
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range []int{1, 32, 64} {
			req := &predictv1.PredictRequest{Model: name, Instances: randomRows(batch, int(info.GetNFeatures()), 42)}
			b.Run(fmt.Sprintf("model=%s/batch=%d", name, batch), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.Predict(ctx, req); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
