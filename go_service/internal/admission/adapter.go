package admission

import (
	"context"
	"runtime"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"servebench/go_service/internal/metrics"
)

// Core is what an adapter's admission asks of the predictor, which holds the Gate: a place (Gate.Enter),
// its end (Gate.Leave), and whether it would refuse one now (Gate.Refuses).
type Core interface {
	Admit(ctx context.Context, from any, lane *Lane) error
	Release(from any, lane *Lane)
	Refuses(ctx context.Context, from any, lane *Lane) error
}

// Check refuses a predict request of protocol p from connection `from` before it is read, when
// core would refuse it now (Gate.Refuses), and counts an overload refusal in rec as Enter does;
// nil promises nothing, and the request still asks Enter once read.
func Check(ctx context.Context, core Core, rec metrics.Recorder, p metrics.Protocol, from any, lane *Lane) error {
	if err := core.Refuses(ctx, from, lane); err != nil {
		shed(rec, p, err)
		return err
	}
	return nil
}

// Enter admits one predict request of protocol p from connection `from` (see Gate.Enter) into
// core's gate and lane, records it in rec (shed or admitted), and waits for a work slot in lane
// (Lane.Acquire: DEADLINE_EXCEEDED or CANCELLED, without inference, if ctx ends first). A request
// it admits holds its slot from the returned time, and ends with Exit. With Check, the one place
// the adapters count admission.
//
// An admitted request yields its P before it waits for its slot (runtime.Gosched puts it at the
// back of the global run queue), so that the goroutines already waiting there, which read the
// requests that arrived meanwhile and refuse those over the rule, run first. Without it, under
// overload the admitted requests' work (decode, inference, encode) took the P ahead of them: with
// GOMAXPROCS=1 at 3× capacity the run queue held ~1,000 goroutines and refusals waited 0.5–1.5 s;
// with it, ~10 and 3–5 ms (tests/reliability, attack 4). When nothing waits, Gosched returns at once.
func Enter(ctx context.Context, core Core, rec metrics.Recorder, p metrics.Protocol, from any, lane *Lane) (time.Time, error) {
	if err := core.Admit(ctx, from, lane); err != nil {
		shed(rec, p, err)
		return time.Time{}, err
	}
	rec.Admitted(p)
	runtime.Gosched()
	started, err := lane.Acquire(ctx)
	if err != nil { // its deadline, its client gone, or the budget's wait passed (shed)
		core.Release(from, lane)
		rec.Answered(p)
		shed(rec, p, err)
		return time.Time{}, err
	}
	return started, nil
}

// Exit ends a request Enter admitted, whose slot it took at `started`: the slot is freed (its
// hold time joins the lane's service time), then the place.
func Exit(core Core, rec metrics.Recorder, p metrics.Protocol, from any, lane *Lane, started time.Time) {
	lane.Release(started)
	core.Release(from, lane)
	rec.Answered(p)
}

// shed counts an overload refusal (RESOURCE_EXHAUSTED); a deadline refusal is no shedding, and is
// counted by its code only.
func shed(rec metrics.Recorder, p metrics.Protocol, err error) {
	if status.Code(err) == codes.ResourceExhausted {
		rec.Shed(p)
	}
}
