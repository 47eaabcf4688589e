package grpcapi_test

// Admission by queueing time over gRPC, on a core whose inference blocks: a burst is admitted up
// to the lane's time rule and refused beyond it; a call whose deadline is nearer than its expected
// wait, or passes while it waits, is answered DEADLINE_EXCEEDED without inference.

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/admission"
	"servebench/go_service/internal/coretest"
	"servebench/go_service/internal/grpcapi"
	"servebench/go_service/internal/metrics"
)

// timedServer serves core with lane and metrics m and returns a client and free, which closes
// release (once; also when the test ends, before the server stops).
func timedServer(t *testing.T, core grpcapi.Core, lane *admission.Lane, m *metrics.Metrics, release chan struct{}) (predictv1.PredictionServiceClient, func()) {
	t.Helper()
	conn := dialWith(t, core, true, grpcapi.Options{MaxRecv: testMaxRecv, Work: lane, Metrics: m})
	free := sync.OnceFunc(func() { close(release) })
	t.Cleanup(free)
	return predictv1.NewPredictionServiceClient(conn), free
}

// TestAdmissionByQueueingTime: N calls at once into a lane of one slot whose service time is
// 100 ms (inference blocked, so none leaves), budget 600 ms (its target, admission.QueueTarget of
// it, 300 ms): admitted while the calls waiting ahead × 100 ms ≤ 300 ms (1 at work + 4), the rest
// refused at once with RESOURCE_EXHAUSTED naming the rule; with the budget off, all of them.
func TestAdmissionByQueueingTime(t *testing.T) {
	tests := []struct {
		name         string
		budget       time.Duration
		n, admitted  int
		refusedNames string
	}{
		{"budget", 600 * time.Millisecond, 8, 5, "--max-queue-delay"},
		{"budget off", 0, 8, 8, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, _, release := coretest.TimedCore(t, tc.budget, 1)
			lane := admission.NewLane("grpc", 1)
			lane.Observe(100 * time.Millisecond)
			client, free := timedServer(t, core, lane, nil, release)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var refused atomic.Int64
			codesSeen := make(chan codes.Code, tc.n)
			for range tc.n {
				go func() {
					_, err := client.Predict(ctx, iris(setosa...))
					if st := status.Convert(err); st.Code() == codes.ResourceExhausted {
						refused.Add(1)
						if !strings.Contains(st.Message(), tc.refusedNames) || tc.refusedNames == "" {
							t.Errorf("refusal %q does not name %q", st.Message(), tc.refusedNames)
						}
					}
					codesSeen <- status.Code(err)
				}()
			}
			coretest.Await(t, "the calls were neither all admitted nor refused", func() bool {
				return lane.Held()+int(refused.Load()) == tc.n
			})
			free()
			counts := map[codes.Code]int{}
			for range tc.n {
				counts[<-codesSeen]++
			}
			if counts[codes.OK] != tc.admitted || counts[codes.ResourceExhausted] != tc.n-tc.admitted {
				t.Fatalf("answers %v; want %d OK, %d RESOURCE_EXHAUSTED", counts, tc.admitted, tc.n-tc.admitted)
			}
		})
	}
}

// TestDeadlineNearerThanTheWait: with one call at work and one waiting in a lane of one slot whose
// service time is a minute, a call with 10 s left is answered DEADLINE_EXCEEDED at once, naming
// the expected wait, without reaching the core; it is counted as such, not as shed.
func TestDeadlineNearerThanTheWait(t *testing.T) {
	core, entered, release := coretest.TimedCore(t, time.Hour, 1)
	lane := admission.NewLane("grpc", 1)
	lane.Observe(time.Minute)
	m := metrics.New()
	client, free := timedServer(t, core, lane, m, release)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	defer func() { free(); wg.Wait() }() // no call left running when the core closes
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); client.Predict(ctx, iris(setosa...)) }()
	}
	coretest.Await(t, "the first two calls were not admitted", func() bool { return lane.Held() == 2 })
	<-entered

	short, cancelShort := context.WithTimeout(ctx, 10*time.Second)
	defer cancelShort()
	_, err := client.Predict(short, iris(setosa...))
	if st := status.Convert(err); st.Code() != codes.DeadlineExceeded || !strings.Contains(st.Message(), "expected wait 1m0s exceeds the") {
		t.Fatalf("a call with 10s left behind a 1 min wait: %v; want DEADLINE_EXCEEDED naming the expected wait", err)
	}
	coretest.NoInference(t, entered, "the waiting call reached the core before the first left")
	if got := counter(t, m, "servebench_requests_total", "DEADLINE_EXCEEDED"); got != 1 {
		t.Errorf("%v calls counted DEADLINE_EXCEEDED; want 1", got)
	}
	if got := counter(t, m, "servebench_shed_total", ""); got != 0 {
		t.Errorf("%v calls counted shed; want 0", got)
	}
}

// TestDeadlinePassesWhileQueued: a call admitted behind one at work whose deadline passes while it
// waits for the slot is given up without reaching the core, and leaves its place.
func TestDeadlinePassesWhileQueued(t *testing.T) {
	core, entered, release := coretest.TimedCore(t, time.Second, 1)
	lane := admission.NewLane("grpc", 1) // no service time known: nothing refused at admission
	m := metrics.New()
	client, free := timedServer(t, core, lane, m, release)
	first := make(chan error, 1)
	go func() { _, err := client.Predict(context.Background(), iris(setosa...)); first <- err }()
	defer func() { free(); <-first }() // no call left running when the core closes
	<-entered

	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := client.Predict(short, iris(setosa...)); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("a call whose deadline passes while queued: %v; want DEADLINE_EXCEEDED", err)
	}
	// The server's own timer (DEADLINE_EXCEEDED) and the client's, whose RST_STREAM cancels the
	// call (CANCELLED), race: either is the call given up while queued.
	coretest.Await(t, "the server did not count the queued call DEADLINE_EXCEEDED or CANCELLED", func() bool {
		return counter(t, m, "servebench_requests_total", "DEADLINE_EXCEEDED")+counter(t, m, "servebench_requests_total", "CANCELLED") == 1
	})
	if lane.Held() != 1 {
		t.Fatalf("%d calls in the lane; want the first alone", lane.Held())
	}
	coretest.NoInference(t, entered, "the expired call reached the core")
}

// counter is the gRPC Predict series of a metric (code "" for a metric without one).
func counter(t *testing.T, m *metrics.Metrics, name, code string) float64 {
	t.Helper()
	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, metric := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["protocol"] == "grpc" && (code == "" || labels["method"] == "Predict" && labels["code"] == code) {
				return metric.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{protocol=\"grpc\",code=%q}", name, code)
	return 0
}
