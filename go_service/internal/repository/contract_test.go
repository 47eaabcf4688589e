package repository_test

// The repository reader against the contract's data files: the version rule
// (proto/predict/v1/versions.json) and the metadata.json schema (metadata.schema.json), which
// is the oracle for every mutation of a valid document below.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"servebench/go_service/internal/contract"
	"servebench/go_service/internal/modeltest"
	"servebench/go_service/internal/repository"
)

// fakeONNX is the model.onnx that write puts beside metadata.json.
func fakeONNX(name, version string) []byte { return []byte("fake onnx " + name + version) }

// write puts one model (metadata as given, model.onnx = fakeONNX) at dir/name/version.
func write(t *testing.T, dir, name, version string, meta map[string]any) {
	t.Helper()
	d := filepath.Join(dir, name, version)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	onnx := fakeONNX(name, version)
	raw, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "metadata.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "model.onnx"), onnx, 0o644); err != nil {
		t.Fatal(err)
	}
}

func classifier(name, version string) map[string]any {
	sum := sha256.Sum256(fakeONNX(name, version))
	return map[string]any{"sha256": hex.EncodeToString(sum[:]),
		"name": name, "version": version, "task": "classification", "input_name": "input",
		"n_features": 4, "output_names": []any{"label", "probabilities"},
		"probabilities_output": "probabilities", "value_output": nil,
		"class_labels": []any{"a", "b"}, "opset": 17, "estimator": "LogisticRegression",
		"dataset": "load_iris", "library_versions": map[string]any{"onnx": "1.23.2"},
		"parity": map[string]any{"rows": 3}, "created_at": "2026-01-01T00:00:00Z", "recipe": "r",
	}
}

func regressor(name, version string) map[string]any {
	m := classifier(name, version)
	m["task"], m["probabilities_output"], m["value_output"] = "regression", nil, "variable"
	m["output_names"], m["class_labels"] = []any{"variable"}, []any{}
	return m
}

func TestVersionRuleOfTheContract(t *testing.T) {
	var rule struct {
		Cases []struct {
			Versions []string `json:"versions"`
			Serves   string   `json:"serves"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(modeltest.ContractFile(t, "versions.json"), &rule); err != nil {
		t.Fatal(err)
	}
	if len(rule.Cases) == 0 {
		t.Fatal("versions.json has no cases")
	}
	for _, tc := range rule.Cases {
		t.Run(fmt.Sprint(tc.Versions), func(t *testing.T) {
			dir := t.TempDir()
			for _, v := range tc.Versions {
				write(t, dir, "m", v, classifier("m", v))
			}
			models, err := repository.Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := models[0].Version; got != tc.Serves {
				t.Errorf("versions %v: serves %q; the contract says %q", tc.Versions, got, tc.Serves)
			}
			sorted := append([]string(nil), tc.Versions...)
			sort.Slice(sorted, func(i, j int) bool { return repository.VersionLess(sorted[i], sorted[j]) })
			if sorted[len(sorted)-1] != tc.Serves {
				t.Errorf("VersionLess ranks %q highest; the contract says %q", sorted[len(sorted)-1], tc.Serves)
			}
		})
	}
}

// mutations of one property: every JSON type, and values at the edges of the schema's rules (no
// other non-empty string: "output not in output_names" is the one rule outside the schema).
var mutations = []any{nil, true, false, 0, -1, 1, 4.0, 2.5, 1e9, "", map[string]any{}, []any{}, []any{1}, []any{nil}, []any{""}}

func TestMetadataValidationAgreesWithTheSchema(t *testing.T) {
	oracle, err := contract.CompileMetadataSchema(modeltest.ContractFile(t, "metadata.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(modeltest.ContractFile(t, "metadata.schema.json"), &schema); err != nil {
		t.Fatal(err)
	}
	checked, refused := 0, 0
	for _, base := range []func(string, string) map[string]any{classifier, regressor} {
		for property := range schema.Properties {
			variants := []map[string]any{without(base("m", "1"), property)}
			for _, value := range mutations {
				m := base("m", "1")
				m[property] = value
				variants = append(variants, m)
			}
			extra := base("m", "1")
			extra["not_in_the_schema"] = []any{1}
			variants = append(variants, extra)
			for _, meta := range variants {
				raw, _ := json.Marshal(meta)
				want := contract.Validate(oracle, raw) == nil
				dir := t.TempDir()
				write(t, dir, "m", "1", meta)
				_, err := repository.Load(dir, nil)
				if got := err == nil; got != want {
					t.Errorf("metadata %s: Load error %v; the schema says valid=%v", raw, err, want)
				}
				checked++
				if !want {
					refused++
				}
			}
		}
	}
	if refused == 0 || refused == checked {
		t.Fatalf("%d of %d mutations refused: the test cannot tell valid from invalid", refused, checked)
	}
	t.Logf("%d metadata documents checked, %d refused by the schema", checked, refused)
}

func without(m map[string]any, key string) map[string]any {
	delete(m, key)
	return m
}
