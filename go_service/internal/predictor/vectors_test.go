package predictor

// The shared, language-neutral test vectors (tests/vectors/*.json, format in
// tests/vectors/README.md) run against the Go core: every vector marked "core" — predictions
// from scikit-learn with their tolerance, and the core's validation errors. The Python core
// runs the same files in tests/python/test_vectors_core.py.

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/modeltest"
)

const vecFormat = "servebench-vectors/1"

var vecDir = filepath.Join("..", "..", "..", "tests", "vectors")

type vecFile struct {
	Format string `json:"format"`
	Server struct {
		MaxBatch int `json:"max_batch"`
	} `json:"server"`
	Vectors []vecCase `json:"vectors"`
}

type vecCase struct {
	Name     string          `json:"name"`
	Core     bool            `json:"core"`
	Request  json.RawMessage `json:"request"`
	Generate *struct {
		Model string    `json:"model"`
		Row   []float32 `json:"row"`
		Rows  int       `json:"rows"`
	} `json:"generate"`
	GRPC struct {
		DeadlineMS *float64 `json:"deadline_ms"`
		FloatBits  *struct {
			Row  int    `json:"row"`
			Col  int    `json:"col"`
			Bits string `json:"bits"`
		} `json:"float_bits"`
	} `json:"grpc"`
	Expect struct {
		Model        string `json:"model"`
		ModelVersion string `json:"model_version"`
		Predictions  []struct {
			Label         *string   `json:"label"`
			ClassIndex    *int32    `json:"class_index"`
			Probabilities []float64 `json:"probabilities"`
			Value         *float64  `json:"value"`
		} `json:"predictions"`
		Tolerance struct {
			Probabilities float64 `json:"probabilities"`
			Value         float64 `json:"value"`
		} `json:"tolerance"`
		Error *struct {
			GRPCCode       codes.Code `json:"grpc_code"` // "INVALID_ARGUMENT" etc.
			MessageMatches []string   `json:"message_matches"`
		} `json:"error"`
	} `json:"expect"`
	maxBatch int
}

func loadVectors(t *testing.T) []vecCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(vecDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no vector files in %s (%v): run 'make vectors'", vecDir, err)
	}
	var out []vecCase
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var f vecFile
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if f.Format != vecFormat {
			t.Fatalf("%s: format %q, expected %q", path, f.Format, vecFormat)
		}
		for _, v := range f.Vectors {
			v.maxBatch = f.Server.MaxBatch
			out = append(out, v)
		}
	}
	return out
}

// vecRequest builds the request as a gRPC server would receive it.
func vecRequest(t *testing.T, v vecCase) *predictv1.PredictRequest {
	req := &predictv1.PredictRequest{}
	if v.Generate != nil {
		req.Model = v.Generate.Model
		for i := 0; i < v.Generate.Rows; i++ {
			req.Instances = append(req.Instances, &predictv1.Instance{Features: append([]float32(nil), v.Generate.Row...)})
		}
	} else if err := protojson.Unmarshal(v.Request, req); err != nil {
		t.Fatalf("vector %q: request is not the proto3 JSON mapping of PredictRequest: %v", v.Name, err)
	}
	if fb := v.GRPC.FloatBits; fb != nil {
		bits, err := strconv.ParseUint(fb.Bits, 0, 32)
		if err != nil {
			t.Fatalf("vector %q: float_bits %q: %v", v.Name, fb.Bits, err)
		}
		req.Instances[fb.Row].Features[fb.Col] = math.Float32frombits(uint32(bits))
	}
	return req
}

func TestSharedVectors(t *testing.T) {
	modeltest.InitORT(t)
	models := modeltest.Models(t)
	predictors := map[int]*Predictor{}
	defer func() {
		for _, p := range predictors {
			p.Close()
		}
	}()
	ran := 0
	for _, v := range loadVectors(t) {
		if !v.Core {
			continue
		}
		p := predictors[v.maxBatch]
		if p == nil {
			p = New(Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: v.maxBatch})
			if err := p.Load(models); err != nil {
				t.Fatalf("Load: %v", err)
			}
			predictors[v.maxBatch] = p
		}
		ran++
		t.Run(v.Name, func(t *testing.T) {
			ctx := context.Background()
			if ms := v.GRPC.DeadlineMS; ms != nil {
				deadline := time.Now().Add(-time.Second) // 0: already passed
				if *ms > 0 {
					deadline = time.Now().Add(time.Duration(*ms * float64(time.Millisecond)))
				}
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, deadline)
				defer cancel()
			}
			resp, err := p.Predict(ctx, vecRequest(t, v))
			checkVector(t, v, resp, err)
		})
	}
	if ran == 0 {
		t.Fatal("no core vectors found")
	}
}

func checkVector(t *testing.T, v vecCase, resp *predictv1.PredictResponse, err error) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("vector %q on go-core: "+format, append([]any{v.Name}, args...)...)
	}
	if want := v.Expect.Error; want != nil {
		if err == nil {
			fail("expected %v, got %d predictions", want.GRPCCode, len(resp.GetPredictions()))
			return
		}
		st := status.Convert(err)
		if st.Code() != want.GRPCCode {
			fail("code = %v expected %v (message %q)", st.Code(), want.GRPCCode, st.Message())
		}
		for _, pattern := range want.MessageMatches {
			if !regexp.MustCompile(pattern).MatchString(st.Message()) {
				fail("message %q does not match /%s/", st.Message(), pattern)
			}
		}
		return
	}
	if err != nil {
		fail("expected %d predictions, got %v", len(v.Expect.Predictions), err)
		return
	}
	if resp.GetModel() != v.Expect.Model || resp.GetModelVersion() != v.Expect.ModelVersion {
		fail("model %q version %q, expected %q version %q", resp.GetModel(), resp.GetModelVersion(), v.Expect.Model, v.Expect.ModelVersion)
	}
	got := resp.GetPredictions()
	if len(got) != len(v.Expect.Predictions) {
		fail("%d predictions, expected %d", len(got), len(v.Expect.Predictions))
		return
	}
	tol := v.Expect.Tolerance
	for i, w := range v.Expect.Predictions {
		g := got[i]
		if w.Value != nil {
			if g.Value == nil || math.Abs(float64(g.GetValue())-*w.Value) > tol.Value {
				fail("predictions[%d].value = %v (set: %t) expected %v ± %g", i, g.GetValue(), g.Value != nil, *w.Value, tol.Value)
			}
			continue
		}
		if g.GetLabel() != *w.Label {
			fail("predictions[%d].label = %q expected %q", i, g.GetLabel(), *w.Label)
		}
		if g.ClassIndex == nil || g.GetClassIndex() != *w.ClassIndex {
			fail("predictions[%d].class_index = %v expected %d", i, g.ClassIndex, *w.ClassIndex)
		}
		if len(g.GetProbabilities()) != len(w.Probabilities) {
			fail("predictions[%d] has %d probabilities, expected %d", i, len(g.GetProbabilities()), len(w.Probabilities))
			continue
		}
		for j, want := range w.Probabilities {
			if p := float64(g.GetProbabilities()[j]); math.Abs(p-want) > tol.Probabilities {
				fail("predictions[%d].probabilities[%d] = %.9g expected %.9g ± %g", i, j, p, want, tol.Probabilities)
			}
		}
	}
}
