package grpcapi

import (
	"sync"
	"time"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/metrics"
)

// timingCodec is gRPC's proto codec, timing the decode phase of a PredictRequest (handed to the
// handler by `decoded`, keyed by the request, so that only answered requests are recorded) and the
// encode phase of a PredictResponse: the time the core took to shape it (handed over by `shaped`,
// keyed by the response) plus its marshalling. Other messages (health, reflection, models) pass
// through untimed.
type timingCodec struct {
	base   encoding.CodecV2
	rec    metrics.Recorder
	shape  *sync.Map // *predictv1.PredictResponse → time.Duration
	decode *sync.Map // *predictv1.PredictRequest → time.Duration
}

func newTimingCodec(rec metrics.Recorder) timingCodec {
	return timingCodec{base: encoding.GetCodecV2(proto.Name), rec: rec, shape: &sync.Map{}, decode: &sync.Map{}}
}

// decoded returns (and forgets) how long req took to unmarshal.
func (c timingCodec) decoded(req *predictv1.PredictRequest) time.Duration {
	if d, found := c.decode.LoadAndDelete(req); found {
		return d.(time.Duration)
	}
	return 0
}

// shaped hands the codec how long the core took to shape resp, for resp's encode phase.
func (c timingCodec) shaped(resp *predictv1.PredictResponse, d time.Duration) {
	c.shape.Store(resp, d)
}

func (c timingCodec) Name() string { return c.base.Name() }

func (c timingCodec) Marshal(v any) (mem.BufferSlice, error) {
	resp, ok := v.(*predictv1.PredictResponse)
	if !ok {
		return c.base.Marshal(v)
	}
	start := time.Now()
	out, err := c.base.Marshal(v)
	var shaping time.Duration
	if d, found := c.shape.LoadAndDelete(resp); found {
		shaping = d.(time.Duration)
	}
	if err == nil {
		c.rec.Phase(metrics.GRPC, metrics.Encode, shaping+time.Since(start))
	}
	return out, err
}

func (c timingCodec) Unmarshal(data mem.BufferSlice, v any) error {
	req, ok := v.(*predictv1.PredictRequest)
	if !ok {
		return c.base.Unmarshal(data, v)
	}
	start := time.Now()
	err := c.base.Unmarshal(data, v)
	if err == nil {
		c.decode.Store(req, time.Since(start))
	}
	return err
}
