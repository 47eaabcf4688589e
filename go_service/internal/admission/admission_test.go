package admission

import (
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestResolve(t *testing.T) {
	tests := []struct{ in, cpus, want int }{
		{0, 1, AutoPerCPU},
		{-1, 3, 3 * AutoPerCPU},
		{0, 0, AutoPerCPU},
		{1, 4, 1},
		{500, 2, 500},
	}
	for _, tc := range tests {
		if got := Resolve(tc.in, tc.cpus); got != tc.want {
			t.Errorf("Resolve(%d, %d) = %d; want %d", tc.in, tc.cpus, got, tc.want)
		}
	}
}

func TestEnterRefusesBeyondTheBound(t *testing.T) {
	g := New(2, 1)
	for i := range 2 {
		if err := g.Enter(nil); err != nil {
			t.Fatalf("request %d refused: %v", i, err)
		}
	}
	err := g.Enter(nil)
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
	g.Leave(nil)
	if err := g.Enter(nil); err != nil {
		t.Fatalf("after a Leave: %v", err)
	}
}

// TestEnterNeverOvershoots: under contention the bound holds exactly.
func TestEnterNeverOvershoots(t *testing.T) {
	const bound, workers, rounds = 3, 16, 2000
	g := New(bound, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := 0
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if g.Enter(nil) != nil {
					continue
				}
				if n := g.InFlight(); n > bound {
					mu.Lock()
					peak = max(peak, n)
					mu.Unlock()
				}
				g.Leave(nil)
			}
		}()
	}
	wg.Wait()
	if peak > bound || g.InFlight() != 0 {
		t.Fatalf("peak %d over the bound %d, %d left in flight", peak, bound, g.InFlight())
	}
}

// TestShare: one connection holds at most all places but one, so that another is still admitted;
// its places come back as its requests leave, and requests without a connection take any place.
func TestShare(t *testing.T) {
	g := New(4, 1)
	for i := range 3 {
		if err := g.Enter("a"); err != nil {
			t.Fatalf("a's request %d refused: %v", i, err)
		}
	}
	st := status.Convert(g.Enter("a"))
	if st.Code() != codes.ResourceExhausted || st.Message() != "server overloaded: this connection holds 3 of the 4 places (--max-inflight 4); retry later" {
		t.Fatalf("a's 4th request: %v", st.Err())
	}
	if len(st.Details()) != 1 {
		t.Fatalf("a's 4th request carries %d details; want its RetryInfo", len(st.Details()))
	}
	if err := g.Enter("b"); err != nil {
		t.Fatalf("b refused while a holds its share: %v", err)
	}
	if err := g.Enter(nil); err == nil {
		t.Fatal("a 5th request admitted over the bound of 4")
	}
	g.Leave("a")
	if err := g.Enter("a"); err != nil {
		t.Fatalf("a refused after one of its requests left: %v", err)
	}
	for range 3 {
		g.Leave("a")
	}
	g.Leave("b")
	if g.InFlight() != 0 || len(g.held) != 0 {
		t.Fatalf("%d in flight, %d connections held after all left", g.InFlight(), len(g.held))
	}
	if one := New(1, 1); one.Enter("a") != nil {
		t.Fatal("a bound of 1 refused the only request")
	}
}

// TestRefuses: Refuses gives Enter's answer for a connection without taking a place.
func TestRefuses(t *testing.T) {
	g := New(3, 1)
	for range 5 {
		if err := g.Refuses("a"); err != nil {
			t.Fatalf("Refuses on an empty gate: %v", err)
		}
	}
	if g.InFlight() != 0 || len(g.held) != 0 {
		t.Fatalf("Refuses took a place: %d in flight, %d connections held", g.InFlight(), len(g.held))
	}
	for range 2 {
		if err := g.Enter("a"); err != nil {
			t.Fatal(err)
		}
	}
	if err, want := g.Refuses("a"), g.Enter("a"); err == nil || err != want {
		t.Fatalf("a at its share: Refuses %v; Enter %v", err, want)
	}
	if err := g.Refuses("b"); err != nil {
		t.Fatalf("b while a holds its share: %v", err)
	}
	if err := g.Enter("b"); err != nil {
		t.Fatal(err)
	}
	if err, want := g.Refuses(nil), g.Enter(nil); err == nil || err != want {
		t.Fatalf("at the bound: Refuses %v; Enter %v", err, want)
	}
	if err := g.Refuses("c"); err == nil {
		t.Fatal("Refuses admitted c at the bound")
	}
	if err, want := g.Refuses("a"), g.Enter("a"); err == nil || err != want {
		t.Fatalf("a at its share and the bound: Refuses %v; Enter %v", err, want)
	}
	g.Leave("b")
	if err := g.Refuses("c"); err != nil {
		t.Fatalf("c after a place freed: %v", err)
	}
}
