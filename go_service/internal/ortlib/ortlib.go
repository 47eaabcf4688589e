// Package ortlib finds the libonnxruntime shared library and initializes onnxruntime_go's
// process-wide environment with it, turning every failure into one actionable line.
//
// Lookup rule (first match wins):
//  1. an explicit path (--ort-lib, whose default comes from $ONNXRUNTIME_LIB);
//  2. .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* — the very library
//     the Python service uses — under the working directory or any of its parents;
//  3. the same under the executable's directory or any of its parents (so go_service/bin/go_service
//     finds the repository's .venv from anywhere).
package ortlib

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
	"golang.org/x/sys/unix"
)

// EnvVar overrides the library path when --ort-lib is not given.
const EnvVar = "ONNXRUNTIME_LIB"

// venvPattern is where the onnxruntime wheel keeps its library, relative to a repository root.
var venvPattern = filepath.Join(".venv", "lib", "python3*", "site-packages", "onnxruntime", "capi", "libonnxruntime.so.*")

const remedy = "run 'make setup' or pass --ort-lib PATH (or set " + EnvVar + ")"

// apiRequirement explains what onnxruntime_go v1.27.0 needs from the library.
const apiRequirement = "onnxruntime_go v1.27.0 needs ORT C API version 24 (onnxruntime 1.24.1, as pinned in requirements.txt)"

// Locate returns explicit when it is not empty, else the first .venv library found under the
// working directory, the executable's directory, or their parents.
func Locate(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		if dir := filepath.Dir(exe); len(starts) == 0 || starts[0] != dir {
			starts = append(starts, dir)
		}
	}
	for _, start := range starts {
		for dir := start; ; dir = filepath.Dir(dir) {
			if matches, _ := filepath.Glob(filepath.Join(dir, venvPattern)); len(matches) > 0 {
				sort.Strings(matches)
				return matches[len(matches)-1], nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return "", fmt.Errorf("libonnxruntime not found: no %s under %s or their parents; %s",
		venvPattern, strings.Join(starts, " or "), remedy)
}

// Init loads the library at path and creates the ONNX Runtime environment. The library's own
// complaints (it prints to stderr when it lacks the requested API version) are folded into the
// returned error instead of being printed.
func Init(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("cannot load ONNX Runtime: %v; %s", err, remedy)
	}
	ort.SetSharedLibraryPath(path)
	var initErr error
	captured := captureStderr(func() { initErr = ort.InitializeEnvironment() })
	if initErr == nil {
		if captured != "" {
			fmt.Fprint(os.Stderr, captured)
		}
		return nil
	}
	detail := strings.TrimSpace(strings.ReplaceAll(captured, "\n", " "))
	if detail == "" {
		detail = initErr.Error()
	}
	if strings.Contains(initErr.Error(), "ORT API base") {
		// The library is already unloaded here, so ort.GetVersion must not be called; the
		// library's own complaint (captured above) names its version.
		return fmt.Errorf("cannot use ONNX Runtime from %s: %s, but the library answered: %s; %s",
			path, apiRequirement, detail, remedy)
	}
	return fmt.Errorf("cannot load ONNX Runtime from %s: %s; %s", path, detail, remedy)
}

// Close destroys the environment created by Init.
func Close() error {
	if !ort.IsInitialized() {
		return nil
	}
	return ort.DestroyEnvironment()
}

// captureStderr runs fn with file descriptor 2 redirected to a temporary file and returns what
// was written there. It is used only at start-up, before any other goroutine logs.
func captureStderr(fn func()) string {
	tmp, err := os.CreateTemp("", "ortlib-stderr-*")
	if err != nil {
		fn()
		return ""
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	saved, err := unix.Dup(2)
	if err != nil {
		fn()
		return ""
	}
	defer unix.Close(saved)
	if err := unix.Dup2(int(tmp.Fd()), 2); err != nil {
		fn()
		return ""
	}
	fn()
	_ = unix.Dup2(saved, 2)
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return ""
	}
	out, err := io.ReadAll(tmp)
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return string(out)
}
