package repository

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// logged decodes the JSON log lines of buf.
func logged(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// TestLoadSkipsUnservableVersions: each version directory that cannot be served is named in
// one warning with why, and the version rule picks among the others.
func TestLoadSkipsUnservableVersions(t *testing.T) {
	tests := []struct {
		name   string
		make   func(t *testing.T, versionDir string) // makes models/m/2 unservable
		reason string
		asRoot bool // whether the case can be made when running as root
	}{
		{"no metadata.json", func(t *testing.T, d string) { must(t, os.MkdirAll(d, 0o755)) }, "no metadata.json", true},
		{"dangling symlink", func(t *testing.T, d string) { must(t, os.Symlink("nowhere", d)) }, "dangling symlink (to nowhere)", true},
		{"looping symlink", func(t *testing.T, d string) { must(t, os.Symlink(filepath.Base(d), d)) }, "symlink loop", true},
		{"plain file", func(t *testing.T, d string) { must(t, os.WriteFile(d, []byte("x"), 0o644)) }, "not a directory", true},
		{"metadata.json is a directory", func(t *testing.T, d string) { must(t, os.MkdirAll(filepath.Join(d, "metadata.json"), 0o755)) }, "metadata.json is not a file", true},
		{"unreadable metadata.json", func(t *testing.T, d string) {
			writeModel(t, filepath.Dir(filepath.Dir(d)), "m", "2", nil)
			must(t, os.Chmod(filepath.Join(d, "metadata.json"), 0))
		}, "permission denied", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.asRoot && os.Geteuid() == 0 {
				t.Skip("root reads any file")
			}
			dir := t.TempDir()
			writeModel(t, dir, "m", "1", nil)
			versionDir := filepath.Join(dir, "m", "2")
			tc.make(t, versionDir)
			var logs bytes.Buffer
			models, err := Load(dir, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if len(models) != 1 || models[0].Version != "1" {
				t.Fatalf("served %v; want m/1 (2 is skipped)", models)
			}
			lines := logged(t, &logs)
			if len(lines) != 1 || lines[0]["level"] != "WARN" || lines[0]["dir"] != versionDir ||
				!strings.Contains(lines[0]["reason"].(string), tc.reason) {
				t.Fatalf("log %v; want one warning naming %s with reason %q", lines, versionDir, tc.reason)
			}
		})
	}
}

// TestLoadSkipsUnservableNames: a name with no servable version, or a file where a name
// directory belongs, is logged and not served; a repository left with nothing is an error.
func TestLoadSkipsUnservableNames(t *testing.T) {
	dir := t.TempDir()
	writeModel(t, dir, "good", "1", nil)
	must(t, os.MkdirAll(filepath.Join(dir, "empty", "1"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "README"), []byte("x"), 0o644))
	var logs bytes.Buffer
	models, err := Load(dir, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(models) != 1 || models[0].Name != "good" {
		t.Fatalf("served %v; want only good", models)
	}
	want := map[string]string{
		filepath.Join(dir, "empty", "1"): "no metadata.json",
		filepath.Join(dir, "empty"):      "no servable version",
		filepath.Join(dir, "README"):     "not a directory",
	}
	lines := logged(t, &logs)
	if len(lines) != len(want) {
		t.Fatalf("log %v; want %d lines", lines, len(want))
	}
	for _, line := range lines {
		if reason, ok := want[line["dir"].(string)]; !ok || line["reason"] != reason {
			t.Errorf("log line %v; want reasons %v", line, want)
		}
	}

	nothing := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(nothing, "m", "1"), 0o755))
	if _, err := Load(nothing, nil); err == nil || !strings.Contains(err.Error(), "no models found") {
		t.Fatalf("a repository of unservable versions: %v; want no models found", err)
	}
	if _, err := Load(filepath.Join(nothing, "missing"), nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("a missing repository: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
