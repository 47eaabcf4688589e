// Package modeltest gives tests and benchmarks the repository's real libonnxruntime and models/.
//
// Lookup: $ONNXRUNTIME_LIB, else the .venv wheel's library (ortlib.Locate); $SERVEBENCH_MODELS,
// else <repo>/models where <repo> is the directory above go_service/. A missing library or model
// FAILS the test with what to run, unless SERVEBENCH_ALLOW_SKIP=1, which turns it into a skip.
package modeltest

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"servebench/go_service/internal/ortlib"
	"servebench/go_service/internal/repository"
)

// DefaultModels are the models `make models` exports.
var DefaultModels = []string{"iris-logreg", "breast-cancer-rf", "digits-mlp", "diabetes-gbr"}

var (
	initOnce sync.Once
	initErr  error
	libPath  string
)

// unavailable fails (or, when SERVEBENCH_ALLOW_SKIP=1, skips) the test.
func unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("SERVEBENCH_ALLOW_SKIP") == "1" {
		tb.Skipf(format, args...)
	}
	tb.Fatalf(format+" (set SERVEBENCH_ALLOW_SKIP=1 to skip instead)", args...)
}

// InitORT initializes ONNX Runtime once per test binary and returns the library path.
func InitORT(tb testing.TB) string {
	tb.Helper()
	initOnce.Do(func() {
		libPath, initErr = ortlib.Locate(os.Getenv(ortlib.EnvVar))
		if initErr == nil {
			initErr = ortlib.Init(libPath)
		}
	})
	if initErr != nil {
		unavailable(tb, "ONNX Runtime: %v", initErr)
	}
	return libPath
}

// ModelsDir returns the model repository directory.
func ModelsDir(tb testing.TB) string {
	tb.Helper()
	if dir := os.Getenv("SERVEBENCH_MODELS"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(tb), "models")
}

// RepoRoot returns the repository root: the directory holding go_service/go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go_service", "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			tb.Fatalf("cannot find the repository root (a directory holding go_service/go.mod) above %s", wd)
		}
	}
}

// ContractFile returns the contents of proto/predict/v1/<name>, the contract's data files that
// the Go code is tested against.
func ContractFile(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(RepoRoot(tb), "proto", "predict", "v1", name))
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// Models loads the repository, requiring every default model to be present.
func Models(tb testing.TB) []*repository.Model {
	tb.Helper()
	dir := ModelsDir(tb)
	models, err := repository.Load(dir, nil)
	if err != nil {
		unavailable(tb, "models: %v", err)
	}
	have := map[string]bool{}
	for _, m := range models {
		have[m.Name] = true
	}
	for _, name := range DefaultModels {
		if !have[name] {
			unavailable(tb, "model %s missing from %s (run 'make models' first)", name, dir)
		}
	}
	return models
}

// Only returns the named models of Models, for tests that load a Predictor of their own.
func Only(tb testing.TB, names ...string) []*repository.Model {
	tb.Helper()
	var out []*repository.Model
	for _, m := range Models(tb) {
		if slices.Contains(names, m.Name) {
			out = append(out, m)
		}
	}
	if len(out) != len(names) {
		tb.Fatalf("models %v: found %d", names, len(out))
	}
	return out
}
