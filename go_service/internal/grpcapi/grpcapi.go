// Package grpcapi is the gRPC adapter: it hands requests to the core and returns its answers
// and status errors unchanged. It also wires the standard health and reflection services.
package grpcapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	predictv1 "servebench/go_service/gen/predict/v1"
)

// Core is what the adapter needs from the predictor.
type Core interface {
	Predict(ctx context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, error)
	ListModels() (*predictv1.ListModelsResponse, error)
	GetModel(name string) (*predictv1.ModelInfo, error)
}

// Server implements predict.v1.PredictionService over a Core.
type Server struct {
	predictv1.UnimplementedPredictionServiceServer
	core Core
}

// Predict runs the core's predict path.
func (s *Server) Predict(ctx context.Context, req *predictv1.PredictRequest) (*predictv1.PredictResponse, error) {
	return s.core.Predict(ctx, req)
}

// ListModels lists the loaded models.
func (s *Server) ListModels(context.Context, *predictv1.ListModelsRequest) (*predictv1.ListModelsResponse, error) {
	return s.core.ListModels()
}

// GetModel describes one model.
func (s *Server) GetModel(_ context.Context, req *predictv1.GetModelRequest) (*predictv1.ModelInfo, error) {
	return s.core.GetModel(req.GetName())
}

// ServiceName is the health-check name of the prediction service ("" is the whole server).
var ServiceName = predictv1.PredictionService_ServiceDesc.ServiceName

// New builds a gRPC server with the prediction service, health (NOT_SERVING until SetServing)
// and reflection. maxRecv caps one incoming message; larger ones fail with RESOURCE_EXHAUSTED.
func New(core Core, maxRecv int) (*grpc.Server, *health.Server) {
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxRecv))
	predictv1.RegisterPredictionServiceServer(srv, &Server{core: core})
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
