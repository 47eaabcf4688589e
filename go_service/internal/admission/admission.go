// Package admission bounds the predict requests a server holds at once (in progress or queued,
// --max-inflight). A request beyond the bound is refused at once, never queued: a client that
// retries later does better than one whose request waits behind a queue it cannot see.
package admission

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"servebench/go_service/internal/metrics"
)

// AutoPerProc is the bound per GOMAXPROCS when the configured bound is 0 (auto).
const AutoPerProc = 8

// RetryDelay is the retry delay an overloaded refusal carries (google.rpc.RetryInfo); the HTTP
// adapter answers it as 503 with Retry-After.
const RetryDelay = time.Second

// Gate admits at most Max requests at a time. It is safe for concurrent use.
type Gate struct {
	max     int64
	n       atomic.Int64
	refusal error
}

// Resolve returns the bound a configured value means: n itself when positive, else
// AutoPerProc × GOMAXPROCS.
func Resolve(n int) int {
	if n > 0 {
		return n
	}
	return AutoPerProc * runtime.GOMAXPROCS(0)
}

// New returns a Gate admitting Resolve(max) requests at a time.
func New(max int) *Gate {
	g := &Gate{max: int64(Resolve(max))}
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(
		"server overloaded: %d requests in progress or queued (--max-inflight %d); retry later", g.max, g.max))
	st, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(RetryDelay)})
	if err != nil {
		panic(err) // RetryInfo always marshals
	}
	g.refusal = st.Err()
	return g
}

// Max is the bound.
func (g *Gate) Max() int { return int(g.max) }

// Enter admits one request, or refuses it without waiting: RESOURCE_EXHAUSTED with a RetryInfo
// of RetryDelay. An admitted request must Leave once answered.
func (g *Gate) Enter() error {
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

// Leave ends an admitted request.
func (g *Gate) Leave() { g.n.Add(-1) }

// InFlight is the number of admitted requests not yet left.
func (g *Gate) InFlight() int { return int(g.n.Load()) }

// Core is what an adapter's admission asks of the predictor: a place in its bound, and its end.
type Core interface {
	Admit() error
	Release()
}

// Enter admits one predict request of protocol p into core's bound and records it in rec (shed or
// admitted); a request it admits ends with Exit. The one place both adapters count admission.
func Enter(core Core, rec metrics.Recorder, p metrics.Protocol) error {
	if err := core.Admit(); err != nil {
		rec.Shed(p)
		return err
	}
	rec.Admitted(p)
	return nil
}

// Exit ends a request Enter admitted.
func Exit(core Core, rec metrics.Recorder, p metrics.Protocol) {
	core.Release()
	rec.Answered(p)
}
