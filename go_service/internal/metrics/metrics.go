// Package metrics is the Prometheus side of proto/predict/v1/metrics.json: the metrics both
// servers expose at GET /metrics, with the same names, types, labels and buckets.
//
// The adapters record through a Recorder: *Metrics when --metrics is on, Nop when it is off.
// Every label child is resolved once in New, so recording is an array index and an atomic add.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
)

// Protocol is the protocol label: grpc or http.
type Protocol uint8

// The protocols.
const (
	GRPC Protocol = iota
	HTTP
	numProtocols
)

// Method is the method label: the RPC a request calls (an HTTP route's RPC).
type Method uint8

// The methods.
const (
	Predict Method = iota
	PredictStream
	ListModels
	GetModel
	ModelInfer    // the Open Inference Protocol's inference (REST POST …/infer, gRPC ModelInfer)
	ModelMetadata // the Open Inference Protocol's model metadata (REST GET /v2/models/…, gRPC ModelMetadata)
	numMethods
)

// Phase is the phase label of a predict request.
type Phase uint8

// The phases.
const (
	Decode    Phase = iota // body or message bytes → the request
	Tensor                 // validation and the input tensor
	Inference              // the ONNX Runtime call alone
	Encode                 // the output shaped into a PredictResponse, serialized to bytes
	numPhases
)

// Label values, in the order of the constants above (metrics.json label_values).
var (
	protocolNames = [numProtocols]string{"grpc", "http"}
	methodNames   = [numMethods]string{"Predict", "PredictStream", "ListModels", "GetModel", "ModelInfer", "ModelMetadata"}
	phaseNames    = [numPhases]string{"decode", "tensor", "inference", "encode"}
)

// numCodes is the number of canonical gRPC codes (OK … UNAUTHENTICATED).
const numCodes = int(codes.Unauthenticated) + 1

// codeNames are the canonical names of the gRPC codes, the code label's values.
var codeNames = [numCodes]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
	"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// Seconds are the buckets of every duration histogram (metrics.json buckets.seconds).
var Seconds = []float64{
	0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Recorder records what the adapters observe. Implementations are safe for concurrent use.
type Recorder interface {
	// Request counts one answered request with its gRPC code and records its duration.
	Request(p Protocol, m Method, c codes.Code, d time.Duration)
	// Phase records the duration of one phase of a predict request.
	Phase(p Protocol, ph Phase, d time.Duration)
	// Admitted and Answered bracket a predict request that passed admission.
	Admitted(p Protocol)
	Answered(p Protocol)
	// Shed counts a predict request refused by admission.
	Shed(p Protocol)
}

// Nop is the Recorder of --metrics=false: it records nothing.
type Nop struct{}

// Request does nothing.
func (Nop) Request(Protocol, Method, codes.Code, time.Duration) {}

// Phase does nothing.
func (Nop) Phase(Protocol, Phase, time.Duration) {}

// Admitted does nothing.
func (Nop) Admitted(Protocol) {}

// Answered does nothing.
func (Nop) Answered(Protocol) {}

// Shed does nothing.
func (Nop) Shed(Protocol) {}

// Metrics is the Recorder of --metrics: the metrics of metrics.json in their own registry.
type Metrics struct {
	registry *prometheus.Registry
	requests [numProtocols][numMethods][numCodes]prometheus.Counter
	duration [numProtocols][numMethods]prometheus.Observer
	phase    [numProtocols][numPhases]prometheus.Observer
	inflight [numProtocols]prometheus.Gauge
	shed     [numProtocols]prometheus.Counter
}

// New registers the metrics in a new registry and resolves every label child. Children are
// created for every protocol and method pair a server answers (no PredictStream over HTTP),
// so each series is exported, at zero, from the start.
func New() *Metrics {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "servebench_requests_total",
		Help: "Requests answered, by protocol (grpc, http), method (the RPC: Predict, PredictStream, ListModels, GetModel; the Open Inference Protocol's ModelInfer, ModelMetadata) and gRPC status code name (OK, INVALID_ARGUMENT, ...). Each message of a PredictStream counts as one request.",
	}, []string{"protocol", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "servebench_request_duration_seconds",
		Help:    "Time from a request's arrival at the handler to its answer being handed to the transport.",
		Buckets: Seconds,
	}, []string{"protocol", "method"})
	phase := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "servebench_phase_duration_seconds",
		Help:    "Time of each phase of a predict request (Predict, each PredictStream message, ModelInfer): decode (body or message bytes to the request), tensor (validation and the input tensor), inference (the ONNX Runtime call alone), encode (the output shaped into the answer and serialized to bytes).",
		Buckets: Seconds,
	}, []string{"protocol", "phase"})
	inflight := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "servebench_inflight_requests",
		Help: "Predict requests admitted and not yet answered.",
	}, []string{"protocol"})
	shed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "servebench_shed_total",
		Help: "Predict requests refused as overload (RESOURCE_EXHAUSTED, HTTP 503): their expected wait exceeded the queueing budget (--max-queue-delay) on arrival, or they waited the budget for a work slot, or the backstop (--max-inflight) was reached.",
	}, []string{"protocol"})

	m := &Metrics{registry: prometheus.NewRegistry()}
	m.registry.MustRegister(requests, duration, phase, inflight, shed, newProcessCollector())
	for p := range numProtocols {
		proto := protocolNames[p]
		for meth := range numMethods {
			if p == HTTP && meth == PredictStream {
				continue
			}
			m.duration[p][meth] = duration.WithLabelValues(proto, methodNames[meth])
			for c := range numCodes {
				m.requests[p][meth][c] = requests.WithLabelValues(proto, methodNames[meth], codeNames[c])
			}
		}
		for ph := range numPhases {
			m.phase[p][ph] = phase.WithLabelValues(proto, phaseNames[ph])
		}
		m.inflight[p] = inflight.WithLabelValues(proto)
		m.shed[p] = shed.WithLabelValues(proto)
	}
	return m
}

// Request counts one answered request and records its duration. A code outside the canonical
// ones counts as UNKNOWN, as gRPC itself would answer it.
func (m *Metrics) Request(p Protocol, meth Method, c codes.Code, d time.Duration) {
	if int(c) >= numCodes {
		c = codes.Unknown
	}
	m.requests[p][meth][c].Inc()
	m.duration[p][meth].Observe(d.Seconds())
}

// Phase records one phase's duration.
func (m *Metrics) Phase(p Protocol, ph Phase, d time.Duration) {
	m.phase[p][ph].Observe(d.Seconds())
}

// Admitted counts a predict request in progress.
func (m *Metrics) Admitted(p Protocol) { m.inflight[p].Inc() }

// Answered ends what Admitted began.
func (m *Metrics) Answered(p Protocol) { m.inflight[p].Dec() }

// Shed counts a predict request refused by admission.
func (m *Metrics) Shed(p Protocol) { m.shed[p].Inc() }

// Gatherer is the registry, for tests and other exporters.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.registry }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
