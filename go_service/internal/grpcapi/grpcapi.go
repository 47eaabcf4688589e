// Package grpcapi is the gRPC adapter: it admits predict requests, hands them to the core and
// returns its answers and status errors unchanged (messages capped), recording metrics. It also
// wires the standard health and reflection services.
package grpcapi

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/clip"
	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/predictor"
)

// Core is what the adapter needs from the predictor.
type Core interface {
	admission.Core
	PredictTimed(ctx context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, predictor.Timings, error)
	ListModels() (*predictv1.ListModelsResponse, error)
	GetModel(name string) (*predictv1.ModelInfo, error)
}

// Options are the adapter's settings.
type Options struct {
	MaxRecv int              // largest incoming message; larger ones fail with RESOURCE_EXHAUSTED
	Metrics *metrics.Metrics // nil: record nothing
	// Codec times the decode and encode phases of every service's predict messages (with
	// metrics); nil with metrics is a Codec of predict.v1's messages alone.
	Codec *Codec
	// AdmitOnArrival names the predict methods of the other services registered on the server
	// (full method name → metrics method), which the tap refuses on arrival as it does Predict.
	AdmitOnArrival map[string]metrics.Method
	// Work is the work lane of predict requests (Predict calls and PredictStream messages): each
	// does the core's work (validation, tensor, inference, shaping) in one of its slots, and
	// admitted requests wait there for one; admission judges a request by the wait in it. nil is a
	// lane of GOMAXPROCS slots.
	Work *admission.Lane
	// TLS, when set, serves gRPC over TLS (ALPN h2); nil is plaintext HTTP/2 (h2c).
	TLS *tls.Config
}

// Server implements predict.v1.PredictionService over a Core.
type Server struct {
	predictv1.UnimplementedPredictionServiceServer
	core  Core
	rec   metrics.Recorder
	codec *Codec // nil without metrics
	work  *admission.Lane
	// admitted are the predict methods the tap refuses on arrival, by full method name
	admitted map[string]metrics.Method
}

// Predict admits the request and runs the core's predict path.
func (s *Server) Predict(ctx context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, error) {
	start := time.Now()
	resp, err := s.predict(ctx, req)
	s.rec.Request(metrics.GRPC, metrics.Predict, status.Code(err), time.Since(start))
	return resp, err
}

// predict is one admitted predict request: the path of Predict and of each PredictStream message.
func (s *Server) predict(ctx context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, error) {
	decode := s.codec.Decoded(req)
	from := connection(ctx)
	started, err := admission.Enter(ctx, s.core, s.rec, metrics.GRPC, from, s.work)
	if err != nil {
		return nil, err
	}
	resp, t, err := s.core.PredictTimed(ctx, req)
	admission.Exit(s.core, s.rec, metrics.GRPC, from, s.work, started)
	if err != nil {
		return nil, capped(err)
	}
	s.rec.Phase(metrics.GRPC, metrics.Decode, decode)
	s.rec.Phase(metrics.GRPC, metrics.Tensor, t.Tensor)
	s.rec.Phase(metrics.GRPC, metrics.Inference, t.Inference)
	s.codec.Shaped(resp, t.Shape)
	return resp, nil
}

// tap is the server's InTapHandle: grpc-go calls it on the connection's reader goroutine when a
// call's headers arrive, before its message is read. A predict call (Predict, or another service's
// method named in Options.AdmitOnArrival: V2's ModelInfer) that admission would refuse now is
// refused there (RESOURCE_EXHAUSTED with its RetryInfo, or DEADLINE_EXCEEDED when its deadline is
// nearer than the expected wait, as a trailers-only answer and a RST_STREAM, so a client still
// sending stops), without reading, decoding or allocating its message: under overload with large
// messages, refusing after decoding cost the server more CPU
// than the work it admitted. The tap takes no place: a call it lets through is admitted, or
// refused, once decoded (predict), so no place is held by a message still arriving (a client
// trickling its message, or sending none, holds nothing).
func (s *Server) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	method, ok := s.admitted[info.FullMethodName]
	if !ok {
		return ctx, nil
	}
	start := time.Now()
	if err := admission.Check(ctx, s.core, s.rec, metrics.GRPC, connection(ctx), s.work); err != nil {
		s.rec.Request(metrics.GRPC, method, status.Code(err), time.Since(start))
		return ctx, err
	}
	return ctx, nil
}

// connection names the HTTP/2 connection a call came on, for admission's per-connection share: its
// client's *net.TCPAddr, one value per accepted connection, which grpc-go hands every call of the
// connection (comparing pointers costs nothing per call). A call on another transport (an
// in-memory listener in tests) has none: nil, no share.
func connection(ctx context.Context) any {
	if p, ok := peer.FromContext(ctx); ok {
		if addr, ok := p.Addr.(*net.TCPAddr); ok {
			return addr
		}
	}
	return nil
}

// ListModels lists the loaded models.
func (s *Server) ListModels(context.Context, *predictv1.ListModelsRequest) (*predictv1.ListModelsResponse, error) {
	start := time.Now()
	resp, err := s.core.ListModels()
	s.rec.Request(metrics.GRPC, metrics.ListModels, status.Code(err), time.Since(start))
	return resp, capped(err)
}

// GetModel describes one model.
func (s *Server) GetModel(_ context.Context, req *predictv1.GetModelRequest) (*predictv1.ModelInfo, error) {
	start := time.Now()
	info, err := s.core.GetModel(req.GetName())
	s.rec.Request(metrics.GRPC, metrics.GetModel, status.Code(err), time.Since(start))
	return info, capped(err)
}

// capped caps a status error's message at clip.MessageMaxRunes characters, keeping its code
// and details.
func capped(err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(err)
	if msg := clip.Message(st.Message()); msg != st.Message() {
		p := st.Proto()
		p.Message = msg
		return status.FromProto(p).Err()
	}
	return err
}

// ServiceName is the health-check name of the prediction service ("" is the whole server).
var ServiceName = predictv1.PredictionService_ServiceDesc.ServiceName

// New builds a gRPC server with the prediction service, health (NOT_SERVING until SetServing)
// and reflection; other services may be registered on it before it serves (reflection lists
// them too). With metrics, the Codec times the decoding of every predict request and the encoding
// of its answer.
func New(core Core, opts Options) (*grpc.Server, *health.Server) {
	var rec metrics.Recorder = metrics.Nop{}
	var codec *Codec
	serverOpts := []grpc.ServerOption{grpc.MaxRecvMsgSize(opts.MaxRecv)}
	if opts.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	if opts.Metrics != nil {
		rec = opts.Metrics
		if codec = opts.Codec; codec == nil {
			codec = NewCodec(rec, PredictMessages()...)
		}
		serverOpts = append(serverOpts, grpc.ForceServerCodecV2(codec))
	}
	admitted := map[string]metrics.Method{predictv1.PredictionService_Predict_FullMethodName: metrics.Predict}
	for name, m := range opts.AdmitOnArrival {
		admitted[name] = m
	}
	if opts.Work == nil {
		opts.Work = admission.NewLane("grpc", runtime.GOMAXPROCS(0))
	}
	service := &Server{core: core, rec: rec, codec: codec, admitted: admitted, work: opts.Work}
	serverOpts = append(serverOpts, grpc.InTapHandle(service.tap))
	srv := grpc.NewServer(serverOpts...)
	predictv1.RegisterPredictionServiceServer(srv, service)
	hs := health.NewServer()
	SetServing(hs, false)
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv, hs
}

// SetServing sets both health names to SERVING or NOT_SERVING.
func SetServing(hs *health.Server, serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	hs.SetServingStatus("", st)
	hs.SetServingStatus(ServiceName, st)
}
