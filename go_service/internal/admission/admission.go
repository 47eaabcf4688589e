// Package admission decides which predict requests a server takes on: by queueing time, with a
// count as a memory backstop (proto/predict/v1/README.md, "Admission, limits and slow clients").
//
// A request is admitted into the lane of its kind of work (Lane) while the time it would wait for
// a work slot there stays within the queueing budget (--max-queue-delay): expected wait = the
// requests admitted and waiting ahead of it × the lane's recent service time ÷ its slots. Beyond,
// it is refused at once, never queued: a client that retries later does better than one whose
// request waits behind a queue it cannot see. The backstop (--max-inflight, hundreds per CPU)
// bounds the requests held at once whatever their service time, for memory; it alone applies
// before a lane knows its service time, or with the budget off. A call whose deadline would pass
// before its expected wait ends is answered DEADLINE_EXCEEDED at once, without inference.
package admission

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"servebench/go_service/internal/contract"
)

// AutoPerCPU is the backstop per CPU when the configured one is 0 (auto): errors.json
// max_inflight_per_cpu, read from the contract's embedded copy. It bounds memory (each request
// held costs its body and decoded message), not latency: the time rule does that.
var AutoPerCPU = contract.DefaultLimits.MaxInflightPerCPU

// DefaultQueueDelay is the default queueing budget: errors.json max_queue_delay_ms.
var DefaultQueueDelay = contract.DefaultLimits.MaxQueueDelay

// QueueTarget is the expected wait a request is admitted within, as a fraction of the budget
// (errors.json queue_target_fraction, 1/2): under overload the standing queue sits at the target,
// and the rest of the budget is room for the waits the estimate does not foresee (the lane cuts a
// wait at the whole budget: Lane.Acquire) and for service times that stretch under overload.
var QueueTarget = contract.DefaultLimits.QueueTarget

// RetryDelay is the retry delay an overloaded refusal carries (google.rpc.RetryInfo); the HTTP
// adapter answers it as 503 with Retry-After.
const RetryDelay = time.Second

// Gate admits predict requests by queueing time in their lane, at most Max at a time, and at most
// Share of them from one connection. It is safe for concurrent use.
type Gate struct {
	max          int64
	budget       time.Duration // the queueing budget; 0: off
	target       time.Duration // the expected wait admitted: QueueTarget × budget
	n            atomic.Int64
	refusal      error // the backstop's
	shareRefusal error
	mu           sync.Mutex
	held         map[any]int64 // places held per connection (requests entered with a `from`)
}

// Resolve returns the backstop a configured value means: n itself when positive, else
// AutoPerCPU × cpus (the CPUs predict work may use).
func Resolve(n, cpus int) int {
	if n > 0 {
		return n
	}
	return AutoPerCPU * max(cpus, 1)
}

// New returns a Gate with the backstop Resolve(bound, cpus) and the queueing budget (0: the time
// rule off, only the backstop applies).
func New(bound, cpus int, budget time.Duration) *Gate {
	budget = max(budget, 0)
	target := time.Duration(QueueTarget * float64(budget))
	g := &Gate{max: int64(Resolve(bound, cpus)), budget: budget, target: target, held: map[any]int64{}}
	g.refusal = withRetry(status.New(codes.ResourceExhausted, fmt.Sprintf(
		"server overloaded: %d requests in progress or queued (--max-inflight %d); retry later", g.max, g.max)))
	g.shareRefusal = withRetry(status.New(codes.ResourceExhausted, fmt.Sprintf(
		"server overloaded: this connection holds %d of the %d places (--max-inflight %d); retry later",
		g.share(), g.max, g.max)))
	return g
}

func withRetry(st *status.Status) error {
	st, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(RetryDelay)})
	if err != nil {
		panic(err) // RetryInfo always marshals
	}
	return st.Err()
}

// Max is the backstop.
func (g *Gate) Max() int { return int(g.max) }

// Budget is the queueing budget (0: off).
func (g *Gate) Budget() time.Duration { return g.budget }

// share is the most places one connection may hold: all but one (a bound of 1 has no share), so
// that while one client fills the backstop over one connection (an HTTP/2 connection carries any
// number of concurrent calls), another client is still admitted.
func (g *Gate) share() int64 { return max(g.max-1, 1) }

// Enter admits one request from connection `from` (a comparable value naming it, such as its
// *net.TCPAddr; nil for none: a connection that carries one request at a time, as HTTP/1.1) into
// lane, or refuses it without waiting, in this order:
//   - ctx's deadline passed: DEADLINE_EXCEEDED;
//   - `from` holds its share, or the backstop is reached: RESOURCE_EXHAUSTED;
//   - the lane's expected wait exceeds the budget: RESOURCE_EXHAUSTED;
//   - ctx's deadline is nearer than the expected wait: DEADLINE_EXCEEDED.
//
// Every RESOURCE_EXHAUSTED carries a RetryInfo of RetryDelay. An admitted request then waits for
// a slot (Lane.Acquire) and must Leave once answered, with the same `from` and lane.
func (g *Gate) Enter(ctx context.Context, from any, lane *Lane) error {
	if err := deadlinePassed(ctx); err != nil {
		return err
	}
	if from == nil {
		return g.enter(ctx, lane)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held[from] >= g.share() {
		return g.shareRefusal
	}
	if err := g.enter(ctx, lane); err != nil {
		return err
	}
	g.held[from]++
	return nil
}

// enter takes a place under the backstop, then one in the lane under the time rule, or neither.
func (g *Gate) enter(ctx context.Context, lane *Lane) error {
	for {
		n := g.n.Load()
		if n >= g.max {
			return g.refusal
		}
		if g.n.CompareAndSwap(n, n+1) {
			break
		}
	}
	for {
		held := lane.held.Load()
		if err := g.judge(ctx, lane, held); err != nil {
			g.n.Add(-1)
			return err
		}
		if lane.held.CompareAndSwap(held, held+1) {
			raise(&lane.worstExpected, ExpectedWait(held, int64(lane.Slots()), lane.ServiceTime()))
			return nil
		}
	}
}

// judge applies the time rule and the deadline to a request arriving in lane while it holds
// `held` requests.
func (g *Gate) judge(ctx context.Context, lane *Lane, held int64) error {
	slots, service := int64(lane.Slots()), lane.ServiceTime()
	if limit := Limit(slots, g.target, service); limit > 0 && held > limit {
		return withRetry(status.New(codes.ResourceExhausted, fmt.Sprintf(
			"server overloaded: expected wait %v exceeds %v, %g of the queueing budget %v (--max-queue-delay); retry later",
			rounded(ExpectedWait(held, slots, service)), g.target, QueueTarget, g.budget)))
	}
	if deadline, ok := ctx.Deadline(); ok {
		wait := ExpectedWait(held, slots, service)
		if left := time.Until(deadline); left < wait {
			return status.Errorf(codes.DeadlineExceeded,
				"deadline exceeded: expected wait %v exceeds the %v left before the deadline", rounded(wait), rounded(max(left, 0)))
		}
	}
	return nil
}

// Refuses is Enter's answer for `from` and lane now, without taking a place: the refusal Enter
// would give, or nil when it would admit (a look, not a promise: by the time the request enters,
// the places may be taken). It lets an adapter refuse before it reads a request's body.
func (g *Gate) Refuses(ctx context.Context, from any, lane *Lane) error {
	if err := deadlinePassed(ctx); err != nil {
		return err
	}
	if from != nil {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.held[from] >= g.share() {
			return g.shareRefusal
		}
	}
	if g.n.Load() >= g.max {
		return g.refusal
	}
	return g.judge(ctx, lane, lane.held.Load())
}

// Leave ends a request admitted from connection `from` into lane.
func (g *Gate) Leave(from any, lane *Lane) {
	if from != nil {
		g.mu.Lock()
		if g.held[from]--; g.held[from] <= 0 {
			delete(g.held, from)
		}
		g.mu.Unlock()
	}
	lane.held.Add(-1)
	g.n.Add(-1)
}

// InFlight is the number of admitted requests not yet left.
func (g *Gate) InFlight() int { return int(g.n.Load()) }

// deadlinePassed is DEADLINE_EXCEEDED when ctx's deadline has passed, else nil.
func deadlinePassed(ctx context.Context) error {
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return status.Error(codes.DeadlineExceeded, "deadline exceeded before admission")
	}
	return nil
}

// rounded is d to three significant figures or so, for messages: 1.23s, 12.3ms, 45µs.
func rounded(d time.Duration) time.Duration {
	for unit := time.Second; unit >= time.Microsecond; unit /= 1000 {
		if d >= unit {
			return d.Round(unit / 100)
		}
	}
	return d
}
