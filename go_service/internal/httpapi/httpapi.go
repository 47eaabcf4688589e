// Package httpapi is the HTTP adapter: JSON (the proto3 JSON mapping, via protojson) in and
// out, errors as {"code": <gRPC code>, "message": "..."} with the HTTP status the shared error
// table derives from the code.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	predictv1 "servebench/go_service/gen/predict/v1"
)

// Core is what the adapter needs from the predictor.
type Core interface {
	Predict(ctx context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, error)
	ListModels() (*predictv1.ListModelsResponse, error)
	GetModel(name string) (*predictv1.ModelInfo, error)
	Ready() bool
}

var (
	unmarshal = protojson.UnmarshalOptions{DiscardUnknown: false}
	marshal   = protojson.MarshalOptions{UseProtoNames: true}
)

// discardFactor bounds how much of a refused body is read before answering, in units of maxBody.
const discardFactor = 4

type handler struct {
	core    Core
	maxBody int64
}

// New returns the routes of proto/predict/v1/routes.json over core; maxBody caps a request body in bytes.
func New(core Core, maxBody int64) http.Handler {
	h := &handler{core: core, maxBody: maxBody}
	mux := http.NewServeMux()
	mux.Handle("/v1/predict", only(http.MethodPost, h.predict))
	mux.Handle("/v1/models", only(http.MethodGet, h.listModels))
	mux.Handle("/v1/models/{name}", only(http.MethodGet, h.getModel))
	mux.Handle("/healthz", only(http.MethodGet, h.healthz))
	mux.Handle("/readyz", only(http.MethodGet, h.readyz))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codes.NotFound, fmt.Sprintf("no route %s", r.URL.Path))
	})
	return mux
}

// only answers 405 (code UNIMPLEMENTED, with an Allow header) to any method but the given one;
// GET routes also answer HEAD.
func only(method string, next http.HandlerFunc) http.Handler {
	allowed := method
	if method == http.MethodGet {
		allowed = "GET, HEAD"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", allowed)
			writeError(w, http.StatusMethodNotAllowed, codes.Unimplemented,
				fmt.Sprintf("method %s not allowed on %s; use %s", r.Method, r.URL.Path, method))
			return
		}
		next(w, r)
	})
}

func (h *handler) predict(w http.ResponseWriter, r *http.Request) {
	if !isJSON(r.Header.Get("Content-Type")) {
		writeError(w, http.StatusUnsupportedMediaType, codes.Unimplemented, "Content-Type must be application/json")
		return
	}
	body, err := h.readBody(w, r)
	if err != nil {
		writeCoreError(w, err)
		return
	}
	req := &predictv1.PredictRequest{}
	if err := unmarshal.Unmarshal(body, req); err != nil {
		writeError(w, http.StatusBadRequest, codes.InvalidArgument, "invalid JSON body: "+err.Error())
		return
	}
	resp, err := h.core.Predict(r.Context(), req)
	if err != nil {
		writeCoreError(w, err)
		return
	}
	writeProto(w, resp)
}

// readBody reads at most maxBody bytes; more is RESOURCE_EXHAUSTED, nothing is INVALID_ARGUMENT.
func (h *handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := status.Errorf(codes.ResourceExhausted, "request body exceeds the limit of %d bytes", h.maxBody)
	if r.ContentLength > h.maxBody {
		h.discard(w, r)
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		h.discard(w, r)
		return nil, tooLarge
	case err != nil:
		return nil, status.Errorf(codes.InvalidArgument, "reading request body: %v", err)
	case len(body) == 0:
		return nil, status.Error(codes.InvalidArgument, "empty request body")
	}
	return body, nil
}

// discard reads (and drops) up to discardFactor × maxBody more bytes of a refused body and marks
// the connection to close after the answer: a client that sends its whole body before reading
// the answer (Python's http.client, many SDKs) then reads the 413 instead of a connection reset.
func (h *handler) discard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "close")
	_, _ = io.CopyN(io.Discard, r.Body, discardFactor*h.maxBody)
}

func (h *handler) listModels(w http.ResponseWriter, _ *http.Request) {
	resp, err := h.core.ListModels()
	if err != nil {
		writeCoreError(w, err)
		return
	}
	writeProto(w, resp)
}

func (h *handler) getModel(w http.ResponseWriter, r *http.Request) {
	info, err := h.core.GetModel(r.PathValue("name"))
	if err != nil {
		writeCoreError(w, err)
		return
	}
	writeProto(w, info)
}

func (h *handler) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) readyz(w http.ResponseWriter, _ *http.Request) {
	if !h.core.Ready() {
		writeError(w, http.StatusServiceUnavailable, codes.Unavailable, "not ready")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// isJSON accepts application/json with any parameters (e.g. charset), case-insensitively.
func isJSON(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		return false
	}
	return strings.EqualFold(mediaType, "application/json")
}

// httpStatusForCode and httpStatusWhenRetryable are the error table's code → HTTP status rules
// (proto/predict/v1/errors.json; contract_test.go checks them against it).
var (
	httpStatusForCode = map[codes.Code]int{
		codes.InvalidArgument:   http.StatusBadRequest,
		codes.NotFound:          http.StatusNotFound,
		codes.ResourceExhausted: http.StatusRequestEntityTooLarge,
		codes.Unavailable:       http.StatusServiceUnavailable,
		codes.DeadlineExceeded:  http.StatusGatewayTimeout,
		codes.Internal:          http.StatusInternalServerError,
	}
	httpStatusWhenRetryable = map[codes.Code]int{
		codes.ResourceExhausted: http.StatusServiceUnavailable,
		codes.Unavailable:       http.StatusServiceUnavailable,
	}
)

// answer is how the HTTP adapter answers a core error.
type answer struct {
	status     int
	code       codes.Code
	message    string
	retryAfter time.Duration // > 0: a Retry-After header
}

// answerFor maps a core error (a gRPC status, possibly carrying google.rpc.RetryInfo) to its HTTP
// answer. A code outside the table is a bug: 500 INTERNAL with a generic message.
func answerFor(err error) answer {
	st := status.Convert(err)
	a := answer{code: st.Code(), message: st.Message()}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			a.retryAfter = info.GetRetryDelay().AsDuration()
		}
	}
	var ok bool
	if a.retryAfter > 0 {
		a.status, ok = httpStatusWhenRetryable[a.code]
	}
	if !ok {
		a.status, ok = httpStatusForCode[a.code]
	}
	if !ok || a.code == codes.Internal {
		return answer{status: http.StatusInternalServerError, code: codes.Internal, message: "internal error"}
	}
	return a
}

func writeCoreError(w http.ResponseWriter, err error) {
	a := answerFor(err)
	if a.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(a.retryAfter.Seconds()))))
	}
	writeError(w, a.status, a.code, a.message)
}

func writeError(w http.ResponseWriter, httpStatus int, code codes.Code, message string) {
	writeJSON(w, httpStatus, struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{int(code), message})
}

func writeJSON(w http.ResponseWriter, httpStatus int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		httpStatus, body = http.StatusInternalServerError, []byte(`{"code":13,"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}

func writeProto(w http.ResponseWriter, m proto.Message) {
	body, err := marshal.Marshal(m)
	if err != nil {
		writeError(w, http.StatusInternalServerError, codes.Internal, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
