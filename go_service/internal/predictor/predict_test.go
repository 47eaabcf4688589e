package predictor

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/modeltest"
)

// TestIrisSetosa: the seed's example through the real libonnxruntime and the real model.
func TestIrisSetosa(t *testing.T) {
	lib := modeltest.InitORT(t)
	t.Logf("libonnxruntime: %s", lib)
	resp, err := loaded(t).Predict(context.Background(), &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows(setosa)})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetModel() != "iris-logreg" || resp.GetModelVersion() == "" || len(resp.GetPredictions()) != 1 {
		t.Fatalf("unexpected response %v", resp)
	}
	pred := resp.GetPredictions()[0]
	if pred.GetLabel() != "setosa" || pred.ClassIndex == nil || pred.GetClassIndex() != 0 {
		t.Fatalf("got label %q class_index %v; want setosa 0", pred.GetLabel(), pred.ClassIndex)
	}
	probs := pred.GetProbabilities()
	var sum float64
	for _, p := range probs {
		sum += float64(p)
	}
	if len(probs) != 3 || math.Abs(sum-1) > 1e-5 || probs[0] < 0.9 {
		t.Fatalf("probabilities %v: want 3 summing to 1 with setosa > 0.9", probs)
	}
	if pred.Value != nil {
		t.Errorf("classifier answer carries a value: %v", pred)
	}
}

func TestEveryModelAnswers(t *testing.T) {
	p := loaded(t)
	list, err := p.ListModels()
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range list.GetModels() {
		t.Run(info.GetName(), func(t *testing.T) {
			got, err := p.GetModel(info.GetName())
			if err != nil || !proto.Equal(got, info) {
				t.Fatalf("GetModel = %v, %v; want %v", got, err, info)
			}
			batch := 5
			resp, err := p.Predict(context.Background(), &predictv1.PredictRequest{Model: info.GetName(), Instances: randomRows(batch, int(info.GetNFeatures()), 1)})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.GetPredictions()) != batch {
				t.Fatalf("%d predictions for %d rows", len(resp.GetPredictions()), batch)
			}
			for i, pred := range resp.GetPredictions() {
				switch info.GetTask() {
				case "classification":
					if len(pred.GetProbabilities()) != len(info.GetClassLabels()) || pred.ClassIndex == nil ||
						info.GetClassLabels()[pred.GetClassIndex()] != pred.GetLabel() || pred.Value != nil {
						t.Fatalf("row %d: bad classifier answer %v", i, pred)
					}
				case "regression":
					if pred.Value == nil || pred.GetLabel() != "" || pred.ClassIndex != nil || len(pred.GetProbabilities()) != 0 {
						t.Fatalf("row %d: bad regressor answer %v", i, pred)
					}
				}
			}
		})
	}
}

// TestBatchEqualsSingleRows: row i of a batch answers as row i alone does.
func TestBatchEqualsSingleRows(t *testing.T) {
	p := loaded(t)
	for _, name := range modeltest.DefaultModels {
		t.Run(name, func(t *testing.T) {
			info, _ := p.GetModel(name)
			batch := randomRows(testMaxBatch, int(info.GetNFeatures()), 2)
			all, err := p.Predict(context.Background(), &predictv1.PredictRequest{Model: name, Instances: batch})
			if err != nil {
				t.Fatal(err)
			}
			for i, row := range batch {
				one, err := p.Predict(context.Background(), &predictv1.PredictRequest{Model: name, Instances: []*predictv1.Instance{row}})
				if err != nil {
					t.Fatal(err)
				}
				a, b := all.GetPredictions()[i], one.GetPredictions()[0]
				if a.GetLabel() != b.GetLabel() || math.Abs(float64(a.GetValue()-b.GetValue())) > 1e-4 {
					t.Fatalf("row %d: batch %v vs alone %v", i, a, b)
				}
				for j := range a.GetProbabilities() {
					if math.Abs(float64(a.GetProbabilities()[j]-b.GetProbabilities()[j])) > 1e-6 {
						t.Fatalf("row %d: batch %v vs alone %v", i, a, b)
					}
				}
			}
		})
	}
}

// TestConcurrentPredict: many goroutines share the sessions; every answer equals the
// sequential one (run with -race).
func TestConcurrentPredict(t *testing.T) {
	p := loaded(t)
	type job struct {
		req  *predictv1.PredictRequest
		want *predictv1.PredictResponse
	}
	var jobs []job
	for i, name := range modeltest.DefaultModels {
		info, _ := p.GetModel(name)
		for batch := 1; batch <= 3; batch++ {
			req := &predictv1.PredictRequest{Model: name, Instances: randomRows(batch, int(info.GetNFeatures()), int64(10*i+batch))}
			want, err := p.Predict(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, job{req, want})
		}
	}
	const goroutines, iterations = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for it := 0; it < iterations; it++ {
				j := jobs[(g+it)%len(jobs)]
				got, err := p.Predict(context.Background(), j.req)
				if err == nil && !proto.Equal(got, j.want) {
					err = fmt.Errorf("model %s: concurrent answer %v differs from sequential %v", j.req.GetModel(), got, j.want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// randomRows returns batch rows of n deterministic pseudo-random features in [0, 10).
func randomRows(batch, n int, seed int64) []*predictv1.Instance {
	r := rand.New(rand.NewSource(seed))
	out := make([]*predictv1.Instance, batch)
	for i := range out {
		f := make([]float32, n)
		for j := range f {
			f[j] = float32(r.Float64() * 10)
		}
		out[i] = &predictv1.Instance{Features: f}
	}
	return out
}
