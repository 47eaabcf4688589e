package contract

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestErrorTableCopy: the embedded errors.json is the contract's (run `make proto` after changing
// proto/predict/v1/errors.json).
func TestErrorTableCopy(t *testing.T) {
	// go test runs in this package's directory; modeltest (which finds the repository) imports
	// this package through repository, so the path is spelled out.
	contract, err := os.ReadFile(filepath.Join("..", "..", "..", "proto", "predict", "v1", "errors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(errorTable, contract) {
		t.Fatal("internal/contract/errors.json differs from proto/predict/v1/errors.json: run `make proto`")
	}
}

func TestErrorTableLimits(t *testing.T) {
	tests := []struct {
		name, doc string
		want      Limits
		fails     bool
	}{
		{"all", `{"max_inflight_per_cpu": 256, "max_queue_delay_ms": 1000, "service_time_weight": 0.125, "service_time_clip": 4, "queue_target_fraction": 0.5}`, Limits{256, time.Second, 0.125, 4, 0.5}, false},
		{"budget off", `{"max_inflight_per_cpu": 1, "max_queue_delay_ms": 0, "service_time_weight": 1, "service_time_clip": 1, "queue_target_fraction": 1}`, Limits{1, 0, 1, 1, 1}, false},
		{"no budget", `{"max_inflight_per_cpu": 256, "service_time_weight": 0.125, "service_time_clip": 4, "queue_target_fraction": 0.5}`, Limits{}, true},
		{"no backstop", `{"max_queue_delay_ms": 1000, "service_time_weight": 0.125, "service_time_clip": 4, "queue_target_fraction": 0.5}`, Limits{}, true},
		{"zero backstop", `{"max_inflight_per_cpu": 0, "max_queue_delay_ms": 1000, "service_time_weight": 0.125, "service_time_clip": 4, "queue_target_fraction": 0.5}`, Limits{}, true},
		{"negative budget", `{"max_inflight_per_cpu": 2, "max_queue_delay_ms": -1, "service_time_weight": 0.125, "service_time_clip": 4, "queue_target_fraction": 0.5}`, Limits{}, true},
		{"no weight", `{"max_inflight_per_cpu": 2, "max_queue_delay_ms": 1, "service_time_clip": 4, "queue_target_fraction": 0.5}`, Limits{}, true},
		{"weight over 1", `{"max_inflight_per_cpu": 2, "max_queue_delay_ms": 1, "service_time_weight": 2, "service_time_clip": 4, "queue_target_fraction": 0.5}`, Limits{}, true},
		{"no clip", `{"max_inflight_per_cpu": 2, "max_queue_delay_ms": 1, "service_time_weight": 0.5, "queue_target_fraction": 0.5}`, Limits{}, true},
		{"no target", `{"max_inflight_per_cpu": 2, "max_queue_delay_ms": 1, "service_time_weight": 0.5, "service_time_clip": 4}`, Limits{}, true},
		{"target over 1", `{"max_inflight_per_cpu": 2, "max_queue_delay_ms": 1, "service_time_weight": 0.5, "service_time_clip": 4, "queue_target_fraction": 2}`, Limits{}, true},
		{"not JSON", `{`, Limits{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ErrorTableLimits([]byte(tc.doc))
			if (err != nil) != tc.fails || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v (error: %v)", got, err, tc.want, tc.fails)
			}
		})
	}
}
