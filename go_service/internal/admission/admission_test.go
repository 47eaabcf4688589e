package admission

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const ms = time.Millisecond

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

// TestExpectedWaitAndLimit: the time rule's arithmetic, and its count form (Little's law) admits
// exactly while the expected wait is within the budget.
func TestExpectedWaitAndLimit(t *testing.T) {
	tests := []struct {
		name            string
		held, slots     int64
		service, budget time.Duration
		wantWait        time.Duration
		wantLimit       int64
		wantAdmitted    bool
	}{
		{"a free slot", 1, 2, 10 * ms, time.Second, 0, 202, true},
		{"slots full, none waiting", 2, 2, 10 * ms, time.Second, 0, 202, true},
		{"one waiting ahead, one slot", 2, 1, 100 * ms, time.Second, 100 * ms, 11, true},
		{"ten ahead, one slot: at the budget", 11, 1, 100 * ms, time.Second, time.Second, 11, true},
		{"eleven ahead: over", 12, 1, 100 * ms, time.Second, 1100 * ms, 11, false},
		{"four ahead over two slots", 6, 2, 30 * ms, 50 * ms, 60 * ms, 5, false},
		{"three ahead over two slots", 5, 2, 30 * ms, 50 * ms, 45 * ms, 5, true},
		{"no service time known", 1000, 1, 0, time.Second, 0, 0, true},
		{"budget off", 1000, 1, 10 * ms, 0, 9990 * ms, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExpectedWait(tc.held, tc.slots, tc.service); got != tc.wantWait {
				t.Errorf("ExpectedWait = %v; want %v", got, tc.wantWait)
			}
			limit := Limit(tc.slots, tc.budget, tc.service)
			if limit != tc.wantLimit {
				t.Errorf("Limit = %d; want %d", limit, tc.wantLimit)
			}
			admitted := limit == 0 || tc.held <= limit
			if admitted != tc.wantAdmitted {
				t.Errorf("admitted by the count %v; want %v", admitted, tc.wantAdmitted)
			}
			if tc.budget > 0 && tc.service > 0 && admitted != (tc.wantWait <= tc.budget) {
				t.Errorf("the count (%v) and the expected wait %v ≤ %v disagree", admitted, tc.wantWait, tc.budget)
			}
		})
	}
}

// TestServiceTimeAverage: the first observation sets the service time; each later one moves it by
// ServiceWeight of the difference.
func TestServiceTimeAverage(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		want    time.Duration
	}{
		{"none", nil, 0},
		{"first sets it", []time.Duration{40 * ms}, 40 * ms},
		{"one slower", []time.Duration{40 * ms, 120 * ms}, 50 * ms},
		{"one faster", []time.Duration{40 * ms, 8 * ms}, 36 * ms},
		{"steady", []time.Duration{10 * ms, 10 * ms, 10 * ms}, 10 * ms},
		{"a zero sample is one nanosecond", []time.Duration{0}, 1},
		{"a stall counts as 4 × the average", []time.Duration{20 * ms, 2 * time.Second}, 27500 * time.Microsecond},
		{"at 4 × the average, not clipped", []time.Duration{20 * ms, 80 * ms}, 27500 * time.Microsecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLane("test", 1)
			for _, d := range tc.samples {
				l.Observe(d)
			}
			if got := l.ServiceTime(); got != tc.want {
				t.Fatalf("service time %v; want %v", got, tc.want)
			}
		})
	}
	for _, to := range []time.Duration{30 * ms, 1000 * ms} {
		l := NewLane("test", 1)
		l.Observe(10 * ms)
		for range 100 {
			l.Observe(to)
		}
		if got := l.ServiceTime(); got < to*99/100 || got > to {
			t.Fatalf("from 10ms, after 100 samples of %v: %v", to, got)
		}
	}
}

// fill enters n requests into lane with no service time known (so only the backstop applies).
func fill(t *testing.T, g *Gate, lane *Lane, n int) {
	t.Helper()
	for i := range n {
		if err := g.Enter(context.Background(), nil, lane); err != nil {
			t.Fatalf("filling request %d: %v", i, err)
		}
	}
}

func retryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.RetryInfo); ok {
			return info.GetRetryDelay().AsDuration()
		}
	}
	return 0
}

// TestEnterByQueueingTime: a request is judged by the expected wait in its lane against the
// budget, the backstop and its deadline, on synthetic lanes (held requests, a set service time).
func TestEnterByQueueingTime(t *testing.T) {
	tests := []struct {
		name     string
		backstop int
		budget   time.Duration
		slots    int
		held     int
		service  time.Duration
		deadline time.Duration // from now; 0: none
		code     codes.Code
		message  string
	}{
		{"within the target", 100, 2 * time.Second, 1, 10, 100 * ms, 0, codes.OK, ""},
		{"over the target", 100, 2 * time.Second, 1, 12, 100 * ms, 0, codes.ResourceExhausted,
			"server overloaded: expected wait 1.1s exceeds 1s, 0.5 of the queueing budget 2s (--max-queue-delay); retry later"},
		{"more slots, shorter wait", 100, 2 * time.Second, 4, 44, 100 * ms, 0, codes.OK, ""},
		{"budget off: the backstop alone", 100, 0, 1, 99, time.Second, 0, codes.OK, ""},
		{"no service time yet: the backstop alone", 100, 2 * time.Second, 1, 99, 0, 0, codes.OK, ""},
		{"the backstop", 5, 2 * time.Second, 1, 5, 0, 0, codes.ResourceExhausted,
			"server overloaded: 5 requests in progress or queued (--max-inflight 5); retry later"},
		{"the backstop before the budget", 5, 2 * time.Second, 1, 5, 2 * time.Second, 0, codes.ResourceExhausted,
			"server overloaded: 5 requests in progress or queued (--max-inflight 5); retry later"},
		{"a deadline beyond the wait", 100, 2 * time.Second, 1, 5, 10 * ms, time.Minute, codes.OK, ""},
		{"a deadline nearer than the wait", 100, 2 * time.Second, 1, 5, 100 * ms, 200 * ms, codes.DeadlineExceeded,
			"deadline exceeded: expected wait 400ms exceeds the "},
		{"a deadline and no wait", 100, 2 * time.Second, 2, 1, 100 * ms, 200 * ms, codes.OK, ""},
		{"a deadline passed", 100, 2 * time.Second, 1, 0, 0, -time.Millisecond, codes.DeadlineExceeded,
			"deadline exceeded before admission"},
		{"over the target and the deadline", 100, 2 * time.Second, 1, 12, 100 * ms, 200 * ms, codes.ResourceExhausted,
			"server overloaded: expected wait 1.1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, lane := New(tc.backstop, 1, tc.budget), NewLane("test", tc.slots)
			fill(t, g, lane, tc.held)
			if tc.service > 0 {
				lane.Observe(tc.service)
			}
			ctx := context.Background()
			if tc.deadline != 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			look := g.Refuses(ctx, nil, lane)
			err := g.Enter(ctx, nil, lane)
			st := status.Convert(err)
			if st.Code() != tc.code || !strings.HasPrefix(st.Message(), tc.message) {
				t.Fatalf("Enter: %v; want %v %q…", err, tc.code, tc.message)
			}
			if status.Code(look) != tc.code {
				t.Errorf("Refuses: %v; want %v as Enter", look, tc.code)
			}
			wantDelay := time.Duration(0)
			if tc.code == codes.ResourceExhausted {
				wantDelay = RetryDelay
			}
			if d := retryDelay(st); d != wantDelay {
				t.Errorf("RetryInfo delay %v; want %v", d, wantDelay)
			}
			wantHeld := tc.held
			if err == nil {
				wantHeld++
			}
			if g.InFlight() != wantHeld || int(lane.held.Load()) != wantHeld {
				t.Errorf("%d in flight, %d in the lane; want %d (a refusal takes no place)", g.InFlight(), lane.held.Load(), wantHeld)
			}
		})
	}
}

// TestLanesAreJudgedApart: a long queue in one lane refuses there, not in another lane.
func TestLanesAreJudgedApart(t *testing.T) {
	g, big, small := New(100, 1, 50*ms), NewLane("big", 1), NewLane("small", 1)
	fill(t, g, big, 3)
	big.Observe(40 * ms)
	small.Observe(time.Millisecond)
	if err := g.Enter(context.Background(), nil, big); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("big lane, 2 ahead × 40ms: %v; want RESOURCE_EXHAUSTED", err)
	}
	if err := g.Enter(context.Background(), nil, small); err != nil {
		t.Fatalf("small lane beside it: %v", err)
	}
}

// TestLeaveFreesPlaces: Leave gives back the backstop's place and the lane's.
func TestLeaveFreesPlaces(t *testing.T) {
	g, lane := New(2, 1, 0), NewLane("test", 1)
	fill(t, g, lane, 2)
	if err := g.Enter(context.Background(), nil, lane); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third request: %v", err)
	}
	g.Leave(nil, lane)
	if err := g.Enter(context.Background(), nil, lane); err != nil {
		t.Fatalf("after a Leave: %v", err)
	}
	g.Leave(nil, lane)
	g.Leave(nil, lane)
	if g.InFlight() != 0 || lane.held.Load() != 0 {
		t.Fatalf("%d in flight, %d in the lane after all left", g.InFlight(), lane.held.Load())
	}
}

// TestEnterNeverOvershoots: under contention the backstop and the time rule's count hold exactly.
func TestEnterNeverOvershoots(t *testing.T) {
	for _, tc := range []struct {
		name     string
		backstop int
		budget   time.Duration
		want     int64
	}{
		{"backstop", 3, 0, 3},
		{"time rule", 100, 30 * ms, 5}, // 1 slot, 10ms: 1 at work, at most 3 ahead of the last admitted
	} {
		t.Run(tc.name, func(t *testing.T) {
			const workers, rounds = 16, 2000
			g, lane := New(tc.backstop, 1, tc.budget), NewLane("test", 1)
			lane.Observe(10 * ms)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var peak int64
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range rounds {
						if g.Enter(context.Background(), nil, lane) != nil {
							continue
						}
						if n := lane.held.Load(); n > tc.want {
							mu.Lock()
							peak = max(peak, n)
							mu.Unlock()
						}
						g.Leave(nil, lane)
					}
				}()
			}
			wg.Wait()
			if peak > tc.want || g.InFlight() != 0 || lane.held.Load() != 0 {
				t.Fatalf("peak %d over %d, %d left in flight", peak, tc.want, g.InFlight())
			}
		})
	}
}

// TestShare: one connection holds at most all backstop places but one, so that another is still
// admitted; its places come back as its requests leave, and requests without a connection take
// any place.
func TestShare(t *testing.T) {
	g, lane, ctx := New(4, 1, time.Second), NewLane("test", 1), context.Background()
	for i := range 3 {
		if err := g.Enter(ctx, "a", lane); err != nil {
			t.Fatalf("a's request %d refused: %v", i, err)
		}
	}
	st := status.Convert(g.Enter(ctx, "a", lane))
	if st.Code() != codes.ResourceExhausted || st.Message() != "server overloaded: this connection holds 3 of the 4 places (--max-inflight 4); retry later" {
		t.Fatalf("a's 4th request: %v", st.Err())
	}
	if retryDelay(st) != RetryDelay {
		t.Fatalf("a's 4th request carries no RetryInfo of %v", RetryDelay)
	}
	if err := g.Enter(ctx, "b", lane); err != nil {
		t.Fatalf("b refused while a holds its share: %v", err)
	}
	if err := g.Enter(ctx, nil, lane); err == nil {
		t.Fatal("a 5th request admitted over the backstop of 4")
	}
	g.Leave("a", lane)
	if err := g.Enter(ctx, "a", lane); err != nil {
		t.Fatalf("a refused after one of its requests left: %v", err)
	}
	for range 3 {
		g.Leave("a", lane)
	}
	g.Leave("b", lane)
	if g.InFlight() != 0 || len(g.held) != 0 || lane.held.Load() != 0 {
		t.Fatalf("%d in flight, %d connections held after all left", g.InFlight(), len(g.held))
	}
	if one := New(1, 1, 0); one.Enter(ctx, "a", lane) != nil {
		t.Fatal("a backstop of 1 refused the only request")
	}
}

// TestRefuses: Refuses gives Enter's answer for a connection without taking a place.
func TestRefuses(t *testing.T) {
	g, lane, ctx := New(3, 1, 0), NewLane("test", 1), context.Background()
	for range 5 {
		if err := g.Refuses(ctx, "a", lane); err != nil {
			t.Fatalf("Refuses on an empty gate: %v", err)
		}
	}
	if g.InFlight() != 0 || len(g.held) != 0 || lane.held.Load() != 0 {
		t.Fatalf("Refuses took a place: %d in flight, %d connections held", g.InFlight(), len(g.held))
	}
	for range 2 {
		if err := g.Enter(ctx, "a", lane); err != nil {
			t.Fatal(err)
		}
	}
	if err, want := g.Refuses(ctx, "a", lane), g.Enter(ctx, "a", lane); err == nil || err != want {
		t.Fatalf("a at its share: Refuses %v; Enter %v", err, want)
	}
	if err := g.Refuses(ctx, "b", lane); err != nil {
		t.Fatalf("b while a holds its share: %v", err)
	}
	if err := g.Enter(ctx, "b", lane); err != nil {
		t.Fatal(err)
	}
	if err, want := g.Refuses(ctx, nil, lane), g.Enter(ctx, nil, lane); err == nil || err != want {
		t.Fatalf("at the backstop: Refuses %v; Enter %v", err, want)
	}
	if err := g.Refuses(ctx, "c", lane); err == nil {
		t.Fatal("Refuses admitted c at the backstop")
	}
	g.Leave("b", lane)
	if err := g.Refuses(ctx, "c", lane); err != nil {
		t.Fatalf("c after a place freed: %v", err)
	}
}

// TestAcquire: a request waits for a free slot; its context ending first is DEADLINE_EXCEEDED
// (deadline) or CANCELLED (client gone), with the slot still held by the other, and a context
// already ended takes no free slot; Release frees the slot and adds its hold time to the service
// time.
func TestAcquire(t *testing.T) {
	lane := NewLane("test", 1)
	started, err := lane.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline, cancel := context.WithTimeout(context.Background(), 20*ms)
	defer cancel()
	if _, err := lane.Acquire(deadline); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("deadline while queued: %v; want DEADLINE_EXCEEDED", err)
	}
	gone, leave := context.WithCancel(context.Background())
	leave()
	if _, err := lane.Acquire(gone); status.Code(err) != codes.Canceled {
		t.Fatalf("client gone while queued: %v; want CANCELLED", err)
	}
	if _, err := NewLane("free", 1).Acquire(gone); status.Code(err) != codes.Canceled {
		t.Fatalf("client gone, a slot free: %v; want CANCELLED", err)
	}
	lane.Release(started.Add(-5 * ms))
	if got := lane.ServiceTime(); got < 5*ms {
		t.Fatalf("service time %v after a 5ms hold", got)
	}
	if _, err := lane.Acquire(context.Background()); err != nil {
		t.Fatalf("after Release: %v", err)
	}
}

// TestAcquireOverBudget: with a budget, a request that waits that long for a slot is refused
// (RESOURCE_EXHAUSTED with a RetryInfo, as on arrival); a free slot is taken at once whatever the
// budget, and a deadline nearer than the budget still answers DEADLINE_EXCEEDED.
func TestAcquireOverBudget(t *testing.T) {
	lane := NewLane("test", 1).WithBudget(20 * ms)
	if _, err := lane.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err := lane.Acquire(context.Background())
	if status.Code(err) != codes.ResourceExhausted || time.Since(began) < 20*ms {
		t.Fatalf("waited over the budget: %v after %v; want RESOURCE_EXHAUSTED after ≥ 20ms", err, time.Since(began))
	}
	if !strings.Contains(err.Error(), "over the queueing budget 20 ms") || retryDelay(status.Convert(err)) != RetryDelay {
		t.Fatalf("refusal %v: want the budget named and a RetryInfo of %v", err, RetryDelay)
	}
	deadline, cancel := context.WithTimeout(context.Background(), 5*ms)
	defer cancel()
	if _, err := lane.Acquire(deadline); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("deadline nearer than the budget: %v; want DEADLINE_EXCEEDED", err)
	}
}
