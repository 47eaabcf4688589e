// Package httpapi is the HTTP adapter: the routes of proto/predict/v1/routes.json over the core.
// Bodies are the proto3 JSON mapping (protojson) or, on POST /v1/predict, binary protobuf;
// errors are {"code": <gRPC code>, "message": "..."} with the HTTP status the shared error table
// derives from the code. NewServer wraps the handler in a hardened http.Server.
package httpapi

import (
	"context"
	"net/http"
	"runtime"

	"google.golang.org/grpc/codes"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/predictor"
)

// Core is what the adapter needs from the predictor.
type Core interface {
	admission.Core
	PredictTimed(ctx context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, predictor.Timings, error)
	ListModels() (*predictv1.ListModelsResponse, error)
	GetModel(name string) (*predictv1.ModelInfo, error)
	Ready() bool
	ValueBound() int64
}

// Options are the adapter's settings.
type Options struct {
	MaxBody int64            // largest request body in bytes
	Metrics *metrics.Metrics // nil: record nothing and answer /metrics with 404
	// Small and Big are the work lanes of predict requests (their CPU work: decode, the core,
	// encode) whose bodies are up to BigBody bytes, and bigger; admitted requests wait there for a
	// slot, and admission judges a request by the wait in its lane. nil is a lane of GOMAXPROCS
	// slots.
	Small, Big *admission.Lane
}

// BigBody is the largest request body of the small requests' lane (errors.json big_body_bytes,
// as the Python RSGI front's): a bigger one (a 1,024-row batch, ~30 ms of JSON decoding) does its
// work in a lane of its own, so that the small requests behind it are not held for its whole
// decode, and each lane's expected wait is reckoned with its own service time (admission.Lane).
const BigBody = 64 << 10

type handler struct {
	Routes
	core       Core
	maxBody    int64
	rec        metrics.Recorder
	small, big *admission.Lane // predict work of bodies ≤ BigBody, and bigger
}

// New returns the routes of proto/predict/v1/routes.json over core.
func New(core Core, opts Options) http.Handler {
	if opts.Small == nil {
		opts.Small = admission.NewLane("http", runtime.GOMAXPROCS(0))
	}
	if opts.Big == nil {
		opts.Big = admission.NewLane("http-big", runtime.GOMAXPROCS(0))
	}
	h := &handler{core: core, maxBody: opts.MaxBody, rec: metrics.Nop{}, small: opts.Small, big: opts.Big}
	if opts.Metrics != nil {
		h.rec = opts.Metrics
	}
	h.Routes = Routes{Rec: h.rec, WriteErr: writeError}
	mux := http.NewServeMux()
	mux.Handle("/v1/predict", h.Counted(metrics.Predict, h.Only(http.MethodPost, h.predict)))
	mux.Handle("/v1/models", h.Counted(metrics.ListModels, h.Only(http.MethodGet, h.listModels)))
	mux.Handle("/v1/models/{name}", h.Counted(metrics.GetModel, h.Only(http.MethodGet, h.getModel)))
	mux.Handle("/healthz", Uncounted(h.Only(http.MethodGet, h.healthz)))
	mux.Handle("/readyz", Uncounted(h.Only(http.MethodGet, h.readyz)))
	if opts.Metrics != nil {
		mux.Handle("/metrics", metricsRoute(h.Routes, opts.Metrics))
	}
	mux.Handle("/", Uncounted(h.NotFound))
	return mux
}

// MetricsHandler serves GET /metrics alone (--metrics-addr); any other path is 404.
func MetricsHandler(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	rt := Routes{Rec: metrics.Nop{}, WriteErr: writeError}
	mux.Handle("/metrics", metricsRoute(rt, m))
	mux.Handle("/", Uncounted(rt.NotFound))
	return mux
}

func metricsRoute(rt Routes, m *metrics.Metrics) http.Handler {
	prom := m.Handler()
	return Uncounted(rt.Only(http.MethodGet, func(w http.ResponseWriter, r *http.Request) codes.Code {
		prom.ServeHTTP(w, r)
		return codes.OK
	}))
}

func (h *handler) listModels(w http.ResponseWriter, _ *http.Request) codes.Code {
	resp, err := h.core.ListModels()
	if err != nil {
		return writeCoreError(w, err)
	}
	return writeJSONProto(w, resp)
}

func (h *handler) getModel(w http.ResponseWriter, r *http.Request) codes.Code {
	info, err := h.core.GetModel(r.PathValue("name"))
	if err != nil {
		return writeCoreError(w, err)
	}
	return writeJSONProto(w, info)
}

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) codes.Code {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return codes.OK
}

func (h *handler) readyz(w http.ResponseWriter, _ *http.Request) codes.Code {
	if !h.core.Ready() {
		return writeError(w, http.StatusServiceUnavailable, codes.Unavailable, "not ready")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return codes.OK
}
