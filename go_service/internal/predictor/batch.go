package predictor

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
)

// Batch is a protocol-neutral predict request: Rows × Cols float32 values, row-major, for one
// model. An empty Version means the version served; another is NOT_FOUND unless it is that one.
type Batch struct {
	Model, Version string
	Rows, Cols     int
	Data           []float32
}

// Result is the core's answer to a batch, shaped once for every protocol: a classifier's
// probabilities (Rows × len(Classes), row-major) and the index of each row's first maximum (its
// label is Classes[ClassIndex[i]]), or a regressor's value per row.
type Result struct {
	Model, Version string
	Classes        []string  // a classifier's class labels; nil for a regressor
	Probabilities  []float32 // classifier: Rows × len(Classes)
	ClassIndex     []int32   // classifier: one per row
	Values         []float32 // regressor: one per row
}

// Rows is the number of rows answered.
func (r Result) Rows() int {
	if r.Classes != nil {
		return len(r.ClassIndex)
	}
	return len(r.Values)
}

// PredictBatch runs one model on a batch: the predict path predict.v1 takes, for adapters whose
// requests carry a tensor (the Open Inference Protocol). It checks, in order: ready, model name,
// model, version, rows (at least one, at most --max-batch), columns (the model's n_features), the
// data's length, every value finite. It does not admit the request: the adapters call Admit first.
func (p *Predictor) PredictBatch(ctx context.Context, b Batch) (Result, Timings, error) {
	start := time.Now()
	set := p.models.Load()
	if set == nil {
		return Result{}, Timings{}, status.Error(codes.Unavailable, "server is not ready")
	}
	m, err := lookup(*set, b.Model, b.Version)
	if err != nil {
		return Result{}, Timings{}, err
	}
	if err := p.checkRows(b.Rows); err != nil {
		return Result{}, Timings{}, err
	}
	if b.Cols != m.nFeatures {
		return Result{}, Timings{}, status.Errorf(codes.InvalidArgument, "rows have %d features, model %q expects %d", b.Cols, b.Model, m.nFeatures)
	}
	if len(b.Data) != b.Rows*b.Cols {
		return Result{}, Timings{}, status.Errorf(codes.InvalidArgument, "%d values do not fill %d rows of %d features", len(b.Data), b.Rows, b.Cols)
	}
	if err := checkFinite(b.Data, b.Cols); err != nil {
		return Result{}, Timings{}, err
	}
	return p.run(ctx, start, m, b.Data, b.Rows)
}

// GetModelVersion describes one loaded model, as GetModel does; a non-empty version must be the
// one served (else NOT_FOUND).
func (p *Predictor) GetModelVersion(name, version string) (*predictv1.ModelInfo, error) {
	set := p.models.Load()
	if set == nil {
		return nil, status.Error(codes.Unavailable, "server is not ready")
	}
	m, err := lookup(*set, name, version)
	if err != nil {
		return nil, err
	}
	return m.info, nil
}

// result shapes a [batch, width] output into a Result.
func (m *model) result(out []float32, batch int) Result {
	res := Result{Model: m.info.GetName(), Version: m.info.GetVersion()}
	if !m.classifier {
		res.Values = make([]float32, batch)
		for i := range batch {
			res.Values[i] = out[i*m.width]
		}
		return res
	}
	res.Classes = m.labels
	res.Probabilities = out[: batch*m.width : batch*m.width]
	res.ClassIndex = make([]int32, batch)
	for i := range batch {
		res.ClassIndex[i] = int32(argmax(out[i*m.width : (i+1)*m.width]))
	}
	return res
}

// predictions is a Result as predict.v1's Predictions, one per row.
func (r Result) predictions() []*predictv1.Prediction {
	preds := make([]*predictv1.Prediction, r.Rows())
	if r.Classes == nil {
		for i := range preds {
			preds[i] = &predictv1.Prediction{Value: &r.Values[i]}
		}
		return preds
	}
	width := len(r.Classes)
	for i := range preds {
		idx := r.ClassIndex[i]
		preds[i] = &predictv1.Prediction{Label: r.Classes[idx], ClassIndex: &idx,
			Probabilities: r.Probabilities[i*width : (i+1)*width : (i+1)*width]}
	}
	return preds
}
