package metrics

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// BenchmarkRecordPredict is what one predict request records (inflight up and down, four
// phases, the request), with the Nop recorder and with the Prometheus one.
func BenchmarkRecordPredict(b *testing.B) {
	for _, bc := range []struct {
		name string
		rec  Recorder
	}{{"metrics=off", Nop{}}, {"metrics=on", New()}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			rec := bc.rec
			for b.Loop() {
				rec.Admitted(HTTP)
				for ph := range numPhases {
					rec.Phase(HTTP, ph, 3*time.Microsecond)
				}
				rec.Answered(HTTP)
				rec.Request(HTTP, Predict, codes.OK, 20*time.Microsecond)
			}
		})
	}
}
