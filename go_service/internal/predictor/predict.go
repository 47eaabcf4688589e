package predictor

import (
	"context"
	"errors"
	"math"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/clip"
)

// Timings are the durations of the core's phases of one successful Predict, for metrics.
type Timings struct {
	Tensor    time.Duration // validation and the input tensor, without waiting for a run slot
	Inference time.Duration // the session Run call alone
	Shape     time.Duration // the output shaped into the answer (part of the encode phase)
}

// Predict runs one model on a batch, checking the request in the shared validation order.
// It does not admit the request: the adapters call Admit first.
func (p *Predictor) Predict(ctx context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, error) {
	resp, _, err := p.PredictTimed(ctx, req)
	return resp, err
}

// PredictTimed is Predict, also returning how long its phases took: predict.v1's request turned
// into a Batch, the one predict path (run), and its Result turned into Predictions.
func (p *Predictor) PredictTimed(ctx context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, Timings, error) {
	start := time.Now()
	set := p.models.Load()
	if set == nil {
		return nil, Timings{}, status.Error(codes.Unavailable, "server is not ready")
	}
	m, data, err := p.validate(*set, req)
	if err != nil {
		return nil, Timings{}, err
	}
	res, t, err := p.run(ctx, start, m, data, len(req.GetInstances()))
	if err != nil {
		return nil, Timings{}, err
	}
	shaping := time.Now()
	resp := &predictv1.PredictResponse{Model: res.Model, ModelVersion: res.Version, Predictions: res.predictions()}
	t.Shape += time.Since(shaping)
	return resp, t, nil
}

// validate checks a predict.v1 request in the shared order (name, model, rows, batch, features,
// finite) and returns the model and the row-major input.
func (p *Predictor) validate(set map[string]*model, req *predictv1.PredictRequest) (*model, []float32, error) {
	m, err := lookup(set, req.GetModel(), "")
	if err != nil {
		return nil, nil, err
	}
	rows := req.GetInstances()
	if err := p.checkRows(len(rows)); err != nil {
		return nil, nil, err
	}
	for i, row := range rows {
		if n := len(row.GetFeatures()); n != m.nFeatures {
			return nil, nil, status.Errorf(codes.InvalidArgument, "instance %d has %d features, model %q expects %d", i, n, m.info.GetName(), m.nFeatures)
		}
	}
	data := make([]float32, 0, len(rows)*m.nFeatures)
	for _, row := range rows {
		data = append(data, row.GetFeatures()...)
	}
	if err := checkFinite(data, m.nFeatures); err != nil {
		return nil, nil, err
	}
	return m, data, nil
}

// lookup finds a model by name and, unless version is empty, checks that version is the one
// served (versions.json: one version per name).
func lookup(set map[string]*model, name, version string) (*model, error) {
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "model name is empty")
	}
	m, ok := set[name]
	if !ok {
		return nil, status.Error(codes.NotFound, "unknown model "+clip.Quote(name))
	}
	if version != "" && version != m.info.GetVersion() {
		return nil, status.Errorf(codes.NotFound, "unknown version %s of model %q (it serves version %q)",
			clip.Quote(version), name, m.info.GetVersion())
	}
	return m, nil
}

// checkRows: at least one row and at most MaxBatch.
func (p *Predictor) checkRows(n int) error {
	if n == 0 {
		return status.Error(codes.InvalidArgument, "no instances")
	}
	if n > p.opts.MaxBatch {
		return status.Errorf(codes.InvalidArgument, "batch of %d instances exceeds the limit of %d", n, p.opts.MaxBatch)
	}
	return nil
}

// checkFinite refuses a NaN or ±Inf value of row-major data with cols columns.
func checkFinite(data []float32, cols int) error {
	for k, v := range data {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return status.Errorf(codes.InvalidArgument, "instance %d feature %d is not finite (%v)", k/cols, k%cols, f)
		}
	}
	return nil
}

// run is the one predict path after validation: a run slot, the tensors and the session Run, and
// the output shaped into a Result. start is when the request reached the core.
func (p *Predictor) run(ctx context.Context, start time.Time, m *model, data []float32, rows int) (Result, Timings, error) {
	waited, err := p.acquireRun(ctx)
	if err != nil {
		return Result{}, Timings{}, err
	}
	out, t, err := p.infer(ctx, m, data, rows)
	<-p.runs
	if err != nil {
		return Result{}, Timings{}, err
	}
	t.Tensor = t.started.Sub(start) - waited
	shaping := time.Now()
	res := m.result(out, rows)
	t.Shape = time.Since(shaping)
	return res, t.Timings, nil
}

// acquireRun takes a run slot, waiting while MaxRuns calls are in flight (the adapters' work
// lanes, a slot per CPU each, are what waits here), and returns how long it waited.
func (p *Predictor) acquireRun(ctx context.Context) (time.Duration, error) {
	select {
	case p.runs <- struct{}{}:
		return 0, nil
	default:
	}
	began := time.Now()
	select {
	case p.runs <- struct{}{}:
		return time.Since(began), nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return 0, status.Error(codes.DeadlineExceeded, "deadline exceeded before inference")
		}
		return 0, status.Error(codes.Canceled, "request canceled before inference")
	}
}

// runTimings are Timings and when the Run call began.
type runTimings struct {
	Timings
	started time.Time
}

// infer checks the deadline, builds the tensors and runs the session, holding a run slot.
func (p *Predictor) infer(ctx context.Context, m *model, data []float32, batch int) ([]float32, runTimings, error) {
	if deadlinePassed(ctx) {
		return nil, runTimings{}, status.Error(codes.DeadlineExceeded, "deadline exceeded before inference")
	}
	in, out, err := m.tensors(data, batch)
	if err != nil {
		p.opts.Logger.Error("inference failed", "model", m.info.GetName(), "rows", batch, "err", err)
		return nil, runTimings{}, status.Error(codes.Internal, "internal error")
	}
	defer in.Destroy()
	defer out.Destroy()
	var t runTimings
	t.started = time.Now()
	if p.opts.BeforeRun != nil {
		p.opts.BeforeRun()
	}
	err = m.session.Run([]ort.Value{in}, []ort.Value{out})
	t.Inference = time.Since(t.started)
	if err != nil {
		p.opts.Logger.Error("inference failed", "model", m.info.GetName(), "rows", batch, "err", err)
		return nil, runTimings{}, status.Error(codes.Internal, "internal error")
	}
	// The data slice is Go memory, so it stays valid after the OrtValue is released.
	return out.GetData(), t, nil
}

func deadlinePassed(ctx context.Context) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}
