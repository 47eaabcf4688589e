// Package v2grpc is the Open Inference Protocol's (KServe "V2") gRPC adapter:
// inference.GRPCInferenceService (proto/inference/open_inference_grpc.proto) over the core
// predict.v1 uses. It is registered on the same gRPC server as predict.v1's service (cmd/go_service),
// sharing its admission, limits, codec and reflection; errors are the core's status codes
// (proto/inference/errors.json), messages capped.
package v2grpc

import (
	"context"
	"runtime"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inferencepb "servebench/go_service/gen/inference"
	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/grpcapi"
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
}

// Options are the adapter's settings.
type Options struct {
	Metrics *metrics.Metrics // nil: record nothing
	Codec   *grpcapi.Codec   // the server's codec, timing ModelInfer's messages; nil: no decode/encode phases
	// Work is the work lane of inference calls: predict.v1's gRPC lane (grpcapi.Options.Work), so
	// both services queue, and are admitted, together. nil is a lane of GOMAXPROCS slots.
	Work *admission.Lane
}

// Server implements inference.GRPCInferenceService over a Core.
type Server struct {
	inferencepb.UnimplementedGRPCInferenceServiceServer
	core  Core
	rec   metrics.Recorder
	codec *grpcapi.Codec
	work  *admission.Lane
}

// Messages are the types the server's codec times (grpcapi.NewCodec).
var Messages = []any{&inferencepb.ModelInferRequest{}, &inferencepb.ModelInferResponse{}}

// AdmitOnArrival is the predict method the server's tap refuses on arrival (grpcapi.Options).
var AdmitOnArrival = map[string]metrics.Method{inferencepb.GRPCInferenceService_ModelInfer_FullMethodName: metrics.ModelInfer}

// New returns the service; register it with inferencepb.RegisterGRPCInferenceServiceServer.
func New(core Core, opts Options) *Server {
	if opts.Work == nil {
		opts.Work = admission.NewLane("grpc", runtime.GOMAXPROCS(0))
	}
	s := &Server{core: core, rec: metrics.Nop{}, codec: opts.Codec, work: opts.Work}
	if opts.Metrics != nil {
		s.rec = opts.Metrics
	}
	return s
}

// ServerLive is true while the process answers.
func (s *Server) ServerLive(context.Context, *inferencepb.ServerLiveRequest) (*inferencepb.ServerLiveResponse, error) {
	return &inferencepb.ServerLiveResponse{Live: true}, nil
}

// ServerReady is true once every model is loaded, false before and while shutting down.
func (s *Server) ServerReady(context.Context, *inferencepb.ServerReadyRequest) (*inferencepb.ServerReadyResponse, error) {
	return &inferencepb.ServerReadyResponse{Ready: s.core.Ready()}, nil
}

// ModelReady is true for a served model (and version) once the server is ready, false while it is
// not; an unknown model or version is NOT_FOUND.
func (s *Server) ModelReady(_ context.Context, req *inferencepb.ModelReadyRequest) (*inferencepb.ModelReadyResponse, error) {
	_, err := s.core.GetModelVersion(req.GetName(), req.GetVersion())
	if status.Code(err) == codes.Unavailable {
		return &inferencepb.ModelReadyResponse{Ready: false}, nil
	}
	if err != nil {
		return nil, grpcapi.Capped(err)
	}
	return &inferencepb.ModelReadyResponse{Ready: true}, nil
}

// ServerMetadata names the server and its extensions (proto/inference/model.json server).
func (s *Server) ServerMetadata(context.Context, *inferencepb.ServerMetadataRequest) (*inferencepb.ServerMetadataResponse, error) {
	return &inferencepb.ServerMetadataResponse{Name: v2infer.ServerName, Version: v2infer.ServerVersion, Extensions: v2infer.Extensions}, nil
}

// ModelMetadata describes a model's input and outputs (proto/inference/model.json).
func (s *Server) ModelMetadata(_ context.Context, req *inferencepb.ModelMetadataRequest) (*inferencepb.ModelMetadataResponse, error) {
	start := time.Now()
	info, err := s.core.GetModelVersion(req.GetName(), req.GetVersion())
	s.rec.Request(metrics.GRPC, metrics.ModelMetadata, status.Code(err), time.Since(start))
	if err != nil {
		return nil, grpcapi.Capped(err)
	}
	meta := func(t v2infer.TensorMeta) *inferencepb.ModelMetadataResponse_TensorMetadata {
		return &inferencepb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
	}
	resp := &inferencepb.ModelMetadataResponse{Name: info.GetName(), Versions: []string{info.GetVersion()}, Platform: v2infer.Platform,
		Inputs: []*inferencepb.ModelMetadataResponse_TensorMetadata{meta(v2infer.Input(info))}, Properties: v2infer.Properties(info)}
	for _, o := range v2infer.Outputs(info) {
		resp.Outputs = append(resp.Outputs, meta(o))
	}
	return resp, nil
}

// ModelInfer admits the request (as predict.v1's Predict: the tap refused it on arrival if it
// would be refused then) and runs the core's predict path on its one input.
func (s *Server) ModelInfer(ctx context.Context, req *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	start := time.Now()
	resp, err := s.infer(ctx, req)
	s.rec.Request(metrics.GRPC, metrics.ModelInfer, status.Code(err), time.Since(start))
	return resp, grpcapi.Capped(err)
}

func (s *Server) infer(ctx context.Context, req *inferencepb.ModelInferRequest) (*inferencepb.ModelInferResponse, error) {
	decodeMessage := s.codec.Decoded(req)
	from := grpcapi.Connection(ctx)
	started, err := admission.Enter(ctx, s.core, s.rec, metrics.GRPC, from, s.work)
	if err != nil {
		return nil, err
	}
	defer admission.Exit(s.core, s.rec, metrics.GRPC, from, s.work, started)
	start := time.Now()
	batch, selected, err := decode(s.core, req)
	if err != nil {
		return nil, err
	}
	decodeTime := decodeMessage + time.Since(start)
	res, t, err := s.core.PredictBatch(ctx, batch)
	if err != nil {
		return nil, err
	}
	s.rec.Phase(metrics.GRPC, metrics.Decode, decodeTime)
	s.rec.Phase(metrics.GRPC, metrics.Tensor, t.Tensor)
	s.rec.Phase(metrics.GRPC, metrics.Inference, t.Inference)
	start = time.Now()
	resp := encode(res, req.GetId(), v2infer.Answer(res, selected))
	s.codec.Shaped(resp, t.Shape+time.Since(start))
	return resp, nil
}
