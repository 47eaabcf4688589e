package grpcapi

import (
	"reflect"
	"sync"
	"time"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/metrics"
)

// Codec is gRPC's proto codec, timing the decode phase of the predict requests and the encode
// phase of the answers of every service on the server: the message types given to NewCodec
// (predict.v1's PredictRequest and PredictResponse, the Open Inference Protocol's
// ModelInferRequest and ModelInferResponse). A request's decode time is handed to its handler by
// Decoded (keyed by the request, so that only answered requests are recorded); an answer's encode
// phase is the time the handler took to shape it (handed over by Shaped, keyed by the answer) plus
// its marshalling. Other messages (health, reflection, metadata) pass through untimed. It is one
// server-wide codec (grpc.ForceServerCodecV2), shared by the services' adapters.
type Codec struct {
	base   encoding.CodecV2
	rec    metrics.Recorder
	timed  map[reflect.Type]bool
	shape  *sync.Map // answer → time.Duration
	decode *sync.Map // request → time.Duration
}

// NewCodec returns a Codec recording into rec and timing the given message types (pointers to
// generated messages, e.g. &predictv1.PredictRequest{}).
func NewCodec(rec metrics.Recorder, timed ...any) *Codec {
	c := &Codec{base: encoding.GetCodecV2(proto.Name), rec: rec, timed: map[reflect.Type]bool{}, shape: &sync.Map{}, decode: &sync.Map{}}
	for _, m := range timed {
		c.timed[reflect.TypeOf(m)] = true
	}
	return c
}

// PredictMessages are predict.v1's timed messages (the Codec New makes when given none).
func PredictMessages() []any { return []any{&predictv1.PredictRequest{}, &predictv1.PredictResponse{}} }

// Decoded returns (and forgets) how long req took to unmarshal; 0 for a nil Codec.
func (c *Codec) Decoded(req any) time.Duration {
	if c == nil {
		return 0
	}
	if d, found := c.decode.LoadAndDelete(req); found {
		return d.(time.Duration)
	}
	return 0
}

// Shaped hands the codec how long the handler took to shape resp, for resp's encode phase; a nil
// Codec does nothing.
func (c *Codec) Shaped(resp any, d time.Duration) {
	if c != nil {
		c.shape.Store(resp, d)
	}
}

func (c *Codec) Name() string { return c.base.Name() }

func (c *Codec) Marshal(v any) (mem.BufferSlice, error) {
	if !c.timed[reflect.TypeOf(v)] {
		return c.base.Marshal(v)
	}
	start := time.Now()
	out, err := c.base.Marshal(v)
	var shaping time.Duration
	if d, found := c.shape.LoadAndDelete(v); found {
		shaping = d.(time.Duration)
	}
	if err == nil {
		c.rec.Phase(metrics.GRPC, metrics.Encode, shaping+time.Since(start))
	}
	return out, err
}

func (c *Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if !c.timed[reflect.TypeOf(v)] {
		return c.base.Unmarshal(data, v)
	}
	start := time.Now()
	err := c.base.Unmarshal(data, v)
	if err == nil {
		c.decode.Store(v, time.Since(start))
	}
	return err
}
