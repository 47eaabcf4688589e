package grpcapi_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/grpcapi"
	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
)

const testMaxRecv = 64 * 1024

var (
	coreOnce sync.Once
	core     *predictor.Predictor
	coreErr  error
)

func loadedCore(t *testing.T) *predictor.Predictor {
	t.Helper()
	modeltest.InitORT(t)
	models := modeltest.Models(t)
	coreOnce.Do(func() {
		core = predictor.New(predictor.Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 1024})
		coreErr = core.Load(models)
	})
	if coreErr != nil {
		t.Fatal(coreErr)
	}
	return core
}

// dial serves c over an in-memory bufconn listener and returns a client connection.
func dial(t *testing.T, c grpcapi.Core, serving bool) *grpc.ClientConn {
	t.Helper()
	return dialWith(t, c, serving, grpcapi.Options{MaxRecv: testMaxRecv})
}

func dialWith(t testing.TB, c grpcapi.Core, serving bool, opts grpcapi.Options) *grpc.ClientConn {
	t.Helper()
	return connect(t, serve(t, c, serving, opts))
}

// serve starts a server over c on an in-memory listener.
func serve(t testing.TB, c grpcapi.Core, serving bool, opts grpcapi.Options) *bufconn.Listener {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv, hs := grpcapi.New(c, opts)
	grpcapi.SetServing(hs, serving)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis
}

// connect opens a new connection to lis.
func connect(t testing.TB, lis *bufconn.Listener) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestPredictSetosa(t *testing.T) {
	client := predictv1.NewPredictionServiceClient(dial(t, loadedCore(t), true))
	resp, err := client.Predict(context.Background(), &predictv1.PredictRequest{
		Model: "iris-logreg", Instances: []*predictv1.Instance{{Features: []float32{5.1, 3.5, 1.4, 0.2}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	pred := resp.GetPredictions()[0]
	if resp.GetModel() != "iris-logreg" || pred.GetLabel() != "setosa" || pred.ClassIndex == nil || len(pred.GetProbabilities()) != 3 {
		t.Fatalf("unexpected answer %v", resp)
	}
}

func TestErrorCodes(t *testing.T) {
	ready := predictv1.NewPredictionServiceClient(dial(t, loadedCore(t), true))
	notReady := predictv1.NewPredictionServiceClient(dial(t, predictor.New(predictor.Options{MaxBatch: 1}), false))
	row := func(f ...float32) []*predictv1.Instance { return []*predictv1.Instance{{Features: f}} }
	tests := []struct {
		name   string
		client predictv1.PredictionServiceClient
		req    *predictv1.PredictRequest
		code   codes.Code
	}{
		{"not ready", notReady, &predictv1.PredictRequest{Model: "iris-logreg", Instances: row(5.1, 3.5, 1.4, 0.2)}, codes.Unavailable},
		{"empty model name", ready, &predictv1.PredictRequest{Instances: row(5.1, 3.5, 1.4, 0.2)}, codes.InvalidArgument},
		{"unknown model", ready, &predictv1.PredictRequest{Model: "nope", Instances: row(1)}, codes.NotFound},
		{"no instances", ready, &predictv1.PredictRequest{Model: "iris-logreg"}, codes.InvalidArgument},
		{"wrong feature count", ready, &predictv1.PredictRequest{Model: "iris-logreg", Instances: row(1, 2)}, codes.InvalidArgument},
		{"message over the limit", ready, &predictv1.PredictRequest{Model: strings.Repeat("m", testMaxRecv), Instances: row(1)}, codes.ResourceExhausted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.Predict(context.Background(), tc.req)
			if status.Code(err) != tc.code {
				t.Fatalf("got %v; want %v", err, tc.code)
			}
		})
	}
	t.Run("GetModel unknown", func(t *testing.T) {
		if _, err := ready.GetModel(context.Background(), &predictv1.GetModelRequest{Name: "nope"}); status.Code(err) != codes.NotFound {
			t.Fatalf("got %v; want NotFound", err)
		}
	})
}

// TestNotReady: before the models are loaded every RPC answers UNAVAILABLE.
func TestNotReady(t *testing.T) {
	modeltest.InitORT(t)
	client := predictv1.NewPredictionServiceClient(dial(t, predictor.New(predictor.Options{MaxBatch: 1}), false))
	ctx := context.Background()
	calls := map[string]func() error{
		"Predict": func() error {
			_, err := client.Predict(ctx, &predictv1.PredictRequest{Model: "iris-logreg", Instances: []*predictv1.Instance{{Features: []float32{1, 2, 3, 4}}}})
			return err
		},
		"ListModels": func() error { _, err := client.ListModels(ctx, &predictv1.ListModelsRequest{}); return err },
		"GetModel": func() error {
			_, err := client.GetModel(ctx, &predictv1.GetModelRequest{Name: "iris-logreg"})
			return err
		},
	}
	for name, call := range calls {
		if err := call(); status.Code(err) != codes.Unavailable {
			t.Errorf("%s: %v; want UNAVAILABLE", name, err)
		}
	}
}

func TestListAndGetModel(t *testing.T) {
	client := predictv1.NewPredictionServiceClient(dial(t, loadedCore(t), true))
	list, err := client.ListModels(context.Background(), &predictv1.ListModelsRequest{})
	if err != nil || len(list.GetModels()) != len(modeltest.DefaultModels) {
		t.Fatalf("ListModels = %v, %v", list, err)
	}
	info, err := client.GetModel(context.Background(), &predictv1.GetModelRequest{Name: "diabetes-gbr"})
	if err != nil || info.GetTask() != "regression" || info.GetNFeatures() != 10 {
		t.Fatalf("GetModel = %v, %v", info, err)
	}
}

func TestHealth(t *testing.T) {
	for _, serving := range []bool{false, true} {
		health := healthpb.NewHealthClient(dial(t, loadedCore(t), serving))
		want := healthpb.HealthCheckResponse_NOT_SERVING
		if serving {
			want = healthpb.HealthCheckResponse_SERVING
		}
		for _, name := range []string{"", "predict.v1.PredictionService"} {
			resp, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: name})
			if err != nil || resp.GetStatus() != want {
				t.Fatalf("Check(%q) = %v, %v; want %v", name, resp, err, want)
			}
		}
	}
}

func TestReflection(t *testing.T) {
	client := reflectionpb.NewServerReflectionClient(dial(t, loadedCore(t), true))
	stream, err := client.ServerReflectionInfo(context.Background())
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
	have := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		have[s.GetName()] = true
	}
	for _, want := range []string{"predict.v1.PredictionService", "grpc.health.v1.Health"} {
		if !have[want] {
			t.Errorf("reflection does not list %s (has %v)", want, have)
		}
	}
}
