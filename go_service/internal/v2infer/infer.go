package v2infer

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/clip"
	"servebench/go_service/internal/predictor"
)

// CheckInput checks a request's inputs against the model's one input (errors.json invalid_input):
// exactly one, named as the model's input, FP32, shape [rows, cols] with non-negative dimensions.
// It returns rows and cols; the core checks the rest (rows within --max-batch, cols the model's
// n_features, the data's length, finite values).
func CheckInput(info *predictv1.ModelInfo, count int, name, datatype string, shape []int64) (rows, cols int, err error) {
	want := Input(info)
	switch {
	case count != 1:
		return 0, 0, status.Errorf(codes.InvalidArgument, "model %q takes exactly one input (%q), got %d", info.GetName(), want.Name, count)
	case name != want.Name:
		return 0, 0, status.Errorf(codes.InvalidArgument, "unknown input %s: model %q takes one input, %q", clip.Quote(name), info.GetName(), want.Name)
	case datatype != want.Datatype:
		return 0, 0, status.Errorf(codes.InvalidArgument, "input %q has datatype %s, model %q expects %s", want.Name, clip.Quote(datatype), info.GetName(), want.Datatype)
	case len(shape) != 2 || shape[0] < 0 || shape[1] < 0 || shape[0] > math.MaxInt32 || shape[1] > math.MaxInt32:
		return 0, 0, status.Errorf(codes.InvalidArgument, "input %q has shape %s, model %q expects %s", want.Name, ShapeString(shape), info.GetName(), ShapeString(want.Shape))
	case shape[1] != want.Shape[1]:
		return 0, 0, status.Errorf(codes.InvalidArgument, "input %q has shape %s, model %q expects %s", want.Name, ShapeString(shape), info.GetName(), ShapeString(want.Shape))
	}
	return int(shape[0]), int(shape[1]), nil
}

// ShapeString writes a shape as the specification does: [2,4], [-1,4].
func ShapeString(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// Requested is an output a request names, with what its parameters ask.
type Requested struct {
	Name           string
	Binary         bool // REST: answer it as binary data (its binary_data, else binary_data_output)
	Classification bool // Triton's classification extension, not served: refused
}

// Selected is an output to answer.
type Selected struct {
	TensorMeta
	Binary bool
}

// Select returns the outputs to answer (errors.json invalid_output): every output of the model,
// in model.json's order, when none is named (each binary when allBinary); else those named, in the
// request's order. An unknown name, a name given twice, or the classification parameter is
// INVALID_ARGUMENT.
func Select(info *predictv1.ModelInfo, requested []Requested, allBinary bool) ([]Selected, error) {
	outputs := Outputs(info)
	if len(requested) == 0 {
		all := make([]Selected, len(outputs))
		for i, o := range outputs {
			all[i] = Selected{TensorMeta: o, Binary: allBinary}
		}
		return all, nil
	}
	chosen := make([]Selected, 0, len(requested))
	for _, r := range requested {
		i := indexOf(outputs, r.Name)
		switch {
		case i < 0:
			return nil, status.Errorf(codes.InvalidArgument, "unknown output %s: model %q has %s", clip.Quote(r.Name), info.GetName(), names(outputs))
		case r.Classification:
			return nil, status.Errorf(codes.InvalidArgument, "output %q: the classification parameter (Triton's classification extension) is not supported", r.Name)
		}
		for _, c := range chosen {
			if c.Name == r.Name {
				return nil, status.Errorf(codes.InvalidArgument, "output %q requested twice", r.Name)
			}
		}
		chosen = append(chosen, Selected{TensorMeta: outputs[i], Binary: r.Binary})
	}
	return chosen, nil
}

func indexOf(outputs []TensorMeta, name string) int {
	for i, o := range outputs {
		if o.Name == name {
			return i
		}
	}
	return -1
}

func names(outputs []TensorMeta) string {
	quoted := make([]string, len(outputs))
	for i, o := range outputs {
		quoted[i] = strconv.Quote(o.Name)
	}
	return strings.Join(quoted, ", ")
}

// Tensor is an output tensor's values: FP32 holds an FP32 tensor's, INT32 an INT32's, Bytes a
// BYTES tensor's elements.
type Tensor struct {
	Selected
	FP32  []float32
	INT32 []int32
	Bytes []string
}

// Answer builds the selected output tensors from the core's Result, with their shapes (the
// batch resolved to the rows answered).
func Answer(res predictor.Result, selected []Selected) []Tensor {
	rows := int64(res.Rows())
	out := make([]Tensor, len(selected))
	for i, s := range selected {
		t := Tensor{Selected: s}
		t.Shape = append([]int64{rows}, s.Shape[1:]...)
		switch s.Name {
		case Value:
			t.FP32 = res.Values
		case Probabilities:
			t.FP32 = res.Probabilities
		case ClassIndex:
			t.INT32 = res.ClassIndex
		case Label:
			t.Bytes = make([]string, len(res.ClassIndex))
			for j, idx := range res.ClassIndex {
				t.Bytes[j] = res.Classes[idx]
			}
		}
		out[i] = t
	}
	return out
}

// Raw is the tensor's binary data (model.json raw_encoding): little-endian, row-major; a BYTES
// element is a 4-byte little-endian length and then its bytes.
func (t Tensor) Raw() []byte {
	switch t.Datatype {
	case FP32:
		return AppendFP32(nil, t.FP32)
	case INT32:
		out := make([]byte, 0, 4*len(t.INT32))
		for _, v := range t.INT32 {
			out = binary.LittleEndian.AppendUint32(out, uint32(v))
		}
		return out
	}
	size := 0
	for _, s := range t.Bytes {
		size += 4 + len(s)
	}
	out := make([]byte, 0, size)
	for _, s := range t.Bytes {
		out = binary.LittleEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	return out
}

// AppendFP32 appends values as little-endian FP32.
func AppendFP32(out []byte, values []float32) []byte {
	for _, v := range values {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
	}
	return out
}

// FP32FromRaw reads little-endian FP32 data of `want` elements (errors.json: a size that does not
// match the shape is the caller's condition, bad_binary_data or bad_raw_contents, named by what).
func FP32FromRaw(raw []byte, want int, what string) ([]float32, error) {
	if len(raw)%4 != 0 || len(raw)/4 != want {
		return nil, status.Errorf(codes.InvalidArgument, "%s holds %d bytes; its shape and datatype need %d FP32 values of 4 bytes", what, len(raw), want)
	}
	out := make([]float32, want)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}
