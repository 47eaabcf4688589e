// Package predictor is the Go service's one predict path: validate → tensor → run → shape.
// Errors are gRPC status errors with the codes of the shared error table; the adapters map
// them to their protocol. It also holds the admission gate (--max-queue-delay, --max-inflight) the
// adapters check first, and bounds the ONNX Runtime calls in flight to GOMAXPROCS.
package predictor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync/atomic"
	"time"

	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/repository"
)

// Options are the core's settings, parsed from flags by main.
type Options struct {
	IntraOpThreads int // ONNX Runtime intra-op threads per session
	InterOpThreads int // ONNX Runtime inter-op threads per session
	MaxBatch       int // most rows one request may carry
	// CPUs is how many CPUs predict work may use; 0 is GOMAXPROCS. main passes the runtime's
	// GOMAXPROCS from before it adds a P for the network (see main).
	CPUs int
	// MaxInflight is the admission backstop: the most predict requests in progress or queued
	// (see Admit); 0 is admission.AutoPerCPU × CPUs.
	MaxInflight int
	// MaxQueueDelay is the queueing budget: a request is admitted while its expected wait for a
	// work slot is within it (see Admit); 0 turns the time rule off (main passes
	// admission.DefaultQueueDelay unless told otherwise).
	MaxQueueDelay time.Duration
	// MaxRuns bounds the ONNX Runtime calls (input tensor + Run) in flight; more wait for a
	// slot. 0 is CPUs.
	MaxRuns int
	Logger  *slog.Logger
	// BeforeRun, when set, is called before every session Run, holding a run slot. Tests use
	// it to make inference slow.
	BeforeRun func()
}

// Predictor serves the loaded models. It is safe for concurrent use. It starts not ready
// (predictions fail with UNAVAILABLE) until Load; Drain turns readiness off at shutdown while
// in-flight requests still finish; after Close predictions fail with UNAVAILABLE again.
type Predictor struct {
	opts     Options
	gate     *admission.Gate
	runs     chan struct{} // one token per ONNX Runtime call in flight
	models   atomic.Pointer[map[string]*model]
	names    []string     // sorted model names, set once by Load before models is published
	bound    atomic.Int64 // ValueBound, set by Load
	draining atomic.Bool
}

// New returns a Predictor with no models (not ready). ONNX Runtime must be initialized
// (ortlib.Init) before Load.
func New(opts Options) *Predictor {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CPUs <= 0 {
		opts.CPUs = runtime.GOMAXPROCS(0)
	}
	if opts.MaxRuns <= 0 {
		opts.MaxRuns = opts.CPUs
	}
	return &Predictor{opts: opts, gate: admission.New(opts.MaxInflight, opts.CPUs, opts.MaxQueueDelay), runs: make(chan struct{}, opts.MaxRuns)}
}

// Admit admits one predict request into lane, or refuses it at once: RESOURCE_EXHAUSTED carrying
// a google.rpc.RetryInfo when its expected wait exceeds the queueing budget or the backstop is
// reached, DEADLINE_EXCEEDED when ctx's deadline is nearer than its expected wait; `from` names
// the connection (see admission.Gate.Enter). The HTTP adapter calls it once the body is read,
// before decoding it; the gRPC adapter once grpc-go has decoded the message (having refused on
// arrival, with Refuses, the calls it would refuse then). An admitted request must call Release
// once answered.
func (p *Predictor) Admit(ctx context.Context, from any, lane *admission.Lane) error {
	return p.gate.Enter(ctx, from, lane)
}

// Refuses is the refusal Admit would give now, or nil; it takes no place (admission.Gate.Refuses).
func (p *Predictor) Refuses(ctx context.Context, from any, lane *admission.Lane) error {
	return p.gate.Refuses(ctx, from, lane)
}

// Release ends a request Admit admitted.
func (p *Predictor) Release(from any, lane *admission.Lane) { p.gate.Leave(from, lane) }

// MaxInflight is the admission backstop in effect.
func (p *Predictor) MaxInflight() int { return p.gate.Max() }

// MaxQueueDelay is the queueing budget in effect (0: off).
func (p *Predictor) MaxQueueDelay() time.Duration { return p.gate.Budget() }

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
	widest := 0
	for _, m := range models {
		widest = max(widest, m.NFeatures)
	}
	p.bound.Store(int64(p.opts.MaxBatch) * int64(widest+1))
	p.models.Store(&loaded)
	return nil
}

// ValueBound is the most values a valid PredictRequest carries, counting each feature and one
// per instance: MaxBatch × (the widest model's n_features + 1); 0 before Load. An adapter whose
// decoding costs per value (JSON) refuses a body holding more before decoding it.
func (p *Predictor) ValueBound() int64 {
	return p.bound.Load()
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
	m, err := lookup(*set, name, "")
	if err != nil {
		return nil, err
	}
	return m.info, nil
}
