package metrics_test

// The metrics against the contract's data file, proto/predict/v1/metrics.json: every metric's
// name, type, help, label names, label values and buckets, as registered.

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc/codes"

	"servebench/go_service/internal/metrics"
	"servebench/go_service/internal/modeltest"
)

type metricsDoc struct {
	Metrics []struct {
		Name    string   `json:"name"`
		Type    string   `json:"type"`
		Labels  []string `json:"labels"`
		Buckets string   `json:"buckets"`
		Help    string   `json:"help"`
	} `json:"metrics"`
	Buckets     map[string][]float64 `json:"buckets"`
	LabelValues map[string][]string  `json:"label_values"`
}

func TestMetricsFollowTheContract(t *testing.T) {
	var doc metricsDoc
	if err := json.Unmarshal(modeltest.ContractFile(t, "metrics.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Metrics) == 0 {
		t.Fatal("metrics.json lists no metrics")
	}
	families, err := metrics.New().Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	types := map[string]dto.MetricType{"counter": dto.MetricType_COUNTER, "gauge": dto.MetricType_GAUGE, "histogram": dto.MetricType_HISTOGRAM}
	for _, want := range doc.Metrics {
		t.Run(want.Name, func(t *testing.T) {
			f, ok := byName[want.Name]
			if !ok {
				t.Fatalf("not registered (or no series)")
			}
			delete(byName, want.Name)
			if f.GetType() != types[want.Type] {
				t.Errorf("type %v; metrics.json says %s", f.GetType(), want.Type)
			}
			if f.GetHelp() != want.Help {
				t.Errorf("help %q; metrics.json says %q", f.GetHelp(), want.Help)
			}
			wantLabels := slices.Clone(want.Labels)
			sort.Strings(wantLabels)
			for _, m := range f.GetMetric() {
				var names []string
				for _, l := range m.GetLabel() {
					names = append(names, l.GetName())
					checkLabelValue(t, doc, l.GetName(), l.GetValue())
				}
				if !slices.Equal(names, wantLabels) {
					t.Fatalf("labels %v; metrics.json says %v", names, want.Labels)
				}
				if want.Type != "histogram" {
					continue
				}
				var bounds []float64
				for _, b := range m.GetHistogram().GetBucket() {
					bounds = append(bounds, b.GetUpperBound())
				}
				if wantBounds := doc.Buckets[want.Buckets]; len(wantBounds) == 0 || !slices.Equal(bounds, wantBounds) {
					t.Fatalf("buckets %v; metrics.json says %s = %v", bounds, want.Buckets, wantBounds)
				}
			}
		})
	}
	for name := range byName {
		t.Errorf("%s is registered but not in metrics.json", name)
	}
}

// checkLabelValue: protocol, method and phase take metrics.json's label_values; code takes the
// canonical gRPC code names.
func checkLabelValue(t *testing.T, doc metricsDoc, name, value string) {
	t.Helper()
	if name == "code" {
		var c codes.Code
		if err := c.UnmarshalJSON([]byte(`"` + value + `"`)); err != nil {
			t.Errorf("code label %q is not a gRPC code name", value)
		}
		return
	}
	allowed, ok := doc.LabelValues[name]
	if !ok || !slices.Contains(allowed, value) {
		t.Errorf("label %s=%q; metrics.json allows %v", name, value, allowed)
	}
}
