// Package coretest holds what the adapters' admission tests share: a loaded core whose inference
// blocks until released, and waits on it (test code only; modeltest cannot hold these, as the
// predictor's own tests import modeltest).
package coretest

import (
	"testing"
	"time"

	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
)

// TimedCore is a loaded core with the queueing budget, a backstop of 1000 and `runs` run slots,
// whose inference signals entered, then waits until release is closed.
func TimedCore(t *testing.T, budget time.Duration, runs int) (core *predictor.Predictor, entered <-chan struct{}, release chan struct{}) {
	t.Helper()
	modeltest.InitORT(t)
	in := make(chan struct{}, 64)
	release = make(chan struct{})
	core = predictor.New(predictor.Options{
		IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 8, MaxInflight: 1000, MaxRuns: runs, MaxQueueDelay: budget,
		BeforeRun: func() { in <- struct{}{}; <-release },
	})
	if err := core.Load(modeltest.Only(t, "iris-logreg")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	return core, in, release
}

// Await polls cond every 5 ms, failing the test with what after 10 s.
func Await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
	}
}

// NoInference fails the test with what if a request reaches the blocking core within 300 ms.
func NoInference(t *testing.T, entered <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-entered:
		t.Fatal(what)
	case <-time.After(300 * time.Millisecond):
	}
}
