// Package repository reads the model repository shared by both servers:
// models/<name>/<version>/{model.onnx,metadata.json}. For every name the highest servable version is
// served, by the version rule of proto/predict/v1/versions.json; its metadata.json must validate
// against proto/predict/v1/metadata.schema.json and its model.onnx must match the sha256 recorded
// there.
package repository

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"servebench/go_service/internal/contract"
)

// Task values in metadata.json.
const (
	TaskClassification = "classification"
	TaskRegression     = "regression"
)

// Metadata is metadata.json (proto/predict/v1/metadata.schema.json), decoded once it validates.
type Metadata struct {
	Name                string            `json:"name"`
	Version             string            `json:"version"`
	Task                string            `json:"task"`
	InputName           string            `json:"input_name"`
	NFeatures           int               `json:"-"` // from RawNFeatures (JSON may write 4.0)
	OutputNames         []string          `json:"output_names"`
	ProbabilitiesOutput *string           `json:"probabilities_output"`
	ValueOutput         *string           `json:"value_output"`
	ClassLabels         []string          `json:"class_labels"`
	SHA256              string            `json:"sha256"`
	Opset               int               `json:"-"` // from RawOpset
	RawNFeatures        float64           `json:"n_features"`
	RawOpset            float64           `json:"opset"`
	Estimator           string            `json:"estimator"`
	Dataset             *string           `json:"dataset"`
	LibraryVersions     map[string]string `json:"library_versions"`
	Parity              json.RawMessage   `json:"parity"`
	CreatedAt           string            `json:"created_at"`
}

// Model is one servable model: its metadata and the verified bytes of model.onnx.
type Model struct {
	Metadata
	Dir  string // models/<name>/<version>
	ONNX []byte // contents of model.onnx, sha256-verified
}

// OutputName is the one ONNX output the servers fetch: probabilities_output for classifiers,
// value_output for regressors.
func (m *Model) OutputName() string {
	if m.Task == TaskClassification {
		return deref(m.ProbabilitiesOutput)
	}
	return deref(m.ValueOutput)
}

// OutputWidth is the expected second dimension of that output: one column per class, or 1.
func (m *Model) OutputWidth() int {
	if m.Task == TaskClassification {
		return len(m.ClassLabels)
	}
	return 1
}

// Load reads every model in dir (the highest servable version of each name), verifies it, and
// returns them sorted by name. A version directory that cannot be served (no metadata.json, a
// dangling or looping symlink, a file where a directory belongs, unreadable) is skipped with one
// warning on logger naming it and why, and so is a name left with no servable version; the
// version rule applies among the rest. Load fails on the first served version that does not
// verify, naming it, and when dir holds no servable model. A nil logger logs nothing.
func Load(dir string, logger *slog.Logger) ([]*Model, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("model repository: %w", err)
	}
	var names []string
	latest := map[string]string{} // name -> version directory
	for _, e := range entries {
		nameDir := filepath.Join(dir, e.Name())
		versions, why := servableVersions(nameDir, logger)
		if why == "" && len(versions) == 0 {
			why = "no servable version"
		}
		if why != "" {
			logger.Warn("model skipped", "dir", nameDir, "reason", why)
			continue
		}
		best := versions[0]
		for _, v := range versions[1:] {
			if VersionLess(best, v) {
				best = v
			}
		}
		names = append(names, e.Name())
		latest[e.Name()] = best
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no models found in %s (expected <name>/<version>/metadata.json); run 'make models'", dir)
	}
	sort.Strings(names)
	models := make([]*Model, 0, len(names))
	for _, name := range names {
		m, err := loadOne(filepath.Join(dir, name, latest[name]))
		if err != nil {
			return nil, err
		}
		models = append(models, m)
	}
	return models, nil
}

// loadOne reads and verifies models/<name>/<version>.
func loadOne(dir string) (*Model, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "metadata.json"))
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	m := &Model{Dir: dir}
	if err := contract.ValidateMetadata(raw); err != nil {
		return nil, fmt.Errorf("model %s: metadata.json: %w", dir, err)
	}
	if err := json.Unmarshal(raw, &m.Metadata); err != nil {
		return nil, fmt.Errorf("model %s: metadata.json: %w", dir, err)
	}
	m.NFeatures, m.Opset = int(m.RawNFeatures), int(m.RawOpset) // integers: the schema says so
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("model %s: metadata.json: %w", dir, err)
	}
	wantName, wantVersion := filepath.Base(filepath.Dir(dir)), filepath.Base(dir)
	if m.Name != wantName || m.Version != wantVersion {
		return nil, fmt.Errorf("model %s: metadata.json names %s/%s, not %s/%s", dir, m.Name, m.Version, wantName, wantVersion)
	}
	onnxPath := filepath.Join(dir, "model.onnx")
	if m.ONNX, err = os.ReadFile(onnxPath); err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	sum := sha256.Sum256(m.ONNX)
	if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, m.SHA256) {
		return nil, fmt.Errorf("model %s: sha256 mismatch: %s is %s but metadata.json says %s; refusing to serve it (re-export with 'make models')",
			dir, onnxPath, got, m.SHA256)
	}
	return m, nil
}

// validate checks the rule the schema cannot express: the fetched output is one of output_names.
func (m *Model) validate() error {
	if out := m.OutputName(); !slices.Contains(m.OutputNames, out) {
		return fmt.Errorf("output %q is not in output_names", out)
	}
	return nil
}

// VersionLess orders versions by proto/predict/v1/versions.json: numeric versions (digits only)
// compare by value (ties by string order) and rank above the others, which compare as strings.
func VersionLess(a, b string) bool {
	na, nb := isNumeric(a), isNumeric(b)
	switch {
	case na && nb:
		ta, tb := strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(ta) != len(tb) {
			return len(ta) < len(tb)
		}
		if ta != tb {
			return ta < tb
		}
		return a < b
	case na != nb:
		return nb // the non-numeric one is lower
	}
	return a < b
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
