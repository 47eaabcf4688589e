package grpcapi_test

// The gRPC server over TLS (Options.TLS): a client that verifies the certificate predicts, a
// plaintext client does not get through.

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/grpcapi"
	"servebench/go_service/internal/tlstest"
)

func TestTLS(t *testing.T) {
	files := tlstest.New(t)
	lis := serve(t, loadedCore(t), true, grpcapi.Options{MaxRecv: testMaxRecv, TLS: files.Server(t)})
	dialer := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })
	request := &predictv1.PredictRequest{Model: "iris-logreg", Instances: []*predictv1.Instance{{Features: []float32{5.1, 3.5, 1.4, 0.2}}}}

	secure, err := grpc.NewClient("passthrough:///bufconn", dialer, grpc.WithTransportCredentials(credentials.NewTLS(files.Client())))
	if err != nil {
		t.Fatal(err)
	}
	defer secure.Close()
	resp, err := predictv1.NewPredictionServiceClient(secure).Predict(context.Background(), request)
	if err != nil || resp.GetPredictions()[0].GetLabel() != "setosa" {
		t.Fatalf("over TLS: %v, %v", resp, err)
	}

	plain, err := grpc.NewClient("passthrough:///bufconn", dialer, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := predictv1.NewPredictionServiceClient(plain).Predict(ctx, request); err == nil {
		t.Fatal("a plaintext client got an answer from a TLS server")
	}
}
