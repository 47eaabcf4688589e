package admission

import (
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestResolve(t *testing.T) {
	tests := []struct{ in, want int }{
		{0, AutoPerProc * runtime.GOMAXPROCS(0)},
		{-1, AutoPerProc * runtime.GOMAXPROCS(0)},
		{1, 1},
		{500, 500},
	}
	for _, tc := range tests {
		if got := Resolve(tc.in); got != tc.want {
			t.Errorf("Resolve(%d) = %d; want %d", tc.in, got, tc.want)
		}
	}
}

func TestEnterRefusesBeyondTheBound(t *testing.T) {
	g := New(2)
	for i := range 2 {
		if err := g.Enter(); err != nil {
			t.Fatalf("request %d refused: %v", i, err)
		}
	}
	err := g.Enter()
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted || st.Message() != "server overloaded: 2 requests in progress or queued (--max-inflight 2); retry later" {
		t.Fatalf("third request: %v", err)
	}
	var delay time.Duration
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			delay = info.GetRetryDelay().AsDuration()
		}
	}
	if delay != RetryDelay {
		t.Fatalf("RetryInfo delay %v; want %v", delay, RetryDelay)
	}
	g.Leave()
	if err := g.Enter(); err != nil {
		t.Fatalf("after a Leave: %v", err)
	}
}

// TestEnterNeverOvershoots: under contention the bound holds exactly.
func TestEnterNeverOvershoots(t *testing.T) {
	const bound, workers, rounds = 3, 16, 2000
	g := New(bound)
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if g.Enter() != nil {
					continue
				}
				if n := g.InFlight(); n > bound {
					mu.Lock()
					peak = max(peak, n)
					mu.Unlock()
				}
				g.Leave()
			}
		}()
	}
	wg.Wait()
	if peak > bound || g.InFlight() != 0 {
		t.Fatalf("peak %d over the bound %d, %d left in flight", peak, bound, g.InFlight())
	}
}
