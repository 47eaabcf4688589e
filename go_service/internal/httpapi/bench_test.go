package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"servebench/go_service/internal/httpapi"
	"servebench/go_service/internal/metrics"
)

// BenchmarkPredictHTTP is one JSON POST /v1/predict through the handler, in process (no
// network), with metrics off and on: the difference is the cost of recording.
func BenchmarkPredictHTTP(b *testing.B) {
	c := loadedCore(b)
	body := []byte(irisSetosa)
	for _, bc := range []struct {
		name string
		m    *metrics.Metrics
	}{{"metrics=off", nil}, {"metrics=on", metrics.New()}} {
		h := httpapi.New(c, httpapi.Options{MaxBody: testMaxBody, Metrics: bc.m})
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/predict", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
