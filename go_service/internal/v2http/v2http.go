// Package v2http is the Open Inference Protocol's (KServe "V2") REST adapter: the routes of
// proto/inference/routes.json over the core predict.v1 uses, with the specification's JSON tensors
// and Triton's binary tensor data extension. Errors are {"error": "..."} with the status predict.v1's
// error table derives from the core's gRPC code (proto/inference/errors.json). It serves beside
// predict.v1's routes on the same HTTP server (cmd/go_service mounts it under /v2).
package v2http

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"runtime"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/clip"
	"servebench/go_service/internal/httpapi"
	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/predictor"
	"servebench/go_service/internal/v2infer"
)

// Core is what the adapter needs from the predictor.
type Core interface {
	admission.Core
	PredictBatch(ctx context.Context, b predictor.Batch) (predictor.Result, predictor.Timings, error)
	GetModelVersion(name, version string) (*predictv1.ModelInfo, error)
	Ready() bool
	ValueBound() int64
}

// Options are the adapter's settings.
type Options struct {
	MaxBody int64            // largest request body in bytes (--max-body)
	Metrics *metrics.Metrics // nil: record nothing
	// Small and Big are the work lanes of inference requests with bodies up to httpapi.BigBody
	// bytes and bigger (admission.Lane: slots, and the queue admission judges): the same lanes
	// as predict.v1's HTTP adapter, so both protocols queue, and are admitted, together. nil is a
	// lane of GOMAXPROCS slots.
	Small, Big *admission.Lane
}

type handler struct {
	httpapi.Routes
	core       Core
	maxBody    int64
	rec        metrics.Recorder
	small, big *admission.Lane
}

// New returns the V2 routes (every path under /v2, and /v2 itself) over core.
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
	h.Routes = httpapi.Routes{Rec: h.rec, WriteErr: writeError}
	mux := http.NewServeMux()
	get := func(path string, f httpapi.RouteFunc) { mux.Handle(path, httpapi.Uncounted(h.Only(http.MethodGet, f))) }
	get("/v2/health/live", h.live)
	get("/v2/health/ready", h.ready)
	get("/v2", h.serverMetadata)
	get("/v2/{$}", h.serverMetadata)
	for _, prefix := range []string{"/v2/models/{model}", "/v2/models/{model}/versions/{version}"} {
		mux.Handle(prefix, h.Counted(metrics.ModelMetadata, h.Only(http.MethodGet, h.modelMetadata)))
		get(prefix+"/ready", h.modelReady)
		mux.Handle(prefix+"/infer", h.Counted(metrics.ModelInfer, h.Only(http.MethodPost, h.infer)))
	}
	mux.Handle("/v2/", httpapi.Uncounted(h.NotFound))
	return mux
}

func (h *handler) live(w http.ResponseWriter, _ *http.Request) codes.Code {
	writeJSON(w, http.StatusOK, map[string]bool{"live": true})
	return codes.OK
}

func (h *handler) ready(w http.ResponseWriter, _ *http.Request) codes.Code {
	if !h.core.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]bool{"ready": false})
		return codes.Unavailable
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
	return codes.OK
}

func (h *handler) serverMetadata(w http.ResponseWriter, _ *http.Request) codes.Code {
	writeJSON(w, http.StatusOK, serverMetadata{Name: v2infer.ServerName, Version: v2infer.ServerVersion, Extensions: v2infer.Extensions})
	return codes.OK
}

func (h *handler) modelMetadata(w http.ResponseWriter, r *http.Request) codes.Code {
	info, err := h.core.GetModelVersion(r.PathValue("model"), r.PathValue("version"))
	if err != nil {
		return writeCoreError(w, err)
	}
	writeJSON(w, http.StatusOK, modelMetadataFor(info))
	return codes.OK
}

// modelReady: 200 ready true for a served model (and version); 503 ready false while the server
// is not ready; 404 for a model or version it does not serve.
func (h *handler) modelReady(w http.ResponseWriter, r *http.Request) codes.Code {
	name := r.PathValue("model")
	_, err := h.core.GetModelVersion(name, r.PathValue("version"))
	if status.Code(err) == codes.Unavailable {
		writeJSON(w, http.StatusServiceUnavailable, modelReady{Name: name, Ready: false})
		return codes.Unavailable
	}
	if err != nil {
		return writeCoreError(w, err)
	}
	writeJSON(w, http.StatusOK, modelReady{Name: name, Ready: true})
	return codes.OK
}

// writeCoreError answers a core error as {"error": message} with the error table's status (and a
// Retry-After when it carries a retry delay); it returns the code answered.
func writeCoreError(w http.ResponseWriter, err error) codes.Code {
	a := httpapi.AnswerFor(err)
	if a.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(a.RetryAfter.Seconds()))))
	}
	return writeError(w, a.Status, a.Code, a.Message)
}

// writeError answers {"error": message} (capped) and returns code.
func writeError(w http.ResponseWriter, httpStatus int, code codes.Code, message string) codes.Code {
	writeJSON(w, httpStatus, errorBody{Error: clip.Message(message)})
	return code
}

func writeJSON(w http.ResponseWriter, httpStatus int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		httpStatus, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	writeBody(w, httpStatus, jsonType, body)
}

func writeBody(w http.ResponseWriter, httpStatus int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}
