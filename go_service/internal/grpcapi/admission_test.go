package grpcapi_test

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/grpcapi"
	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
)

// blockingCore is a loaded core with --max-inflight bound whose inference waits, once entered,
// until release is closed.
func blockingCore(t *testing.T, bound int) (core *predictor.Predictor, entered <-chan struct{}, release chan struct{}) {
	t.Helper()
	modeltest.InitORT(t)
	in := make(chan struct{}, 16)
	release = make(chan struct{})
	core = predictor.New(predictor.Options{
		IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 8, MaxInflight: bound, MaxRuns: bound,
		BeforeRun: func() { in <- struct{}{}; <-release },
	})
	if err := core.Load(modeltest.Only(t, "iris-logreg")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	return core, in, release
}

// TestAdmission: with --max-inflight 2 and both requests (one per connection) stuck in
// inference, a third Predict and a PredictStream message, on a third connection, are refused at
// once with RESOURCE_EXHAUSTED and a RetryInfo of 1 s; once the load ends requests succeed again.
func TestAdmission(t *testing.T) {
	core, entered, release := blockingCore(t, 2)
	clients := dialN(t, core, 3)
	client := clients[2]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	stuck(ctx, t, &wg, entered, clients[:2])

	refused := func(name string, err error, took time.Duration) {
		t.Helper()
		st := status.Convert(err)
		if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "--max-inflight 2") {
			t.Fatalf("%s: %v; want RESOURCE_EXHAUSTED naming --max-inflight 2", name, err)
		}
		var delay time.Duration
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.RetryInfo); ok {
				delay = info.GetRetryDelay().AsDuration()
			}
		}
		if delay != time.Second {
			t.Fatalf("%s: RetryInfo delay %v; want 1s", name, delay)
		}
		if took > 2*time.Second {
			t.Fatalf("%s: refused after %v; want at once", name, took)
		}
	}
	start := time.Now()
	_, err := client.Predict(ctx, iris(setosa...))
	refused("third Predict", err, time.Since(start))

	stream, err := client.PredictStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if err := stream.Send(iris(setosa...)); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	refused("PredictStream message", err, time.Since(start))

	close(release)
	wg.Wait()
	if _, err := client.Predict(ctx, iris(setosa...)); err != nil {
		t.Fatalf("after the load: %v", err)
	}
}

// TestRefusedBeforeTheMessage: while the bound is full, a Predict call is refused when its headers
// arrive: a client that has sent no message yet gets RESOURCE_EXHAUSTED at once, not after its
// message (the server neither waits for nor reads a message it would refuse).
func TestRefusedBeforeTheMessage(t *testing.T) {
	core, entered, release := blockingCore(t, 2)
	clients, conns := dialConns(t, core, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	defer func() { close(release); wg.Wait() }()
	stuck(ctx, t, &wg, entered, clients[:2])
	callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
	defer callCancel()
	stream, err := conns[2].NewStream(callCtx, &grpc.StreamDesc{ClientStreams: true}, predictv1.PredictionService_Predict_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = stream.RecvMsg(&predictv1.PredictResponse{}) // no message sent, nor CloseSend
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "--max-inflight 2") {
		t.Fatalf("a call without its message, the bound full: %v after %v; want RESOURCE_EXHAUSTED at once", err, time.Since(start))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("refused after %v; want at once", took)
	}
}

// TestWaitingMessageHoldsNoPlace: a Predict call whose message has not all arrived (a client that
// sent its headers and part of its message, then nothing) holds no place: with --max-inflight 2,
// two other connections' requests both reach inference beside it.
func TestWaitingMessageHoldsNoPlace(t *testing.T) {
	core, entered, release := blockingCore(t, 2)
	clients, conns := dialConns(t, core, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	defer func() { close(release); wg.Wait() }()
	trickle(t, conns[0].Target())
	stuck(ctx, t, &wg, entered, clients) // both reach inference beside the trickling call
}

// stuck sends one Predict on each client, each in a goroutine of wg that reports an error, and
// returns once each has reached the blocking core's inference (failing the test if one does not
// before ctx ends).
func stuck(ctx context.Context, t *testing.T, wg *sync.WaitGroup, entered <-chan struct{}, clients []predictv1.PredictionServiceClient) {
	t.Helper()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Predict(ctx, iris(setosa...)); err != nil {
				t.Errorf("request %d (admitted, then released): %v", i, err)
			}
		}()
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatalf("request %d never reached inference", i)
		}
	}
}

// trickle opens an HTTP/2 connection to the gRPC server at addr and starts one Predict call on
// it: its headers and the start of its message (a prefix declaring 100 bytes, then 5 of them),
// then nothing. It returns once the server has read them (it answered a PING sent after them: a
// connection's frames are read in order); the connection closes when the test ends.
func trickle(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":path", predictv1.PredictionService_Predict_FullMethodName},
		{":authority", addr}, {"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		if err := enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}); err != nil {
			t.Fatal(err)
		}
	}
	prefix := []byte{0, 0, 0, 0, 100, 1, 2, 3, 4, 5} // uncompressed, 100 bytes long; 5 of them sent
	ping := [8]byte{'t', 'r', 'i', 'c', 'k', 'l', 'e'}
	for _, err := range []error{
		fr.WriteSettings(),
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true}),
		fr.WriteData(1, false, prefix),
		fr.WritePing(false, ping),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("waiting for the server to read the call: %v", err)
		}
		switch f := f.(type) {
		case *http2.PingFrame:
			if f.IsAck() && f.Data == ping {
				return
			}
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			t.Fatalf("the server ended the call: %v", f)
		case *http2.HeadersFrame:
			t.Fatalf("the server answered a call whose message never came: %v", f)
		}
	}
}

// dialN starts one server over core on a loopback TCP port (admission's per-connection share
// names connections by their TCP address) and opens n connections to it.
func dialN(t *testing.T, core grpcapi.Core, n int) []predictv1.PredictionServiceClient {
	t.Helper()
	clients, _ := dialConns(t, core, n)
	return clients
}

// dialConns is dialN that also returns the connections.
func dialConns(t *testing.T, core grpcapi.Core, n int) ([]predictv1.PredictionServiceClient, []*grpc.ClientConn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// As many work slots as any test's blocking core holds calls in inference: these tests are
	// about the backstop and the per-connection share.
	srv, hs := grpcapi.New(core, grpcapi.Options{MaxRecv: testMaxRecv, Work: admission.NewLane("grpc", 16)})
	grpcapi.SetServing(hs, true)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	var clients []predictv1.PredictionServiceClient
	var conns []*grpc.ClientConn
	for range n {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		clients = append(clients, predictv1.NewPredictionServiceClient(conn))
		conns = append(conns, conn)
	}
	return clients, conns
}

// TestShareByConnection: with --max-inflight 3, one connection's two requests stuck in inference
// hold its share: its third is refused at once, while another connection's is admitted.
func TestShareByConnection(t *testing.T) {
	core, entered, release := blockingCore(t, 3)
	clients := dialN(t, core, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	predict := func(c predictv1.PredictionServiceClient) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Predict(ctx, iris(setosa...)); err != nil {
				t.Errorf("an admitted request: %v", err)
			}
		}()
	}
	await := func(what string) {
		select {
		case <-entered:
		case <-ctx.Done():
			t.Fatal(what)
		}
	}
	for range 2 {
		predict(clients[0])
		await("the first connection's requests never reached inference")
	}
	_, err := clients[0].Predict(ctx, iris(setosa...))
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "this connection holds 2 of the 3 places") {
		t.Fatalf("the first connection's third request: %v; want RESOURCE_EXHAUSTED for its share", err)
	}
	predict(clients[1])
	await("the second connection's request was not admitted beside the first's share")
	close(release)
	wg.Wait()
}

// TestErrorMessagesAreBounded: a huge model name is quoted short, with its length.
func TestErrorMessagesAreBounded(t *testing.T) {
	client := predictv1.NewPredictionServiceClient(dialWith(t, loadedCore(t), true, grpcapi.Options{MaxRecv: 1 << 20}))
	name := strings.Repeat("a", 512*1024)
	want := `unknown model "` + strings.Repeat("a", 64) + `…" (524288 bytes)`
	calls := map[string]func() error{
		"Predict": func() error {
			_, err := client.Predict(context.Background(), &predictv1.PredictRequest{Model: name})
			return err
		},
		"GetModel": func() error {
			_, err := client.GetModel(context.Background(), &predictv1.GetModelRequest{Name: name})
			return err
		},
	}
	for method, call := range calls {
		t.Run(method, func(t *testing.T) {
			st := status.Convert(call())
			if st.Code() != codes.NotFound || st.Message() != want {
				t.Fatalf("got %v %q; want NOT_FOUND %q", st.Code(), st.Message(), want)
			}
		})
	}
}
