package main

import (
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

	inferencepb "servebench/go_service/gen/inference"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/grpcapi"
	"servebench/go_service/internal/httpapi"
	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/predictor"
	"servebench/go_service/internal/v2grpc"
	"servebench/go_service/internal/v2http"
)

// newGRPC is the gRPC server: predict.v1's service and the Open Inference Protocol's (V2) on one
// server, sharing its codec (phase timing), tap (admission on arrival), limits and reflection.
// Both services' predict calls share one work lane, `work`.
func newGRPC(core *predictor.Predictor, cfg config, m *metrics.Metrics, work *admission.Lane) (*grpc.Server, *health.Server) {
	var codec *grpcapi.Codec
	if m != nil {
		codec = grpcapi.NewCodec(m, append(grpcapi.PredictMessages(), v2grpc.Messages...)...)
	}
	srv, hs := grpcapi.New(core, grpcapi.Options{
		MaxRecv: cfg.maxBody, Metrics: m, Codec: codec, AdmitOnArrival: v2grpc.AdmitOnArrival, Work: work, TLS: cfg.tls,
	})
	inferencepb.RegisterGRPCInferenceServiceServer(srv, v2grpc.New(core, v2grpc.Options{Metrics: m, Codec: codec, Work: work}))
	return srv, hs
}

// newHTTP is the HTTP handler: the Open Inference Protocol's routes (V2) under /v2, predict.v1's
// everywhere else; both protocols' predict requests share the two work lanes, `small` and `big`.
func newHTTP(core *predictor.Predictor, cfg config, m *metrics.Metrics, small, big *admission.Lane) http.Handler {
	mux := http.NewServeMux()
	v2 := v2http.New(core, v2http.Options{MaxBody: int64(cfg.maxBody), Metrics: m, Small: small, Big: big})
	mux.Handle("/v2", v2)
	mux.Handle("/v2/", v2)
	mux.Handle("/", httpapi.New(core, httpapi.Options{MaxBody: int64(cfg.maxBody), Metrics: m, Small: small, Big: big}))
	return mux
}
