package predictor

import (
	"context"
	"math"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	predictv1 "servebench/go_service/gen/predict/v1"
)

// flat is the row-major data of predict.v1 instances.
func flat(instances []*predictv1.Instance) []float32 {
	var out []float32
	for _, in := range instances {
		out = append(out, in.GetFeatures()...)
	}
	return out
}

// TestPredictBatchEqualsPredict: the same rows through PredictBatch and through predict.v1's
// Predict give the same answer, on every model (one predict path).
func TestPredictBatchEqualsPredict(t *testing.T) {
	p := loaded(t)
	list, err := p.ListModels()
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range list.GetModels() {
		t.Run(info.GetName(), func(t *testing.T) {
			n := int(info.GetNFeatures())
			instances := randomRows(testMaxBatch, n, 7)
			want, err := p.Predict(context.Background(), &predictv1.PredictRequest{Model: info.GetName(), Instances: instances})
			if err != nil {
				t.Fatal(err)
			}
			for _, version := range []string{"", info.GetVersion()} {
				res, _, err := p.PredictBatch(context.Background(), Batch{Model: info.GetName(), Version: version, Rows: testMaxBatch, Cols: n, Data: flat(instances)})
				if err != nil {
					t.Fatal(err)
				}
				if res.Model != info.GetName() || res.Version != info.GetVersion() || res.Rows() != testMaxBatch {
					t.Fatalf("result for %s version %q: model %q version %q rows %d", info.GetName(), version, res.Model, res.Version, res.Rows())
				}
				got := &predictv1.PredictResponse{Model: res.Model, ModelVersion: res.Version, Predictions: res.predictions()}
				if !proto.Equal(got, want) {
					t.Fatalf("PredictBatch answered %v\nPredict answered %v", got, want)
				}
				if (info.GetTask() == "classification") != (res.Classes != nil) || (res.Classes == nil) != (res.Values != nil) {
					t.Fatalf("a %s result with classes %v and values %v", info.GetTask(), res.Classes, res.Values)
				}
			}
		})
	}
}

func TestPredictBatchErrors(t *testing.T) {
	ready := loaded(t)
	notLoaded := New(Options{MaxBatch: testMaxBatch})
	nan := float32(math.NaN())
	iris := func(rows int, data ...float32) Batch {
		return Batch{Model: "iris-logreg", Rows: rows, Cols: 4, Data: data}
	}
	tests := []struct {
		name    string
		p       *Predictor
		batch   Batch
		code    codes.Code
		message string
	}{
		{"not ready", notLoaded, iris(1, setosa...), codes.Unavailable, "not ready"},
		{"empty model name", ready, Batch{Rows: 1, Cols: 4, Data: setosa}, codes.InvalidArgument, "model name is empty"},
		{"unknown model", ready, Batch{Model: "nope", Rows: 1, Cols: 4, Data: setosa}, codes.NotFound, `unknown model "nope"`},
		{"unknown version", ready, Batch{Model: "iris-logreg", Version: "999", Rows: 1, Cols: 4, Data: setosa}, codes.NotFound, `unknown version "999"`},
		{"unknown version beats no rows", ready, Batch{Model: "iris-logreg", Version: "x"}, codes.NotFound, "unknown version"},
		{"no rows", ready, iris(0), codes.InvalidArgument, "no instances"},
		{"over max-batch", ready, iris(testMaxBatch + 1), codes.InvalidArgument, "limit of 8"},
		{"wrong width", ready, Batch{Model: "iris-logreg", Rows: 1, Cols: 3, Data: []float32{1, 2, 3}}, codes.InvalidArgument, "rows have 3 features, model \"iris-logreg\" expects 4"},
		{"data shorter than rows × cols", ready, iris(2, setosa...), codes.InvalidArgument, "4 values do not fill 2 rows"},
		{"NaN", ready, iris(2, append(append([]float32{}, setosa...), 1, 2, nan, 4)...), codes.InvalidArgument, "instance 1 feature 2 is not finite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.p.PredictBatch(context.Background(), tc.batch)
			st, ok := status.FromError(err)
			if !ok || st.Code() != tc.code || !strings.Contains(st.Message(), tc.message) {
				t.Fatalf("got %v; want code %v with message containing %q", err, tc.code, tc.message)
			}
		})
	}
}

func TestGetModelVersion(t *testing.T) {
	p := loaded(t)
	info, err := p.GetModelVersion("iris-logreg", "")
	if err != nil {
		t.Fatal(err)
	}
	if same, err := p.GetModelVersion("iris-logreg", info.GetVersion()); err != nil || !proto.Equal(same, info) {
		t.Fatalf("GetModelVersion with the served version = %v, %v", same, err)
	}
	for _, tc := range []struct{ name, version string }{{"iris-logreg", info.GetVersion() + "0"}, {"nope", ""}} {
		if _, err := p.GetModelVersion(tc.name, tc.version); status.Code(err) != codes.NotFound {
			t.Errorf("GetModelVersion(%q, %q) = %v; want NOT_FOUND", tc.name, tc.version, err)
		}
	}
	if _, err := New(Options{MaxBatch: 1}).GetModelVersion("iris-logreg", ""); status.Code(err) != codes.Unavailable {
		t.Errorf("before Load: %v; want UNAVAILABLE", err)
	}
}
