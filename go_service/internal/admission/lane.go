package admission

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"servebench/go_service/internal/contract"
)

// ServiceWeight is the weight of the newest sample in a lane's service time, an exponentially
// weighted moving average (as TCP's smoothed round-trip time, RFC 6298, weighs its samples): it
// follows a change of workload within a few dozen requests, and one slow request (a collection, a
// big batch among small ones) moves it by an eighth of the difference.
var ServiceWeight = contract.DefaultLimits.ServiceWeight // errors.json service_time_weight (1/8)

// ServiceClip bounds one sample's pull on the service time: a sample over ServiceClip × the
// current average counts as ServiceClip × the average. The expected wait multiplies the service
// time by the requests ahead, so one stalled hold (a collection, the thread descheduled, another
// process on the CPU) would otherwise count once per request waiting: at 100 in flight on 2 slots
// an 8th of a 200 ms stall became 1.2 s of expected wait, and `hey -c 100` of 20 µs iris
// requests, whose longest real wait was 207 ms, was refused 3 times at a budget of 1 s (this VM,
// shared). A real change of workload still moves it: up to ×(1 + 3/8) a request, 100× in 15.
var ServiceClip = contract.DefaultLimits.ServiceClip // errors.json service_time_clip (4)

// Lane is a set of work slots and the queue before them: the predict requests admitted into it,
// at work in a slot or waiting for one, and its service time, how long a request holds a slot (an
// EWMA of the last ones, weight ServiceWeight, a sample counting at most ServiceClip × the
// average). An adapter makes one lane per kind of work (HTTP: bodies up to big_body_bytes and
// bigger ones; gRPC: its messages), and admission judges a request by the wait in its lane
// (Gate.Enter). It is safe for concurrent use.
type Lane struct {
	name    string
	budget  time.Duration // the queueing budget: a request waiting longer for a slot is refused (0: none)
	slots   chan struct{} // one token per request at work
	held    atomic.Int64  // requests admitted into the lane and not yet left: at work or waiting
	service atomic.Int64  // the service time EWMA, in nanoseconds; 0 until the first request leaves
	// For the report at shutdown (Stats).
	worstExpected atomic.Int64 // the longest expected wait of an admitted request, ns
	worstWait     atomic.Int64 // the longest wait for a slot, ns
}

// NewLane returns a lane of `slots` work slots (at least 1), named for logs.
func NewLane(name string, slots int) *Lane {
	return &Lane{name: name, slots: make(chan struct{}, max(slots, 1))}
}

// WithBudget sets the queueing budget the lane's requests wait at most for a slot (the gate's,
// --max-queue-delay): one admitted on an estimate that did not foresee its wait (a stall, a burst
// of big requests ahead) is refused once it has waited that long (Acquire). 0: no limit.
func (l *Lane) WithBudget(budget time.Duration) *Lane {
	l.budget = budget
	return l
}

// Slots is the number of work slots.
func (l *Lane) Slots() int { return cap(l.slots) }

// Held is the number of requests admitted into the lane and not yet left: at work or waiting.
func (l *Lane) Held() int { return int(l.held.Load()) }

// ServiceTime is the lane's recent service time (0: none known yet).
func (l *Lane) ServiceTime() time.Duration { return time.Duration(l.service.Load()) }

// Observe adds one request's service time to the lane's average (at most ServiceClip × the
// average). The first sets it.
func (l *Lane) Observe(d time.Duration) {
	d = max(d, 1) // 0 means unknown
	for {
		old := l.service.Load()
		next := int64(d)
		if old > 0 {
			next = old + int64(ServiceWeight*float64(min(int64(d), ServiceClip*old)-old))
		}
		if l.service.CompareAndSwap(old, max(next, 1)) {
			return
		}
	}
}

// ExpectedWait is how long a request entering the lane now would wait for a slot: the requests
// waiting ahead of it × the service time ÷ the slots (0 while a slot is free, or while no service
// time is known).
func (l *Lane) ExpectedWait() time.Duration {
	return ExpectedWait(l.held.Load(), int64(l.Slots()), l.ServiceTime())
}

// ExpectedWait is the wait of a request arriving in a lane of `slots` slots that holds `held`
// requests (at work or waiting), each holding a slot for `service`: max(0, held − slots) ×
// service ÷ slots. An unknown service time (0) is no wait.
func ExpectedWait(held, slots int64, service time.Duration) time.Duration {
	ahead := held - slots
	if ahead <= 0 || service <= 0 || slots <= 0 {
		return 0
	}
	return time.Duration(ahead * int64(service) / slots)
}

// Limit is the time rule as a count, by Little's law: a lane whose requests each hold one of
// `slots` slots for `service` admits a request while it holds at most
// slots + ⌊budget × slots ÷ service⌋ requests (at work or waiting) before it, which is exactly
// while ExpectedWait ≤ budget (the requests ahead are a whole number); recomputed as the service
// time moves. 0 means no limit: no budget, or no service time known yet.
func Limit(slots int64, budget, service time.Duration) int64 {
	if budget <= 0 || service <= 0 {
		return 0
	}
	return slots + int64(budget)*slots/int64(service)
}

// Acquire waits for a work slot, or for ctx to end: DEADLINE_EXCEEDED when its deadline passed,
// CANCELLED when its client went away (the request is dropped without inference; also when ctx
// has already ended); or for the lane's budget to pass: RESOURCE_EXHAUSTED with a RetryInfo, as an
// overload refusal on arrival. It returns when the slot was taken; a request that has one calls Release
// with that time once its work is done.
func (l *Lane) Acquire(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, ctxError(err, "before its work")
	}
	select {
	case l.slots <- struct{}{}:
		return time.Now(), nil
	default:
	}
	began := time.Now()
	var overdue <-chan time.Time
	if l.budget > 0 {
		timer := time.NewTimer(l.budget)
		defer timer.Stop()
		overdue = timer.C
	}
	select {
	case l.slots <- struct{}{}:
		now := time.Now()
		raise(&l.worstWait, now.Sub(began))
		return now, nil
	case <-ctx.Done():
		return time.Time{}, ctxError(ctx.Err(), "while queued for a work slot")
	case <-overdue:
		return time.Time{}, overdueError(time.Since(began), l.budget)
	}
}

// Release frees the slot taken at `started` and adds its hold time to the service time.
func (l *Lane) Release(started time.Time) {
	l.Observe(time.Since(started))
	<-l.slots
}

// LaneStats are a lane's figures since it was made.
type LaneStats struct {
	Name          string
	Slots         int
	ServiceTime   time.Duration // the current average
	WorstExpected time.Duration // the longest expected wait of an admitted request
	WorstWait     time.Duration // the longest wait for a slot
}

// Stats are the lane's figures, for the log at shutdown.
func (l *Lane) Stats() LaneStats {
	return LaneStats{
		Name: l.name, Slots: l.Slots(), ServiceTime: l.ServiceTime(),
		WorstExpected: time.Duration(l.worstExpected.Load()), WorstWait: time.Duration(l.worstWait.Load()),
	}
}

// raise sets *v to d if d is larger.
func raise(v *atomic.Int64, d time.Duration) {
	for {
		old := v.Load()
		if int64(d) <= old || v.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// ctxError is the status of a request whose context ended `where`.
func ctxError(err error, where string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return status.Error(codes.DeadlineExceeded, "deadline exceeded "+where)
	}
	return status.Error(codes.Canceled, "request cancelled "+where)
}

// overdueError is the refusal of a request that waited `waited` for a slot, over `budget`.
func overdueError(waited, budget time.Duration) error {
	return withRetry(status.Newf(codes.ResourceExhausted,
		"server overloaded: waited %d ms for a work slot, over the queueing budget %d ms (--max-queue-delay); retry later",
		waited.Milliseconds(), budget.Milliseconds()))
}
