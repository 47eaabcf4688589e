package v2grpc_test

// The shared V2 conformance cases (tests/vectors/v2/cases.json) over this adapter in process, on
// the real core and models: the ways "grpc" (typed contents) and "grpc-raw" (raw_input_contents).

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/status"

	inferencepb "servebench/go_service/gen/inference"
	"servebench/go_service/internal/v2cases"
	"servebench/go_service/internal/v2grpc"
)

func TestSharedCases(t *testing.T) {
	srv := v2grpc.New(v2cases.Predictor(t), v2grpc.Options{})
	conds := v2cases.Conditions(t)
	for _, c := range v2cases.Load(t) {
		for _, way := range c.Ways {
			if way != "grpc" && way != "grpc-raw" {
				continue
			}
			t.Run(c.Name+"@"+way, func(t *testing.T) {
				resp, err := srv.ModelInfer(context.Background(), grpcRequest(t, c, way))
				for _, d := range v2cases.Check(t, c, way, normalize(t, resp, err), conds) {
					t.Error(d)
				}
			})
		}
	}
}

// grpcRequest builds the case's ModelInferRequest: typed contents, or raw_input_contents with
// the case's grpc_raw mutations.
func grpcRequest(t *testing.T, c v2cases.Case, way string) *inferencepb.ModelInferRequest {
	t.Helper()
	r := c.Logical(t)
	req := &inferencepb.ModelInferRequest{ModelName: c.Model, ModelVersion: c.Version, Id: r.ID, Parameters: parameters(t, r.Parameters)}
	for _, in := range r.Inputs {
		tensor := &inferencepb.ModelInferRequest_InferInputTensor{Name: in.Name, Datatype: in.Datatype, Shape: in.Shape, Parameters: parameters(t, in.Parameters)}
		var alsoContents bool
		v2cases.Option(t, c.GRPCRaw, "also_contents", &alsoContents)
		if way == "grpc" || alsoContents {
			tensor.Contents = contents(t, in)
		}
		if way == "grpc-raw" {
			req.RawInputContents = append(req.RawInputContents, v2cases.Raw(in.Datatype, in.Data))
		}
		req.Inputs = append(req.Inputs, tensor)
	}
	var extra, trailing int
	if v2cases.Option(t, c.GRPCRaw, "extra_raw", &extra) {
		for range extra {
			req.RawInputContents = append(req.RawInputContents, req.RawInputContents[0])
		}
	}
	if v2cases.Option(t, c.GRPCRaw, "trailing_bytes", &trailing) {
		req.RawInputContents[0] = append(req.RawInputContents[0], make([]byte, trailing)...)
	}
	for _, o := range r.Outputs {
		req.Outputs = append(req.Outputs, &inferencepb.ModelInferRequest_InferRequestedOutputTensor{Name: o.Name, Parameters: parameters(t, o.Parameters)})
	}
	return req
}

// contents puts a case's data in the datatype's typed field.
func contents(t *testing.T, in v2cases.Tensor) *inferencepb.InferTensorContents {
	out := &inferencepb.InferTensorContents{}
	for _, v := range in.Data {
		switch strings.ToUpper(in.Datatype) {
		case "FP32":
			out.Fp32Contents = append(out.Fp32Contents, float32(v2cases.Float(v)))
		case "FP64":
			out.Fp64Contents = append(out.Fp64Contents, v2cases.Float(v))
		case "INT32":
			out.IntContents = append(out.IntContents, int32(v2cases.Float(v)))
		case "INT64":
			out.Int64Contents = append(out.Int64Contents, int64(v2cases.Float(v)))
		default:
			t.Fatalf("no typed contents for datatype %s", in.Datatype)
		}
	}
	return out
}

// parameters converts a case's parameters (JSON booleans, numbers, strings) to InferParameters.
func parameters(t *testing.T, params map[string]any) map[string]*inferencepb.InferParameter {
	if len(params) == 0 {
		return nil
	}
	out := map[string]*inferencepb.InferParameter{}
	for k, v := range params {
		switch x := v.(type) {
		case bool:
			out[k] = &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_BoolParam{BoolParam: x}}
		case float64:
			out[k] = &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_Int64Param{Int64Param: int64(x)}}
		case string:
			out[k] = &inferencepb.InferParameter{ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: x}}
		default:
			t.Fatalf("parameter %s = %v", k, v)
		}
	}
	return out
}

// normalize reads a ModelInfer answer: its status, or its outputs' raw_output_contents.
func normalize(t *testing.T, resp *inferencepb.ModelInferResponse, err error) v2cases.Answer {
	t.Helper()
	if err != nil {
		st := status.Convert(err)
		return v2cases.Answer{GRPCCode: st.Code(), Message: st.Message()}
	}
	if len(resp.GetRawOutputContents()) != len(resp.GetOutputs()) {
		t.Fatalf("%d raw_output_contents for %d outputs", len(resp.GetRawOutputContents()), len(resp.GetOutputs()))
	}
	got := v2cases.Answer{OK: true, ModelName: resp.GetModelName(), ModelVersion: resp.GetModelVersion(), ID: resp.GetId()}
	for i, o := range resp.GetOutputs() {
		if o.GetContents() != nil {
			t.Fatalf("output %s has typed contents beside raw_output_contents", o.GetName())
		}
		got.Outputs = append(got.Outputs, v2cases.Tensor{Name: o.GetName(), Datatype: o.GetDatatype(), Shape: o.GetShape(),
			Data: v2cases.FromRaw(t, o.GetDatatype(), resp.GetRawOutputContents()[i])})
	}
	return got
}
