package predictor

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/modeltest"
)

func TestDefaults(t *testing.T) {
	p := New(Options{MaxBatch: 1})
	if got, want := p.MaxInflight(), admission.AutoPerCPU*runtime.GOMAXPROCS(0); got != want {
		t.Errorf("auto --max-inflight = %d; want %d", got, want)
	}
	if got := cap(p.runs); got != runtime.GOMAXPROCS(0) {
		t.Errorf("run slots = %d; want GOMAXPROCS %d", got, runtime.GOMAXPROCS(0))
	}
	p = New(Options{MaxBatch: 1, CPUs: 3})
	if got, want := p.MaxInflight(), 3*admission.AutoPerCPU; got != want {
		t.Errorf("auto --max-inflight with 3 CPUs = %d; want %d", got, want)
	}
	if got := cap(p.runs); got != 3 {
		t.Errorf("run slots with 3 CPUs = %d; want 3", got)
	}
}

func TestPredictTimed(t *testing.T) {
	_, tm, err := loaded(t).PredictTimed(context.Background(), &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows(setosa)})
	if err != nil || tm.Tensor <= 0 || tm.Inference <= 0 {
		t.Fatalf("timings %+v, %v; want both positive", tm, err)
	}
}

// TestRunSlots: with one run slot held by a slow inference, a second request waits for it; its
// deadline passing while it waits is DEADLINE_EXCEEDED, and without one it completes once the
// slot frees, its wait not counted as tensor time.
func TestRunSlots(t *testing.T) {
	modeltest.InitORT(t)
	entered, release := make(chan struct{}, 4), make(chan struct{})
	p := New(Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 8, MaxRuns: 1,
		BeforeRun: func() { entered <- struct{}{}; <-release }})
	if err := p.Load(modeltest.Only(t, "iris-logreg")); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	req := &predictv1.PredictRequest{Model: "iris-logreg", Instances: rows(setosa)}
	first := make(chan error, 1)
	go func() { _, err := p.Predict(context.Background(), req); first <- err }()
	<-entered

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Predict(ctx, req); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("waiting past the deadline: %v; want DEADLINE_EXCEEDED", err)
	}

	second := make(chan Timings, 1)
	go func() {
		_, tm, err := p.PredictTimed(context.Background(), req)
		if err != nil {
			t.Error(err)
		}
		second <- tm
	}()
	time.Sleep(100 * time.Millisecond) // the second request waits for the slot
	select {
	case <-entered:
		t.Fatal("a second Run started while the only slot was held")
	default:
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if tm := <-second; tm.Tensor >= 100*time.Millisecond {
		t.Errorf("tensor time %v includes the wait for a run slot", tm.Tensor)
	}
}

func TestUnknownModelNameIsQuotedShort(t *testing.T) {
	p := loaded(t)
	name := strings.Repeat("x", 1<<20)
	want := `unknown model "` + strings.Repeat("x", 64) + `…" (1048576 bytes)`
	_, err := p.Predict(context.Background(), &predictv1.PredictRequest{Model: name, Instances: rows(setosa)})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != want {
		t.Fatalf("Predict: %v; want NOT_FOUND %q", err, want)
	}
	_, err = p.GetModel(name)
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != want {
		t.Fatalf("GetModel: %v; want NOT_FOUND %q", err, want)
	}
}
