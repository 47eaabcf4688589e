package predictor

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

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

// bodies is where BenchmarkPredictWire reads its request bodies (<model>-batch<n>.pb and .json,
// as the bench writes them into a run's bodies/), so that it times the very bytes the servers are
// sent; empty: bodies made from randomRows.
var bodies = flag.String("predict.bodies", "", "directory of <model>-batch<n>.{pb,json} request bodies")

// BenchmarkPredictWire measures the work a server does for one predict request, in process:
// decode the request's bytes (binary protobuf, as gRPC and HTTP protobuf carry it, or the proto3
// JSON mapping, with the HTTP adapter's options), the core Predict (validate → tensor → ONNX Runtime
// → shape), encode the answer the same way. Serving overhead is measured against it: what a server
// costs beyond it is its transport and framework (the bench's floors), not the work itself.
func BenchmarkPredictWire(b *testing.B) {
	modeltest.InitORT(b)
	p := New(Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 1024})
	if err := p.Load(modeltest.Models(b)); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	// As httpapi's: unknown fields refused, answers with the proto field names.
	unmarshalJSON, marshalJSON := protojson.UnmarshalOptions{}, protojson.MarshalOptions{UseProtoNames: true}
	codecs := []struct {
		name      string
		ext       string
		unmarshal func([]byte, proto.Message) error
		marshal   func(proto.Message) ([]byte, error)
	}{
		{"protobuf", "pb", proto.Unmarshal, proto.Marshal},
		{"json", "json", unmarshalJSON.Unmarshal, marshalJSON.Marshal},
	}
	for _, name := range modeltest.DefaultModels {
		info, err := p.GetModel(name)
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range []int{1, 32, 64} {
			for _, c := range codecs {
				body := wireBody(b, c.ext, name, batch, int(info.GetNFeatures()), c.marshal)
				b.Run(fmt.Sprintf("model=%s/batch=%d/codec=%s", name, batch, c.name), func(b *testing.B) {
					ctx := context.Background()
					b.ReportAllocs()
					for b.Loop() {
						req := &predictv1.PredictRequest{}
						if err := c.unmarshal(body, req); err != nil {
							b.Fatal(err)
						}
						resp, err := p.Predict(ctx, req)
						if err != nil {
							b.Fatal(err)
						}
						if _, err := c.marshal(resp); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// wireBody is the request body of a model and batch in one encoding: the bench's file when
// -predict.bodies names a directory that has it, else randomRows marshalled.
func wireBody(b *testing.B, ext, model string, batch, nFeatures int, marshal func(proto.Message) ([]byte, error)) []byte {
	b.Helper()
	if *bodies != "" {
		data, err := os.ReadFile(filepath.Join(*bodies, fmt.Sprintf("%s-batch%d.%s", model, batch, ext)))
		if err == nil {
			return data
		}
		if !errors.Is(err, fs.ErrNotExist) {
			b.Fatal(err)
		}
	}
	data, err := marshal(&predictv1.PredictRequest{Model: model, Instances: randomRows(batch, nFeatures, 42)})
	if err != nil {
		b.Fatal(err)
	}
	return data
}
