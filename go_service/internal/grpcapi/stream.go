package grpcapi

import (
	"errors"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/metrics"
)

// PredictStream answers each request of the stream with one response, in order, each admitted
// like a Predict. A request the core (or admission) refuses ends the stream with that status;
// the client's half-close ends it with OK.
func (s *Server) PredictStream(stream grpc.BidiStreamingServer[predictv1.PredictRequest, predictv1.PredictResponse]) error {
	ctx := stream.Context()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		start := time.Now()
		resp, err := s.predict(ctx, req)
		if err == nil {
			err = stream.Send(resp)
		}
		s.rec.Request(metrics.GRPC, metrics.PredictStream, status.Code(err), time.Since(start))
		if err != nil {
			return err
		}
	}
}
