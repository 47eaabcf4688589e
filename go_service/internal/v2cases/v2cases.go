// Package v2cases gives the Go adapters' tests the Open Inference Protocol's shared conformance
// cases (tests/vectors/v2/cases.json, the format in its README.md) and error table
// (proto/inference/errors.json): loading them, building each case's logical request, the raw
// encoding of tensor data, and checking a normalized answer. tests/conformance/v2_endpoints.py is
// the same for the servers as processes.
package v2cases

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"

	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/predictor"
)

// Case is one conformance case.
type Case struct {
	Name       string          `json:"name"`
	Model      string          `json:"model"`
	Version    string          `json:"version"`
	Ways       []string        `json:"ways"`
	Request    json.RawMessage `json:"request"`
	RowsRepeat int             `json:"rows_repeat"`
	HTTP       *struct {
		Body       *string `json:"body"`
		BodyRepeat *struct {
			Prefix string `json:"prefix"`
			Unit   string `json:"unit"`
			Count  int    `json:"count"`
			Suffix string `json:"suffix"`
		} `json:"body_repeat"`
		Headers map[string]string `json:"headers"`
	} `json:"http"`
	Binary  map[string]json.RawMessage `json:"binary"`
	GRPCRaw map[string]json.RawMessage `json:"grpc_raw"`
	Expect  Expect                     `json:"expect"`
}

// Expect is a case's expected answer: an error condition, or outputs.
type Expect struct {
	Error          string   `json:"error"`
	MessageMatches []string `json:"message_matches"`
	ModelVersion   string   `json:"model_version"`
	ID             string   `json:"id"`
	BinaryOutputs  []string `json:"binary_outputs"`
	Outputs        []Tensor `json:"outputs"`
}

// Tensor is a tensor as a case writes it (data: JSON numbers, strings for BYTES or for "NaN",
// "Infinity", "-Infinity").
type Tensor struct {
	Name       string         `json:"name"`
	Datatype   string         `json:"datatype"`
	Shape      []int64        `json:"shape"`
	Data       []any          `json:"data"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Binary     bool           `json:"-"` // in an answer: came as binary data (REST)
}

// Request is a case's logical inference request (the specification's $inference_request).
type Request struct {
	ID         string         `json:"id,omitempty"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Inputs     []Tensor       `json:"inputs"`
	Outputs    []Output       `json:"outputs,omitempty"`
}

// Output is a requested output.
type Output struct {
	Name       string         `json:"name"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

// Logical is the case's request with rows_repeat applied (its one row repeated, shape[0] set).
func (c Case) Logical(t *testing.T) Request {
	t.Helper()
	var r Request
	if err := json.Unmarshal(c.Request, &r); err != nil {
		t.Fatalf("case %s: request: %v", c.Name, err)
	}
	if c.RowsRepeat > 0 {
		row := r.Inputs[0].Data
		r.Inputs[0].Data = nil
		for range c.RowsRepeat {
			r.Inputs[0].Data = append(r.Inputs[0].Data, row...)
		}
		r.Inputs[0].Shape = []int64{int64(c.RowsRepeat), int64(len(row))}
	}
	return r
}

// Body is an "http" case's raw body.
func (c Case) Body() []byte {
	if c.HTTP.BodyRepeat != nil {
		b := c.HTTP.BodyRepeat
		return []byte(b.Prefix + strings.Repeat(b.Unit, b.Count) + b.Suffix)
	}
	return []byte(*c.HTTP.Body)
}

// Path is the case's infer route.
func (c Case) Path() string {
	if c.Version != "" {
		return "/v2/models/" + c.Model + "/versions/" + c.Version + "/infer"
	}
	return "/v2/models/" + c.Model + "/infer"
}

// Option reads a mutation option (binary, grpc_raw) into v; it reports whether it is present.
func Option(t *testing.T, opts map[string]json.RawMessage, key string, v any) bool {
	t.Helper()
	raw, ok := opts[key]
	if !ok {
		return false
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("option %s: %v", key, err)
	}
	return true
}

// Load reads every case.
func Load(t *testing.T) []Case {
	t.Helper()
	var doc struct {
		Format string `json:"format"`
		Cases  []Case `json:"cases"`
	}
	readJSON(t, filepath.Join(modeltest.RepoRoot(t), "tests", "vectors", "v2", "cases.json"), &doc)
	if doc.Format != "servebench-v2-cases/1" || len(doc.Cases) == 0 {
		t.Fatalf("cases.json: format %q, %d cases", doc.Format, len(doc.Cases))
	}
	return doc.Cases
}

// Condition is an error condition's answer (proto/inference/errors.json).
type Condition struct {
	HTTPStatus int    `json:"http_status"`
	GRPCCode   string `json:"grpc_code"`
	Source     string `json:"source"`
}

// Code is the condition's gRPC code.
func (c Condition) Code(t *testing.T) codes.Code {
	var code codes.Code
	if err := code.UnmarshalJSON([]byte(`"` + c.GRPCCode + `"`)); err != nil {
		t.Fatalf("grpc_code %q: %v", c.GRPCCode, err)
	}
	return code
}

// Conditions reads proto/inference/errors.json's conditions by name.
func Conditions(t *testing.T) map[string]Condition {
	t.Helper()
	var doc struct {
		Conditions []struct {
			Condition
			Name string `json:"condition"`
		} `json:"conditions"`
	}
	readJSON(t, filepath.Join(modeltest.RepoRoot(t), "proto", "inference", "errors.json"), &doc)
	out := map[string]Condition{}
	for _, c := range doc.Conditions {
		out[c.Name] = c.Condition
	}
	return out
}

// ContractFile reads proto/inference/<name>.
func ContractFile(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(modeltest.RepoRoot(t), "proto", "inference", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

var (
	coreOnce sync.Once
	core     *predictor.Predictor
	coreErr  error
)

// Predictor is one Predictor with every model and the cases' server settings (max_batch 1024),
// shared by a test binary.
func Predictor(t *testing.T) *predictor.Predictor {
	t.Helper()
	modeltest.InitORT(t)
	models := modeltest.Models(t)
	coreOnce.Do(func() {
		core = predictor.New(predictor.Options{IntraOpThreads: 1, InterOpThreads: 1, MaxBatch: 1024})
		coreErr = core.Load(models)
	})
	if coreErr != nil {
		t.Fatalf("Load: %v", coreErr)
	}
	return core
}

// Float reads a case's data value: a number, or "NaN", "Infinity", "-Infinity".
func Float(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		switch x {
		case "NaN":
			return math.NaN()
		case "Infinity":
			return math.Inf(1)
		case "-Infinity":
			return math.Inf(-1)
		}
	}
	panic(fmt.Sprintf("not a case number: %v", v))
}

// Raw encodes data as the datatype's binary data (proto/inference/model.json raw_encoding).
func Raw(datatype string, data []any) []byte {
	var out []byte
	for _, v := range data {
		switch strings.ToUpper(datatype) {
		case "FP32":
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(Float(v))))
		case "FP64":
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(Float(v)))
		case "INT32":
			out = binary.LittleEndian.AppendUint32(out, uint32(int32(Float(v))))
		case "INT64":
			out = binary.LittleEndian.AppendUint64(out, uint64(int64(Float(v))))
		case "BYTES":
			s := v.(string)
			out = binary.LittleEndian.AppendUint32(out, uint32(len(s)))
			out = append(out, s...)
		default:
			panic("no raw encoding for datatype " + datatype)
		}
	}
	return out
}

// Answer is a normalized answer of either protocol.
type Answer struct {
	OK           bool
	HTTPStatus   int        // REST, 0 for gRPC
	GRPCCode     codes.Code // gRPC
	Message      string
	Header       map[string]string // REST error headers that the condition names
	ModelName    string
	ModelVersion string
	ID           string
	Outputs      []Tensor
}

// Check compares an answer over `way` with the case's expectation and returns the differences.
func Check(t *testing.T, c Case, way string, got Answer, conds map[string]Condition) []string {
	t.Helper()
	var diffs []string
	if c.Expect.Error != "" {
		cond, ok := conds[c.Expect.Error]
		if !ok {
			t.Fatalf("case %s: condition %q is not in errors.json", c.Name, c.Expect.Error)
		}
		switch {
		case got.OK:
			return []string{fmt.Sprintf("answered %+v; expected the error %s", got.Outputs, c.Expect.Error)}
		case strings.HasPrefix(way, "grpc") && got.GRPCCode != cond.Code(t):
			diffs = append(diffs, fmt.Sprintf("gRPC code %v, expected %s (%s): %q", got.GRPCCode, cond.GRPCCode, c.Expect.Error, got.Message))
		case !strings.HasPrefix(way, "grpc") && got.HTTPStatus != cond.HTTPStatus:
			diffs = append(diffs, fmt.Sprintf("HTTP %d, expected %d (%s): %q", got.HTTPStatus, cond.HTTPStatus, c.Expect.Error, got.Message))
		}
		if got.Message == "" {
			diffs = append(diffs, "empty error message")
		}
		for _, pattern := range c.Expect.MessageMatches {
			if !regexp.MustCompile("(?i)" + pattern).MatchString(got.Message) {
				diffs = append(diffs, fmt.Sprintf("message %q does not match %q", got.Message, pattern))
			}
		}
		return diffs
	}
	if !got.OK {
		return []string{fmt.Sprintf("error %d/%v %q; expected an answer", got.HTTPStatus, got.GRPCCode, got.Message)}
	}
	return checkOutputs(c, way, got)
}

func checkOutputs(c Case, way string, got Answer) []string {
	var diffs []string
	wantVersion := c.Expect.ModelVersion
	if wantVersion == "" {
		wantVersion = "1"
	}
	if got.ModelName != c.Model || got.ModelVersion != wantVersion || got.ID != c.Expect.ID {
		diffs = append(diffs, fmt.Sprintf("model %q version %q id %q; expected %q %q %q", got.ModelName, got.ModelVersion, got.ID, c.Model, wantVersion, c.Expect.ID))
	}
	if len(got.Outputs) != len(c.Expect.Outputs) {
		return append(diffs, fmt.Sprintf("%d outputs; expected %d", len(got.Outputs), len(c.Expect.Outputs)))
	}
	for i, want := range c.Expect.Outputs {
		o := got.Outputs[i]
		if o.Name != want.Name || o.Datatype != want.Datatype || !slices.Equal(o.Shape, want.Shape) {
			diffs = append(diffs, fmt.Sprintf("output %d is %s %s %v; expected %s %s %v", i, o.Name, o.Datatype, o.Shape, want.Name, want.Datatype, want.Shape))
		}
		elements := int64(1)
		for _, d := range o.Shape {
			elements *= d
		}
		if int64(len(o.Data)) != elements {
			diffs = append(diffs, fmt.Sprintf("output %s holds %d values for shape %v", o.Name, len(o.Data), o.Shape))
		}
		if want.Data != nil && fmt.Sprint(o.Data) != fmt.Sprint(want.Data) {
			diffs = append(diffs, fmt.Sprintf("output %s data %v; expected %v", o.Name, o.Data, want.Data))
		}
		if !strings.HasPrefix(way, "grpc") && o.Binary != slices.Contains(c.Expect.BinaryOutputs, o.Name) {
			diffs = append(diffs, fmt.Sprintf("output %s binary %v; expected %v", o.Name, o.Binary, !o.Binary))
		}
	}
	return diffs
}

// FromRaw decodes binary output data (FP32, INT32, BYTES) as JSON would carry it: numbers as
// float64, BYTES as strings.
func FromRaw(t *testing.T, datatype string, raw []byte) []any {
	t.Helper()
	var out []any
	for len(raw) > 0 {
		switch {
		case datatype == "FP32" && len(raw) >= 4:
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw))))
			raw = raw[4:]
		case datatype == "INT32" && len(raw) >= 4:
			out = append(out, float64(int32(binary.LittleEndian.Uint32(raw))))
			raw = raw[4:]
		case datatype == "BYTES" && len(raw) >= 4 && len(raw)-4 >= int(binary.LittleEndian.Uint32(raw)):
			n := int(binary.LittleEndian.Uint32(raw))
			out = append(out, string(raw[4:4+n]))
			raw = raw[4+n:]
		default:
			t.Fatalf("binary data of datatype %s: %d bytes left that are no element", datatype, len(raw))
		}
	}
	return out
}
