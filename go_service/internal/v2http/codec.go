package v2http

import (
	"bytes"
	"encoding/json"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/clip"
	"servebench/go_service/internal/predictor"
	"servebench/go_service/internal/v2infer"
)

// The JSON objects of the specification's REST API (inference_rest.md), as answered.
type (
	errorBody struct {
		Error string `json:"error"`
	}
	serverMetadata struct {
		Name       string   `json:"name"`
		Version    string   `json:"version"`
		Extensions []string `json:"extensions"`
	}
	modelReady struct {
		Name  string `json:"name"`
		Ready bool   `json:"ready"`
	}
	tensorMetadata struct {
		Name     string  `json:"name"`
		Datatype string  `json:"datatype"`
		Shape    []int64 `json:"shape"`
	}
	modelMetadata struct {
		Name       string            `json:"name"`
		Versions   []string          `json:"versions"`
		Platform   string            `json:"platform"`
		Inputs     []tensorMetadata  `json:"inputs"`
		Outputs    []tensorMetadata  `json:"outputs"`
		Properties map[string]string `json:"properties"`
	}
	responseOutput struct {
		Name       string         `json:"name"`
		Datatype   string         `json:"datatype"`
		Shape      []int64        `json:"shape"`
		Parameters map[string]int `json:"parameters,omitempty"`
		Data       any            `json:"data,omitempty"`
	}
	inferResponse struct {
		ModelName    string           `json:"model_name"`
		ModelVersion string           `json:"model_version"`
		ID           string           `json:"id,omitempty"`
		Outputs      []responseOutput `json:"outputs"`
	}
)

// The request objects. Unknown fields are ignored (Triton's own example sends "model_name");
// parameters are read by name, and the ones the server does not define are ignored.
type (
	params       map[string]json.RawMessage
	inferRequest struct {
		ID         string          `json:"id"`
		Parameters params          `json:"parameters"`
		Inputs     []requestInput  `json:"inputs"`
		Outputs    []requestOutput `json:"outputs"`
	}
	requestInput struct {
		Name       string          `json:"name"`
		Shape      []int64         `json:"shape"`
		Datatype   string          `json:"datatype"`
		Parameters params          `json:"parameters"`
		Data       json.RawMessage `json:"data"`
	}
	requestOutput struct {
		Name       string `json:"name"`
		Parameters params `json:"parameters"`
	}
)

func modelMetadataFor(info *predictv1.ModelInfo) modelMetadata {
	meta := func(t v2infer.TensorMeta) tensorMetadata { return tensorMetadata(t) }
	md := modelMetadata{Name: info.GetName(), Versions: []string{info.GetVersion()}, Platform: v2infer.Platform,
		Inputs: []tensorMetadata{meta(v2infer.Input(info))}, Properties: v2infer.Properties(info)}
	for _, o := range v2infer.Outputs(info) {
		md.Outputs = append(md.Outputs, meta(o))
	}
	return md
}

// boolParam reads a boolean parameter (absent: otherwise); another JSON type is INVALID_ARGUMENT.
func (p params) boolParam(key string, otherwise bool) (bool, error) {
	raw, ok := p[key]
	if !ok {
		return otherwise, nil
	}
	var v bool
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, status.Errorf(codes.InvalidArgument, "parameter %q must be a boolean, got %s", key, clip.Quote(string(raw)))
	}
	return v, nil
}

// decoded is a REST inference request in the core's terms.
type decoded struct {
	id      string
	batch   predictor.Batch
	outputs []v2infer.Selected
}

// decode reads the JSON header of a request (and the binary data after it, when the header names
// binary_data_size) for model info. The checks, in order: the JSON, the inputs (v2infer.CheckInput),
// the input's data (JSON numbers, or binary data of the shape's size), the binary data all used,
// the outputs (v2infer.Select).
func decode(info *predictv1.ModelInfo, version string, header, binaryData []byte) (decoded, error) {
	var req inferRequest
	if err := json.Unmarshal(header, &req); err != nil {
		return decoded{}, status.Error(codes.InvalidArgument, "invalid JSON body: "+clip.Quote(err.Error()))
	}
	d := decoded{id: req.ID, batch: predictor.Batch{Model: info.GetName(), Version: version}}
	var in requestInput
	if len(req.Inputs) > 0 {
		in = req.Inputs[0]
	}
	rows, cols, err := v2infer.CheckInput(info, len(req.Inputs), in.Name, in.Datatype, in.Shape)
	if err != nil {
		return decoded{}, err
	}
	d.batch.Rows, d.batch.Cols = rows, cols
	if d.batch.Data, err = inputData(in, rows, cols, binaryData); err != nil {
		return decoded{}, err
	}
	allBinary, err := req.Parameters.boolParam("binary_data_output", false)
	if err != nil {
		return decoded{}, err
	}
	requested := make([]v2infer.Requested, len(req.Outputs))
	for i, o := range req.Outputs {
		binary, err := o.Parameters.boolParam("binary_data", allBinary)
		if err != nil {
			return decoded{}, err
		}
		_, classification := o.Parameters["classification"]
		requested[i] = v2infer.Requested{Name: o.Name, Binary: binary, Classification: classification}
	}
	d.outputs, err = v2infer.Select(info, requested, allBinary)
	return d, err
}

// inputData is the input's values: its JSON data, or its binary data (binary_data_size bytes, the
// whole of binaryData: the server's one input).
func inputData(in requestInput, rows, cols int, binaryData []byte) ([]float32, error) {
	sizeRaw, isBinary := in.Parameters["binary_data_size"]
	hasData := len(in.Data) > 0 && !bytes.Equal(in.Data, []byte("null"))
	switch {
	case isBinary && hasData:
		return nil, status.Errorf(codes.InvalidArgument, "input %q has both data and binary_data_size", in.Name)
	case !isBinary && len(binaryData) > 0:
		return nil, status.Errorf(codes.InvalidArgument, "%d bytes of binary data follow the JSON header, but no input has binary_data_size", len(binaryData))
	case !isBinary && !hasData:
		return nil, status.Errorf(codes.InvalidArgument, "input %q has no data (nor binary_data_size)", in.Name)
	case !isBinary:
		return jsonData(in.Name, in.Data, rows, cols)
	}
	var size int64
	if err := json.Unmarshal(sizeRaw, &size); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "parameter \"binary_data_size\" must be an integer, got %s", clip.Quote(string(sizeRaw)))
	}
	switch {
	case size < 0:
		return nil, status.Errorf(codes.InvalidArgument, "input %q: binary_data_size %d is negative", in.Name, size)
	case size != int64(len(binaryData)):
		return nil, status.Errorf(codes.InvalidArgument, "input %q: binary_data_size %d, but %d bytes of binary data follow the JSON header", in.Name, size, len(binaryData))
	}
	return v2infer.FP32FromRaw(binaryData, rows*cols, strconv.Quote(in.Name)+"'s binary data")
}

// jsonData reads FP32 tensor data given as JSON numbers, flat ([1, 2, 3, 4]) or in the tensor's
// natural nesting, one list per row ([[1, 2], [3, 4]], each row cols long); anything else is
// INVALID_ARGUMENT. (The core checks that the flat data fills rows × cols.)
func jsonData(name string, data json.RawMessage, rows, cols int) ([]float32, error) {
	if !nested(data) {
		var flat []float32
		if err := json.Unmarshal(data, &flat); err != nil {
			return nil, badData(name, err)
		}
		return flat, nil
	}
	var byRow [][]float32
	if err := json.Unmarshal(data, &byRow); err != nil {
		return nil, badData(name, err)
	}
	if len(byRow) != rows {
		return nil, status.Errorf(codes.InvalidArgument, "input %q: data has %d rows, its shape %d", name, len(byRow), rows)
	}
	out := make([]float32, 0, rows*cols)
	for i, row := range byRow {
		if len(row) != cols {
			return nil, status.Errorf(codes.InvalidArgument, "input %q: data row %d has %d values, its shape %d", name, i, len(row), cols)
		}
		out = append(out, row...)
	}
	return out, nil
}

// nested reports whether JSON data is a list whose first element is a list.
func nested(data []byte) bool {
	lists := 0
	for _, c := range data {
		switch c {
		case ' ', '\t', '\r', '\n':
		case '[':
			if lists++; lists == 2 {
				return true
			}
		default:
			return false
		}
	}
	return false
}

func badData(name string, err error) error {
	return status.Errorf(codes.InvalidArgument, "input %q: data must be a list of numbers (FP32), flat or nested by rows: %s", name, clip.Quote(err.Error()))
}

// encode writes the answer: the JSON response, followed by the binary data of the outputs answered
// as binary (model.json raw_encoding). headerLen is the JSON's length when binary data follows,
// else -1.
func encode(res predictor.Result, id string, tensors []v2infer.Tensor) (body []byte, headerLen int, err error) {
	resp := inferResponse{ModelName: res.Model, ModelVersion: res.Version, ID: id, Outputs: make([]responseOutput, len(tensors))}
	var raw [][]byte
	for i, t := range tensors {
		o := responseOutput{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
		switch {
		case t.Binary:
			data := t.Raw()
			raw = append(raw, data)
			o.Parameters = map[string]int{"binary_data_size": len(data)}
		case t.Datatype == v2infer.FP32:
			o.Data = t.FP32
		case t.Datatype == v2infer.INT32:
			o.Data = t.INT32
		default:
			o.Data = t.Bytes
		}
		resp.Outputs[i] = o
	}
	body, err = json.Marshal(resp)
	if err != nil || raw == nil {
		return body, -1, err
	}
	headerLen = len(body)
	for _, data := range raw {
		body = append(body, data...)
	}
	return body, headerLen, nil
}
