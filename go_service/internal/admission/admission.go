// Package admission bounds the predict requests a server holds at once (in progress or queued,
// --max-inflight). A request beyond the bound is refused at once, never queued: a client that
// retries later does better than one whose request waits behind a queue it cannot see.
package admission

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"servebench/go_service/internal/metrics"
)

// AutoPerCPU is the bound per CPU when the configured bound is 0 (auto): errors.json
// max_inflight_per_cpu. A predict request is CPU work from decode to encode, so one at work and
// one ready to start when it ends keep a CPU busy; each one more adds its service time to the
// others' latency under overload and nothing to throughput.
const AutoPerCPU = 2

// RetryDelay is the retry delay an overloaded refusal carries (google.rpc.RetryInfo); the HTTP
// adapter answers it as 503 with Retry-After.
const RetryDelay = time.Second

// Gate admits at most Max requests at a time, and at most Share of them from one connection. It
// is safe for concurrent use.
type Gate struct {
	max          int64
	n            atomic.Int64
	refusal      error
	shareRefusal error
	mu           sync.Mutex
	held         map[any]int64 // places held per connection (requests entered with a `from`)
}

// Resolve returns the bound a configured value means: n itself when positive, else
// AutoPerCPU × cpus (the CPUs predict work may use).
func Resolve(n, cpus int) int {
	if n > 0 {
		return n
	}
	return AutoPerCPU * max(cpus, 1)
}

// New returns a Gate admitting Resolve(bound, cpus) requests at a time.
func New(bound, cpus int) *Gate {
	g := &Gate{max: int64(Resolve(bound, cpus))}
	g.refusal = withRetry(status.New(codes.ResourceExhausted, fmt.Sprintf(
		"server overloaded: %d requests in progress or queued (--max-inflight %d); retry later", g.max, g.max)))
	g.shareRefusal = withRetry(status.New(codes.ResourceExhausted, fmt.Sprintf(
		"server overloaded: this connection holds %d of the %d places (--max-inflight %d); retry later",
		g.share(), g.max, g.max)))
	g.held = map[any]int64{}
	return g
}

func withRetry(st *status.Status) error {
	st, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(RetryDelay)})
	if err != nil {
		panic(err) // RetryInfo always marshals
	}
	return st.Err()
}

// Max is the bound.
func (g *Gate) Max() int { return int(g.max) }

// share is the most places one connection may hold: all but one (a bound of 1 has no share), so
// that while one client fills the bound over one connection (an HTTP/2 connection carries any
// number of concurrent calls), another client is still admitted.
func (g *Gate) share() int64 { return max(g.max-1, 1) }

// Enter admits one request from connection `from` (a comparable value naming it, such as its
// *net.TCPAddr; nil for none: a connection that carries one request at a time, as HTTP/1.1), or
// refuses it without waiting: RESOURCE_EXHAUSTED with a RetryInfo of RetryDelay, when the bound is
// reached or `from` holds its share. An admitted request must Leave once answered, with the same
// `from`.
func (g *Gate) Enter(from any) error {
	if from == nil {
		return g.enter()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held[from] >= g.share() {
		return g.shareRefusal
	}
	if err := g.enter(); err != nil {
		return err
	}
	g.held[from]++
	return nil
}

// Refuses is Enter's answer for `from` now, without taking a place: the refusal Enter would give,
// or nil when it would admit (a look, not a promise: by the time the request enters, the places
// may be taken). It lets an adapter refuse before it reads a request's body.
func (g *Gate) Refuses(from any) error {
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
	return nil
}

func (g *Gate) enter() error {
	for {
		n := g.n.Load()
		if n >= g.max {
			return g.refusal
		}
		if g.n.CompareAndSwap(n, n+1) {
			return nil
		}
	}
}

// Leave ends a request admitted from connection `from`.
func (g *Gate) Leave(from any) {
	if from != nil {
		g.mu.Lock()
		if g.held[from]--; g.held[from] <= 0 {
			delete(g.held, from)
		}
		g.mu.Unlock()
	}
	g.n.Add(-1)
}

// InFlight is the number of admitted requests not yet left.
func (g *Gate) InFlight() int { return int(g.n.Load()) }

// Core is what an adapter's admission asks of the predictor: a place in its bound, its end, and
// whether it would refuse one now (Gate.Refuses).
type Core interface {
	Admit(from any) error
	Release(from any)
	Refuses(from any) error
}

// Check refuses a predict request of protocol p from connection `from` before it is read, when
// core would refuse it now (Gate.Refuses), and records the refusal in rec as Enter does; nil
// promises nothing, and the request still asks Enter once read.
func Check(core Core, rec metrics.Recorder, p metrics.Protocol, from any) error {
	if err := core.Refuses(from); err != nil {
		rec.Shed(p)
		return err
	}
	return nil
}

// Enter admits one predict request of protocol p from connection `from` (see Gate.Enter) into
// core's bound and records it in rec (shed or admitted); a request it admits ends with Exit. With
// Check, the one place the adapters count admission.
//
// An admitted request yields its P before its work starts (runtime.Gosched puts it at the back of
// the global run queue), so that the goroutines already waiting there, which read the requests that
// arrived meanwhile and refuse those over the bound, run first. Without it, under overload the
// admitted requests' work (decode, inference, encode) took the P ahead of them: with GOMAXPROCS=1
// at 3× capacity the run queue held ~1,000 goroutines and refusals waited 0.5–1.5 s; with it, ~10
// and 3–5 ms (tests/reliability, attack 4). When nothing waits, Gosched returns at once.
func Enter(core Core, rec metrics.Recorder, p metrics.Protocol, from any) error {
	if err := core.Admit(from); err != nil {
		rec.Shed(p)
		return err
	}
	rec.Admitted(p)
	runtime.Gosched()
	return nil
}

// Exit ends a request Enter admitted.
func Exit(core Core, rec metrics.Recorder, p metrics.Protocol, from any) {
	core.Release(from)
	rec.Answered(p)
}
