package predictor

import (
	"fmt"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/repository"
)

// model is one loaded model: its metadata and one ONNX Runtime session, created once at load
// and shared by every request (DynamicAdvancedSession allows concurrent Run calls).
type model struct {
	info       *predictv1.ModelInfo
	session    *ort.DynamicAdvancedSession
	classifier bool
	nFeatures  int
	width      int // columns of the fetched output: one per class, or 1 for a regressor
	labels     []string
}

// newModel checks that the ONNX graph agrees with the metadata and creates the session, which
// fetches only the one output the answer needs.
func newModel(m *repository.Model, opts *ort.SessionOptions) (*model, error) {
	output := m.OutputName()
	if err := checkGraph(m, output); err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Dir, err)
	}
	session, err := ort.NewDynamicAdvancedSessionWithONNXData(m.ONNX, []string{m.InputName}, []string{output}, opts)
	if err != nil {
		return nil, fmt.Errorf("model %s: creating ONNX Runtime session: %w", m.Dir, err)
	}
	return &model{
		info: &predictv1.ModelInfo{
			Name:        m.Name,
			Version:     m.Version,
			Task:        m.Task,
			InputName:   m.InputName,
			NFeatures:   int32(m.NFeatures),
			ClassLabels: m.ClassLabels,
			OutputNames: m.OutputNames,
			Sha256:      strings.ToLower(m.SHA256),
			Opset:       int32(m.Opset),
		},
		session:    session,
		classifier: m.Task == repository.TaskClassification,
		nFeatures:  m.NFeatures,
		width:      m.OutputWidth(),
		labels:     m.ClassLabels,
	}, nil
}

// checkGraph verifies that the input is a float tensor [N, n_features] and the fetched output a
// float tensor [N, width], as metadata.json says.
func checkGraph(m *repository.Model, output string) error {
	inputs, outputs, err := ort.GetInputOutputInfoWithONNXData(m.ONNX)
	if err != nil {
		return fmt.Errorf("reading ONNX inputs and outputs: %w", err)
	}
	if err := checkTensor(inputs, "input", m.InputName, m.NFeatures); err != nil {
		return err
	}
	return checkTensor(outputs, "output", output, m.OutputWidth())
}

func checkTensor(infos []ort.InputOutputInfo, kind, name string, width int) error {
	for _, info := range infos {
		if info.Name != name {
			continue
		}
		dims := info.Dimensions
		if info.OrtValueType != ort.ONNXTypeTensor || info.DataType != ort.TensorElementDataTypeFloat || len(dims) != 2 {
			return fmt.Errorf("ONNX %s %q is %s, expected a float tensor [N, %d]", kind, name, info.String(), width)
		}
		if dims[1] >= 0 && dims[1] != int64(width) {
			return fmt.Errorf("ONNX %s %q has shape %v, expected [N, %d] from metadata.json", kind, name, dims, width)
		}
		return nil
	}
	return fmt.Errorf("metadata.json names ONNX %s %q, which the graph does not have", kind, name)
}

// tensors creates the input tensor of a [batch, nFeatures] row-major input and the [batch,
// width] output tensor the session fills. The caller destroys both.
func (m *model) tensors(data []float32, batch int) (in, out *ort.Tensor[float32], err error) {
	in, err = ort.NewTensor(ort.NewShape(int64(batch), int64(m.nFeatures)), data)
	if err != nil {
		return nil, nil, fmt.Errorf("input tensor: %w", err)
	}
	out, err = ort.NewEmptyTensor[float32](ort.NewShape(int64(batch), int64(m.width)))
	if err != nil {
		in.Destroy()
		return nil, nil, fmt.Errorf("output tensor: %w", err)
	}
	return in, out, nil
}

// argmax returns the index of the first maximum; like numpy.argmax, a NaN counts as the maximum.
func argmax(row []float32) int {
	best := 0
	for j := 1; j < len(row); j++ {
		if row[best] != row[best] { // NaN already chosen
			break
		}
		if row[j] > row[best] || row[j] != row[j] {
			best = j
		}
	}
	return best
}
