package v2infer_test

// The model presentation against the contract's proto/inference/model.json: the server metadata,
// the platform, the properties, and each task's input and outputs (names, datatypes, shapes).

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"

	predictv1 "servebench/go_service/gen/predict/v1"
	"servebench/go_service/internal/v2cases"
	"servebench/go_service/internal/v2infer"
)

type tensorDoc struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []any  `json:"shape"`
}

func TestModelFollowsTheContract(t *testing.T) {
	var doc struct {
		Server struct {
			Name       string   `json:"name"`
			Version    string   `json:"version"`
			Extensions []string `json:"extensions"`
		} `json:"server"`
		Platform   string                 `json:"platform"`
		Properties []string               `json:"properties"`
		Inputs     []tensorDoc            `json:"inputs"`
		Outputs    map[string][]tensorDoc `json:"outputs"`
	}
	if err := json.Unmarshal(v2cases.ContractFile(t, "model.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Server.Name != v2infer.ServerName || doc.Server.Version != v2infer.ServerVersion || !slices.Equal(doc.Server.Extensions, v2infer.Extensions) {
		t.Errorf("server %+v; the code has %s %s %v", doc.Server, v2infer.ServerName, v2infer.ServerVersion, v2infer.Extensions)
	}
	if doc.Platform != v2infer.Platform {
		t.Errorf("platform %q; the code has %q", doc.Platform, v2infer.Platform)
	}
	for _, task := range []string{"classification", "regression"} {
		info := &predictv1.ModelInfo{Name: "m", Task: task, InputName: "in", NFeatures: 7, ClassLabels: []string{"a", "b", "c"}}
		resolve := func(tensors []tensorDoc) []string {
			var out []string
			for _, td := range tensors {
				name := td.Name
				if name == "input_name" {
					name = info.GetInputName()
				}
				shape := make([]int64, len(td.Shape))
				for i, d := range td.Shape {
					switch d {
					case "n_features":
						shape[i] = int64(info.GetNFeatures())
					case "n_classes":
						shape[i] = int64(len(info.GetClassLabels()))
					default:
						shape[i] = int64(d.(float64))
					}
				}
				out = append(out, fmt.Sprint(name, td.Datatype, shape))
			}
			return out
		}
		show := func(tensors ...v2infer.TensorMeta) []string {
			var out []string
			for _, tm := range tensors {
				out = append(out, fmt.Sprint(tm.Name, tm.Datatype, tm.Shape))
			}
			return out
		}
		if got, want := show(v2infer.Input(info)), resolve(doc.Inputs); !slices.Equal(got, want) {
			t.Errorf("%s input %v; model.json says %v", task, got, want)
		}
		if got, want := show(v2infer.Outputs(info)...), resolve(doc.Outputs[task]); !slices.Equal(got, want) {
			t.Errorf("%s outputs %v; model.json says %v", task, got, want)
		}
		if got := slices.Sorted(maps.Keys(v2infer.Properties(info))); !slices.Equal(got, slices.Sorted(slices.Values(doc.Properties))) {
			t.Errorf("properties %v; model.json says %v", got, doc.Properties)
		}
	}
}
