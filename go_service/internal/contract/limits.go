package contract

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"time"
)

// errorTable is a copy of proto/predict/v1/errors.json that `make proto` (and `make build`) keeps
// equal to it, and `make check-proto` checks: the server's admission defaults are read from it,
// so a value changed in the contract reaches the server without a change to Go code.
//
//go:embed errors.json
var errorTable []byte

// Limits are the numbers of errors.json the server uses at run time.
type Limits struct {
	// MaxInflightPerCPU is the memory backstop per CPU of --max-inflight 0 (auto):
	// max_inflight_per_cpu.
	MaxInflightPerCPU int
	// MaxQueueDelay is the default queueing budget of --max-queue-delay: max_queue_delay_ms.
	MaxQueueDelay time.Duration
	// ServiceWeight is the weight of the newest sample in a lane's service time (an EWMA):
	// service_time_weight.
	ServiceWeight float64
	// ServiceClip is the most one sample counts for, as a multiple of the average:
	// service_time_clip.
	ServiceClip int64
	// QueueTarget is the expected wait a request is admitted within, as a fraction of the
	// budget: queue_target_fraction.
	QueueTarget float64
}

// ErrorTableLimits reads Limits from an errors.json document; a missing or non-positive value is
// an error.
func ErrorTableLimits(raw []byte) (Limits, error) {
	var doc struct {
		MaxInflightPerCPU *int     `json:"max_inflight_per_cpu"`
		MaxQueueDelayMS   *int     `json:"max_queue_delay_ms"`
		ServiceWeight     *float64 `json:"service_time_weight"`
		ServiceClip       *int64   `json:"service_time_clip"`
		QueueTarget       *float64 `json:"queue_target_fraction"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Limits{}, fmt.Errorf("errors.json: %w", err)
	}
	if doc.MaxInflightPerCPU == nil || *doc.MaxInflightPerCPU < 1 {
		return Limits{}, fmt.Errorf("errors.json: max_inflight_per_cpu missing or < 1")
	}
	if doc.MaxQueueDelayMS == nil || *doc.MaxQueueDelayMS < 0 {
		return Limits{}, fmt.Errorf("errors.json: max_queue_delay_ms missing or < 0")
	}
	if doc.ServiceWeight == nil || *doc.ServiceWeight <= 0 || *doc.ServiceWeight > 1 {
		return Limits{}, fmt.Errorf("errors.json: service_time_weight missing or not in (0, 1]")
	}
	if doc.ServiceClip == nil || *doc.ServiceClip < 1 {
		return Limits{}, fmt.Errorf("errors.json: service_time_clip missing or < 1")
	}
	if doc.QueueTarget == nil || *doc.QueueTarget <= 0 || *doc.QueueTarget > 1 {
		return Limits{}, fmt.Errorf("errors.json: queue_target_fraction missing or not in (0, 1]")
	}
	return Limits{
		MaxInflightPerCPU: *doc.MaxInflightPerCPU,
		MaxQueueDelay:     time.Duration(*doc.MaxQueueDelayMS) * time.Millisecond,
		ServiceWeight:     *doc.ServiceWeight,
		ServiceClip:       *doc.ServiceClip,
		QueueTarget:       *doc.QueueTarget,
	}, nil
}

// DefaultLimits are the Limits of the embedded errors.json.
var DefaultLimits = mustLimits(errorTable)

func mustLimits(raw []byte) Limits {
	l, err := ErrorTableLimits(raw)
	if err != nil {
		panic(err) // the embedded copy is checked by contract_test.go and make check-proto
	}
	return l
}
