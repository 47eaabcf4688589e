package v2infer

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/predictor"
)

var (
	iris = &predictv1.ModelInfo{Name: "iris-logreg", Version: "1", Task: "classification", InputName: "input", NFeatures: 4,
		ClassLabels: []string{"setosa", "versicolor", "virginica"}, Sha256: "AB"}
	diabetes = &predictv1.ModelInfo{Name: "diabetes-gbr", Version: "1", Task: "regression", InputName: "x", NFeatures: 10}
)

func TestModelTensors(t *testing.T) {
	if in := Input(iris); in.Name != "input" || in.Datatype != FP32 || !slices.Equal(in.Shape, []int64{-1, 4}) {
		t.Errorf("iris input %+v", in)
	}
	var got []string
	for _, o := range Outputs(iris) {
		got = append(got, o.Name+" "+o.Datatype+" "+ShapeString(o.Shape))
	}
	if want := []string{"label BYTES [-1]", "class_index INT32 [-1]", "probabilities FP32 [-1,3]"}; !slices.Equal(got, want) {
		t.Errorf("classifier outputs %v; want %v", got, want)
	}
	if out := Outputs(diabetes); len(out) != 1 || out[0].Name != Value || out[0].Datatype != FP32 || !slices.Equal(out[0].Shape, []int64{-1}) {
		t.Errorf("regressor outputs %+v", out)
	}
	if p := Properties(iris); p["task"] != "classification" || p["sha256"] != "ab" {
		t.Errorf("properties %v", p)
	}
}

func TestCheckInput(t *testing.T) {
	tests := []struct {
		name     string
		count    int
		input    string
		datatype string
		shape    []int64
		rows     int
		message  string // "" = accepted
	}{
		{"one row", 1, "input", "FP32", []int64{1, 4}, 1, ""},
		{"zero rows (the core refuses)", 1, "input", "FP32", []int64{0, 4}, 0, ""},
		{"no input", 0, "", "", nil, 0, "exactly one input"},
		{"two inputs", 2, "input", "FP32", []int64{1, 4}, 0, "exactly one input"},
		{"wrong name", 1, "features", "FP32", []int64{1, 4}, 0, `unknown input "features"`},
		{"FP64", 1, "input", "FP64", []int64{1, 4}, 0, `datatype "FP64", model "iris-logreg" expects FP32`},
		{"lower case", 1, "input", "fp32", []int64{1, 4}, 0, "datatype"},
		{"rank 1", 1, "input", "FP32", []int64{4}, 0, "shape [4]"},
		{"rank 3", 1, "input", "FP32", []int64{1, 1, 4}, 0, "shape [1,1,4]"},
		{"negative rows", 1, "input", "FP32", []int64{-1, 4}, 0, "shape [-1,4], model \"iris-logreg\" expects [-1,4]"},
		{"wrong width", 1, "input", "FP32", []int64{1, 3}, 0, "shape [1,3]"},
		{"rows beyond int32", 1, "input", "FP32", []int64{1 << 40, 4}, 0, "shape"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rows, cols, err := CheckInput(iris, tc.count, tc.input, tc.datatype, tc.shape)
			if tc.message == "" {
				if err != nil || rows != tc.rows || cols != 4 {
					t.Fatalf("got %d, %d, %v; want %d, 4", rows, cols, err, tc.rows)
				}
				return
			}
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.message) {
				t.Fatalf("got %v; want INVALID_ARGUMENT containing %q", err, tc.message)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	tests := []struct {
		name      string
		info      *predictv1.ModelInfo
		requested []Requested
		allBinary bool
		want      []string // name, and "*" when binary
		message   string
	}{
		{"all, JSON", iris, nil, false, []string{"label", "class_index", "probabilities"}, ""},
		{"all, binary", iris, nil, true, []string{"label*", "class_index*", "probabilities*"}, ""},
		{"regressor", diabetes, nil, false, []string{"value"}, ""},
		{"chosen, in request order", iris, []Requested{{Name: "probabilities", Binary: true}, {Name: "label"}}, false, []string{"probabilities*", "label"}, ""},
		{"unknown", iris, []Requested{{Name: "scores"}}, false, nil, `unknown output "scores"`},
		{"label of a regressor", diabetes, []Requested{{Name: "label"}}, false, nil, `unknown output "label": model "diabetes-gbr" has "value"`},
		{"twice", iris, []Requested{{Name: "label"}, {Name: "label"}}, false, nil, "requested twice"},
		{"classification", iris, []Requested{{Name: "probabilities", Classification: true}}, false, nil, "classification"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Select(tc.info, tc.requested, tc.allBinary)
			if tc.message != "" {
				if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.message) {
					t.Fatalf("got %v; want INVALID_ARGUMENT containing %q", err, tc.message)
				}
				return
			}
			var names []string
			for _, s := range got {
				names = append(names, s.Name+map[bool]string{true: "*"}[s.Binary])
			}
			if err != nil || !slices.Equal(names, tc.want) {
				t.Fatalf("got %v, %v; want %v", names, err, tc.want)
			}
		})
	}
}

func TestAnswerAndRaw(t *testing.T) {
	res := predictor.Result{Model: "iris-logreg", Version: "1", Classes: iris.ClassLabels,
		Probabilities: []float32{0.9, 0.05, 0.05, 0.1, 0.2, 0.7}, ClassIndex: []int32{0, 2}}
	selected, _ := Select(iris, nil, false)
	tensors := Answer(res, selected)
	want := map[string]struct {
		shape []int64
		raw   []byte
	}{
		"label":         {[]int64{2}, []byte("\x06\x00\x00\x00setosa\x09\x00\x00\x00virginica")},
		"class_index":   {[]int64{2}, []byte{0, 0, 0, 0, 2, 0, 0, 0}},
		"probabilities": {[]int64{2, 3}, AppendFP32(nil, res.Probabilities)},
	}
	for _, tensor := range tensors {
		w := want[tensor.Name]
		if !slices.Equal(tensor.Shape, w.shape) || !bytes.Equal(tensor.Raw(), w.raw) {
			t.Errorf("%s: shape %v raw %q; want %v %q", tensor.Name, tensor.Shape, tensor.Raw(), w.shape, w.raw)
		}
	}
	if got := AppendFP32(nil, []float32{1, -2}); !bytes.Equal(got, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}) {
		t.Errorf("FP32 little-endian: %x", got)
	}
	value := Answer(predictor.Result{Values: []float32{151.5}}, []Selected{{TensorMeta: Outputs(diabetes)[0]}})
	if len(value) != 1 || !slices.Equal(value[0].Shape, []int64{1}) || value[0].FP32[0] != 151.5 {
		t.Errorf("regressor answer %+v", value)
	}
}

func TestFP32FromRaw(t *testing.T) {
	values, err := FP32FromRaw(AppendFP32(nil, []float32{1.5, float32(math.Inf(1))}), 2, "x")
	if err != nil || values[0] != 1.5 || !math.IsInf(float64(values[1]), 1) {
		t.Fatalf("got %v, %v", values, err)
	}
	for _, size := range []int{0, 7, 9, 12} {
		if _, err := FP32FromRaw(make([]byte, size), 2, "input's data"); status.Code(err) != codes.InvalidArgument ||
			!strings.Contains(status.Convert(err).Message(), "input's data holds") {
			t.Errorf("%d bytes for 2 values: %v; want INVALID_ARGUMENT", size, err)
		}
	}
}
