package repository

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeModel writes dir/<name>/<version>/{model.onnx,metadata.json}; edit may change the metadata.
func writeModel(t *testing.T, dir, name, version string, edit func(map[string]any)) {
	t.Helper()
	d := filepath.Join(dir, name, version)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	onnx := []byte("fake onnx " + name + version)
	sum := sha256.Sum256(onnx)
	meta := map[string]any{
		"name": name, "version": version, "task": "classification", "input_name": "input",
		"n_features": 4, "output_names": []string{"label", "probabilities"},
		"probabilities_output": "probabilities", "value_output": nil, "class_labels": []string{"a", "b"},
		"sha256": hex.EncodeToString(sum[:]), "opset": 17,
	}
	if edit != nil {
		edit(meta)
	}
	raw, _ := json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(d, "metadata.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "model.onnx"), onnx, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The version rule and the metadata schema are checked against the contract's files in
// contract_test.go; these tests cover what those files do not say.

func TestLoadSortsByNameAndDerivesOutputs(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"text", "mixed", "numeric"} {
		writeModel(t, dir, name, "1", nil)
	}
	writeModel(t, dir, "reg", "1", func(m map[string]any) {
		m["task"], m["probabilities_output"], m["value_output"] = "regression", nil, "variable"
		m["output_names"], m["class_labels"] = []string{"variable"}, []string{}
	})
	models, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var names []string
	for _, m := range models {
		got[m.Name] = m.Version
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "mixed,numeric,reg,text" {
		t.Errorf("models not sorted by name: %v", names)
	}
	if models[2].OutputName() != "variable" || models[2].OutputWidth() != 1 || models[0].OutputWidth() != 2 {
		t.Errorf("output name/width wrong: %+v", models[2].Metadata)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"sha256 mismatch", func(m map[string]any) { m["sha256"] = strings.Repeat("0", 64) }, "sha256 mismatch"},
		{"name differs from directory", func(m map[string]any) { m["name"] = "other" }, "names other/1"},
		{"output not listed", func(m map[string]any) { m["output_names"] = []string{"label"} }, "not in output_names"},
		{"schema violations in one line", func(m map[string]any) { m["n_features"], m["opset"] = "4", nil }, "/n_features: got string, want integer; /opset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeModel(t, dir, "m", "1", tc.edit)
			_, err := Load(dir, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v; want one line containing %q", err, tc.want)
			}
		})
	}
	t.Run("empty repository", func(t *testing.T) {
		if _, err := Load(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "make models") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("missing model.onnx", func(t *testing.T) {
		dir := t.TempDir()
		writeModel(t, dir, "m", "1", nil)
		os.Remove(filepath.Join(dir, "m", "1", "model.onnx"))
		if _, err := Load(dir, nil); err == nil || !strings.Contains(err.Error(), "model.onnx") {
			t.Fatalf("got %v", err)
		}
	})
}
