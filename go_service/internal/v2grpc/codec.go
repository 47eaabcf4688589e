package v2grpc

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inferencepb "servebench/go_service/gen/inference"
	"servebench/go_service/internal/predictor"
	"servebench/go_service/internal/v2infer"
)

// decode reads a ModelInferRequest into the core's terms. In order: the model and version (503,
// NOT_FOUND), the inputs (v2infer.CheckInput), raw_input_contents against the inputs
// (errors.json bad_raw_contents), the input's data (fp32_contents, or its raw contents), the
// outputs (v2infer.Select; REST's binary_data parameters mean nothing here and are ignored).
func decode(core Core, req *inferencepb.ModelInferRequest) (predictor.Batch, []v2infer.Selected, error) {
	version := req.GetModelVersion()
	info, err := core.GetModelVersion(req.GetModelName(), version)
	if err != nil {
		return predictor.Batch{}, nil, err
	}
	inputs := req.GetInputs()
	var in *inferencepb.ModelInferRequest_InferInputTensor
	if len(inputs) > 0 {
		in = inputs[0]
	}
	rows, cols, err := v2infer.CheckInput(info, len(inputs), in.GetName(), in.GetDatatype(), in.GetShape())
	if err != nil {
		return predictor.Batch{}, nil, err
	}
	batch := predictor.Batch{Model: info.GetName(), Version: version, Rows: rows, Cols: cols}
	raw := req.GetRawInputContents()
	contents := in.GetContents()
	switch {
	case len(raw) > 0 && contents != nil:
		return predictor.Batch{}, nil, status.Errorf(codes.InvalidArgument, "input %q has contents, but the request has raw_input_contents: use one or the other", in.GetName())
	case len(raw) > 0 && len(raw) != len(inputs):
		return predictor.Batch{}, nil, status.Errorf(codes.InvalidArgument, "%d raw_input_contents for %d inputs", len(raw), len(inputs))
	case len(raw) > 0:
		if batch.Data, err = v2infer.FP32FromRaw(raw[0], rows*cols, "raw_input_contents[0]"); err != nil {
			return predictor.Batch{}, nil, err
		}
	default:
		batch.Data = contents.GetFp32Contents()
	}
	requested := make([]v2infer.Requested, len(req.GetOutputs()))
	for i, o := range req.GetOutputs() {
		_, classification := o.GetParameters()["classification"]
		requested[i] = v2infer.Requested{Name: o.GetName(), Classification: classification}
	}
	selected, err := v2infer.Select(info, requested, false)
	return batch, selected, err
}

// encode builds the answer: every output's data in raw_output_contents (model.json grpc_outputs:
// as Triton answers, and what tritonclient reads), in the outputs' order.
func encode(res predictor.Result, id string, tensors []v2infer.Tensor) *inferencepb.ModelInferResponse {
	resp := &inferencepb.ModelInferResponse{ModelName: res.Model, ModelVersion: res.Version, Id: id,
		Outputs: make([]*inferencepb.ModelInferResponse_InferOutputTensor, len(tensors)), RawOutputContents: make([][]byte, len(tensors))}
	for i, t := range tensors {
		resp.Outputs[i] = &inferencepb.ModelInferResponse_InferOutputTensor{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
		resp.RawOutputContents[i] = t.Raw()
	}
	return resp
}
