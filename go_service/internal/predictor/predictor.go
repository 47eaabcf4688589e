// Package predictor is the Go service's one predict path: validate → tensor → run → shape.
// Errors are gRPC status errors with the codes of the shared error table; the adapters map
// them to their protocol.
package predictor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync/atomic"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/repository"
)

// Options are the core's settings, parsed from flags by main.
type Options struct {
	IntraOpThreads int // ONNX Runtime intra-op threads per session
	InterOpThreads int // ONNX Runtime inter-op threads per session
	MaxBatch       int // most rows one request may carry
	Logger         *slog.Logger
}

// Predictor serves the loaded models. It is safe for concurrent use. It starts not ready
// (predictions fail with UNAVAILABLE) until Load; Drain turns readiness off at shutdown while
// in-flight requests still finish; after Close predictions fail with UNAVAILABLE again.
type Predictor struct {
	opts     Options
	models   atomic.Pointer[map[string]*model]
	names    []string // sorted model names, set once by Load before models is published
	draining atomic.Bool
}

// New returns a Predictor with no models (not ready). ONNX Runtime must be initialized
// (ortlib.Init) before Load.
func New(opts Options) *Predictor {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Predictor{opts: opts}
}

// Load creates one session per model and makes the Predictor ready. It may be called once.
func (p *Predictor) Load(models []*repository.Model) error {
	if p.models.Load() != nil {
		return errors.New("predictor: models already loaded")
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return fmt.Errorf("session options: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(p.opts.IntraOpThreads); err != nil {
		return fmt.Errorf("intra-op threads: %w", err)
	}
	if err := opts.SetInterOpNumThreads(p.opts.InterOpThreads); err != nil {
		return fmt.Errorf("inter-op threads: %w", err)
	}
	loaded := make(map[string]*model, len(models))
	names := make([]string, 0, len(models))
	for _, m := range models {
		lm, err := newModel(m, opts)
		if err != nil {
			destroyAll(loaded)
			return err
		}
		loaded[m.Name] = lm
		names = append(names, m.Name)
	}
	sort.Strings(names)
	p.names = names
	p.models.Store(&loaded)
	return nil
}

// Ready reports whether every model is loaded and the Predictor is not draining.
func (p *Predictor) Ready() bool {
	return p.models.Load() != nil && !p.draining.Load()
}

// Drain makes Ready false (readiness probes and health checks turn away new traffic) while the
// servers stop accepting; requests already admitted still complete.
func (p *Predictor) Drain() {
	p.draining.Store(true)
}

// Close destroys the sessions. Call it only once no request can reach the Predictor.
func (p *Predictor) Close() {
	p.Drain()
	if set := p.models.Swap(nil); set != nil {
		destroyAll(*set)
	}
}

func destroyAll(models map[string]*model) {
	for _, m := range models {
		m.session.Destroy()
	}
}

// Predict runs one model on a batch, checking the request in the shared validation order.
func (p *Predictor) Predict(ctx context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, error) {
	set := p.models.Load()
	if set == nil {
		return nil, status.Error(codes.Unavailable, "server is not ready")
	}
	name := req.GetModel()
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "model name is empty")
	}
	m, ok := (*set)[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown model %q", name)
	}
	rows := req.GetInstances()
	if len(rows) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no instances")
	}
	if len(rows) > p.opts.MaxBatch {
		return nil, status.Errorf(codes.InvalidArgument, "batch of %d instances exceeds the limit of %d", len(rows), p.opts.MaxBatch)
	}
	for i, row := range rows {
		if n := len(row.GetFeatures()); n != m.nFeatures {
			return nil, status.Errorf(codes.InvalidArgument, "instance %d has %d features, model %q expects %d", i, n, name, m.nFeatures)
		}
	}
	data := make([]float32, 0, len(rows)*m.nFeatures)
	for i, row := range rows {
		for j, v := range row.GetFeatures() {
			if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, status.Errorf(codes.InvalidArgument, "instance %d feature %d is not finite (%v)", i, j, f)
			}
		}
		data = append(data, row.GetFeatures()...)
	}
	if deadlinePassed(ctx) {
		return nil, status.Error(codes.DeadlineExceeded, "deadline exceeded before inference")
	}
	out, err := m.run(data, len(rows))
	if err != nil {
		p.opts.Logger.Error("inference failed", "model", name, "rows", len(rows), "err", err)
		return nil, status.Error(codes.Internal, "internal error")
	}
	return &predictv1.PredictResponse{
		Model:        m.info.GetName(),
		ModelVersion: m.info.GetVersion(),
		Predictions:  m.shape(out, len(rows)),
	}, nil
}

func deadlinePassed(ctx context.Context) bool {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	deadline, ok := ctx.Deadline()
	return ok && !time.Now().Before(deadline)
}

// Names returns the loaded model names, sorted (nil before Load).
func (p *Predictor) Names() []string {
	if p.models.Load() == nil {
		return nil
	}
	return p.names
}

// ListModels describes every loaded model, sorted by name.
func (p *Predictor) ListModels() (*predictv1.ListModelsResponse, error) {
	set := p.models.Load()
	if set == nil {
		return nil, status.Error(codes.Unavailable, "server is not ready")
	}
	resp := &predictv1.ListModelsResponse{Models: make([]*predictv1.ModelInfo, 0, len(p.names))}
	for _, name := range p.names {
		resp.Models = append(resp.Models, (*set)[name].info)
	}
	return resp, nil
}

// GetModel describes one loaded model.
func (p *Predictor) GetModel(name string) (*predictv1.ModelInfo, error) {
	set := p.models.Load()
	if set == nil {
		return nil, status.Error(codes.Unavailable, "server is not ready")
	}
	if name == "" {
		return nil, status.Error(codes.InvalidArgument, "model name is empty")
	}
	m, ok := (*set)[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown model %q", name)
	}
	return m.info, nil
}
