// Package v2infer is what the two Open Inference Protocol (KServe "V2") adapters, v2http and
// v2grpc, share: how a model of models/ is presented (proto/inference/model.json: its input and
// outputs, named, typed and shaped), the checks of a request's tensors and requested outputs, and
// the output tensors built from the core's Result. It knows no wire format: each adapter decodes
// its own (JSON, binary data, protobuf) into these types and encodes the answer back.
package v2infer

import (
	"strings"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/repository"
)

// The server metadata (proto/inference/model.json "server", "platform").
const (
	ServerName    = "servebench"
	ServerVersion = "2.0.0"
	Platform      = "onnx_onnxv1"
)

// Extensions are the protocol extensions served: Triton's binary tensor data extension (REST).
var Extensions = []string{"binary_tensor_data"}

// The tensor datatypes the server reads or writes (the specification's Tensor Data Types).
const (
	FP32  = "FP32"
	INT32 = "INT32"
	BYTES = "BYTES"
)

// The output names (model.json outputs): predict.v1's Prediction fields.
const (
	Label         = "label"
	ClassIndex    = "class_index"
	Probabilities = "probabilities"
	Value         = "value"
)

// Batch is the variable dimension of a shape: the rows of a request.
const Batch = -1

// TensorMeta is a tensor's name, datatype and shape (-1: the batch).
type TensorMeta struct {
	Name     string
	Datatype string
	Shape    []int64
}

// Classifier reports whether a model is a classifier (else a regressor).
func Classifier(info *predictv1.ModelInfo) bool {
	return info.GetTask() == repository.TaskClassification
}

// Input is a model's one input: metadata.json input_name, FP32 [-1, n_features].
func Input(info *predictv1.ModelInfo) TensorMeta {
	return TensorMeta{Name: info.GetInputName(), Datatype: FP32, Shape: []int64{Batch, int64(info.GetNFeatures())}}
}

// Outputs are a model's outputs, in model.json's order: a classifier's label, class_index and
// probabilities, or a regressor's value.
func Outputs(info *predictv1.ModelInfo) []TensorMeta {
	if !Classifier(info) {
		return []TensorMeta{{Name: Value, Datatype: FP32, Shape: []int64{Batch}}}
	}
	return []TensorMeta{
		{Name: Label, Datatype: BYTES, Shape: []int64{Batch}},
		{Name: ClassIndex, Datatype: INT32, Shape: []int64{Batch}},
		{Name: Probabilities, Datatype: FP32, Shape: []int64{Batch, int64(len(info.GetClassLabels()))}},
	}
}

// Properties are the model metadata's properties (model.json "properties").
func Properties(info *predictv1.ModelInfo) map[string]string {
	return map[string]string{"task": info.GetTask(), "sha256": strings.ToLower(info.GetSha256())}
}
