package ortlib

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocateExplicitWins(t *testing.T) {
	if got, err := Locate("/some/where/libonnxruntime.so"); err != nil || got != "/some/where/libonnxruntime.so" {
		t.Fatalf("Locate = %q, %v", got, err)
	}
}

func TestLocateFindsVenvInAParent(t *testing.T) {
	root := t.TempDir()
	capi := filepath.Join(root, ".venv", "lib", "python3.11", "site-packages", "onnxruntime", "capi")
	if err := os.MkdirAll(capi, 0o755); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(capi, "libonnxruntime.so.1.24.1")
	os.WriteFile(lib, nil, 0o644)
	os.WriteFile(filepath.Join(capi, "libonnxruntime_providers_shared.so"), nil, 0o644)
	deep := filepath.Join(root, "go_service", "internal", "x")
	os.MkdirAll(deep, 0o755)
	t.Chdir(deep)
	if got, err := Locate(""); err != nil || got != lib {
		t.Fatalf("Locate = %q, %v; want %q", got, err, lib)
	}
}

func TestLocateNotFoundSaysWhatToDo(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := Locate("")
	if err == nil || !strings.Contains(err.Error(), "make setup") || !strings.Contains(err.Error(), "--ort-lib") {
		t.Fatalf("got %v", err)
	}
}

func TestInitMissingFile(t *testing.T) {
	err := Init("/nonexistent/libonnxruntime.so.1.24.1")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/libonnxruntime.so.1.24.1") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v", err)
	}
}
