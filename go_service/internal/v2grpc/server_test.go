package v2grpc_test

// The adapter on a real gRPC server beside predict.v1's, as cmd/go_service wires it: one admission
// bound for both services (the tap refuses ModelInfer on arrival), the shared codec timing
// ModelInfer's phases, and reflection listing inference.GRPCInferenceService.

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	inferencepb "servebench/go_service/gen/inference"
	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/grpcapi"
	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
	"servebench/go_service/internal/v2grpc"
)

var setosa = []float32{5.1, 3.5, 1.4, 0.2}

func inferRequest() *inferencepb.ModelInferRequest {
	return &inferencepb.ModelInferRequest{ModelName: "iris-logreg", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{
		{Name: "input", Datatype: "FP32", Shape: []int64{1, 4}, Contents: &inferencepb.InferTensorContents{Fp32Contents: setosa}}}}
}

// serve starts both services on one server over core, as main does, and returns a connection
// factory.
func serve(t *testing.T, core *predictor.Predictor, m *metrics.Metrics) func() *grpc.ClientConn {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	codec := grpcapi.NewCodec(m, append(grpcapi.PredictMessages(), v2grpc.Messages...)...)
	srv, _ := grpcapi.New(core, grpcapi.Options{MaxRecv: 1 << 20, Metrics: m, Codec: codec, AdmitOnArrival: v2grpc.AdmitOnArrival})
	inferencepb.RegisterGRPCInferenceServiceServer(srv, v2grpc.New(core, v2grpc.Options{Metrics: m, Codec: codec}))
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return func() *grpc.ClientConn {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
}

// TestOneAdmissionBound: with --max-inflight 1 and a predict.v1 Predict stuck in inference, a
// ModelInfer on another connection is refused at once (RESOURCE_EXHAUSTED with RetryInfo), and
// the other way round; once the load ends ModelInfer succeeds, and the phases of both services'
// answered requests are recorded by the shared codec.
func TestOneAdmissionBound(t *testing.T) {
	modeltest.InitORT(t)
	entered, release := make(chan struct{}, 4), make(chan struct{}, 1)
	var blocking atomic.Bool
	blocking.Store(true)
	core := predictor.New(predictor.Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 8, MaxInflight: 1, MaxRuns: 1,
		BeforeRun: func() {
			if blocking.Load() {
				entered <- struct{}{}
				<-release
			}
		}})
	if err := core.Load(modeltest.Only(t, "iris-logreg")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	m := metrics.New()
	dial := serve(t, core, m)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v1, v2 := predictv1.NewPredictionServiceClient(dial()), inferencepb.NewGRPCInferenceServiceClient(dial())

	refused := func(name string, err error) {
		t.Helper()
		st := status.Convert(err)
		hasRetry := false
		for _, d := range st.Details() {
			_, hasRetry = d.(*errdetails.RetryInfo)
		}
		if st.Code() != codes.ResourceExhausted || !hasRetry {
			t.Fatalf("%s: %v; want RESOURCE_EXHAUSTED with RetryInfo", name, err)
		}
	}
	predict := func() error {
		_, err := v1.Predict(ctx, &predictv1.PredictRequest{Model: "iris-logreg", Instances: []*predictv1.Instance{{Features: setosa}}})
		return err
	}
	infer := func() error { _, err := v2.ModelInfer(ctx, inferRequest()); return err }
	for _, order := range []struct {
		name         string
		stuck, other func() error
	}{{"ModelInfer beside a stuck Predict", predict, infer}, {"Predict beside a stuck ModelInfer", infer, predict}} {
		done := make(chan error, 1)
		go func() { done <- order.stuck() }()
		<-entered
		refused(order.name, order.other())
		release <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	blocking.Store(false)
	resp, err := v2.ModelInfer(ctx, inferRequest())
	if err != nil || string(resp.GetRawOutputContents()[0][4:]) != "setosa" {
		t.Fatalf("ModelInfer after the load: %v, %v", resp, err)
	}
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		`servebench_requests_total{code="OK",method="ModelInfer",protocol="grpc"}`:                 2,
		`servebench_requests_total{code="RESOURCE_EXHAUSTED",method="ModelInfer",protocol="grpc"}`: 1,
		`servebench_requests_total{code="RESOURCE_EXHAUSTED",method="Predict",protocol="grpc"}`:    1,
		`servebench_phase_duration_seconds{phase="decode",protocol="grpc"}`:                        3, // the answered: 1 Predict, 2 ModelInfer
		`servebench_phase_duration_seconds{phase="encode",protocol="grpc"}`:                        3,
		`servebench_shed_total{protocol="grpc"}`:                                                   2,
	}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			key := f.GetName() + labels(s)
			if n, ok := want[key]; ok {
				if got := value(s); got != n {
					t.Errorf("%s = %v; want %v", key, got, n)
				}
				delete(want, key)
			}
		}
	}
	for key := range want {
		t.Errorf("%s: no such series", key)
	}
}

func labels(s *dto.Metric) string {
	var parts []string
	for _, l := range s.GetLabel() {
		parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func value(s *dto.Metric) float64 {
	switch {
	case s.GetCounter() != nil:
		return s.GetCounter().GetValue()
	case s.GetHistogram() != nil:
		return float64(s.GetHistogram().GetSampleCount())
	}
	return s.GetGauge().GetValue()
}

// TestReflectionListsTheService: server reflection lists both services.
func TestReflectionListsTheService(t *testing.T) {
	modeltest.InitORT(t)
	core := predictor.New(predictor.Options{MaxBatch: 8})
	dial := serve(t, core, metrics.New())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(dial()).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"inference.GRPCInferenceService", "predict.v1.PredictionService"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("reflection lists %v; want %s", names, want)
		}
	}
}
