package repository

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// servableVersions lists the version directories of nameDir that hold a readable metadata.json,
// logging each one skipped. why is set when nameDir itself cannot be read as a directory.
func servableVersions(nameDir string, logger *slog.Logger) (versions []string, why string) {
	if why := notADirectory(nameDir); why != "" {
		return nil, why
	}
	entries, err := os.ReadDir(nameDir)
	if err != nil {
		return nil, reason(err)
	}
	for _, e := range entries {
		versionDir := filepath.Join(nameDir, e.Name())
		why := notADirectory(versionDir)
		if why == "" {
			why = unreadableMetadata(filepath.Join(versionDir, "metadata.json"))
		}
		if why != "" {
			logger.Warn("model version skipped", "dir", versionDir, "reason", why)
			continue
		}
		versions = append(versions, e.Name())
	}
	return versions, ""
}

// notADirectory says why path (symlinks followed) is not a directory, or "" when it is one.
func notADirectory(path string) string {
	info, err := os.Stat(path)
	if err != nil {
		if target, lerr := os.Readlink(path); lerr == nil && errors.Is(err, fs.ErrNotExist) {
			return fmt.Sprintf("dangling symlink (to %s)", target)
		}
		return reason(err)
	}
	if !info.IsDir() {
		return "not a directory"
	}
	return ""
}

// unreadableMetadata says why metadata.json cannot be read, or "" when it can be opened.
func unreadableMetadata(path string) string {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Lstat(path); lerr != nil {
			return "no metadata.json"
		}
	}
	if err != nil {
		return "metadata.json: " + reason(err)
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || info.IsDir() {
		return "metadata.json is not a file"
	}
	return ""
}

// reason is a filesystem error in a few words: the errno's text without the path.
func reason(err error) string {
	switch {
	case errors.Is(err, syscall.ELOOP):
		return "symlink loop"
	case errors.Is(err, fs.ErrPermission):
		return "unreadable: permission denied"
	case errors.Is(err, syscall.ENOTDIR):
		return "not a directory"
	}
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err.Error()
	}
	return err.Error()
}
