"""The `environment` block of results.json: machine, pinning, the version of everything a figure
depends on (Python packages the servers and the bench import, the Go modules compiled into each
binary that ran, the load generators), the commit — `bench compare` says what differs."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from importlib import metadata

PY_PACKAGES = (
    "onnxruntime",
    "grpcio",
    "grpcio-health-checking",
    "grpcio-reflection",
    "protobuf",
    "numpy",
    "orjson",
    "Flask",
    "Werkzeug",
    "granian",
    "uvloop",
    "gunicorn",
    "prometheus-client",
    "psutil",
    "scikit-learn",
    "skl2onnx",
)
# The binaries whose compiled-in modules are recorded (name → path under the repo)
BINARIES = {
    "go_service": "go_service/bin/go_service",
    "openloop": "go_service/bin/openloop",
    "toy": "bench/toy/go/bin/toy",
}
GO_MODULES = {
    "grpc-go": "google.golang.org/grpc",
    "protobuf-go": "google.golang.org/protobuf",
    "onnxruntime_go": "github.com/yalue/onnxruntime_go",
}


def _run(argv: list[str], cwd: str | None = None) -> str | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20, cwd=cwd, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def go_mod_versions(go_mod: str) -> dict[str, str | None]:
    """Versions required by go_service/go.mod (grpc-go, protobuf-go, onnxruntime_go)."""
    try:
        with open(go_mod, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        text = ""
    out = {}
    for label, module in GO_MODULES.items():
        m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
        out[label] = m.group(1) if m else None
    return out


def binary_modules(binary: str) -> dict | None:
    """The Go version and the module versions compiled into a binary (`go version -m`)."""
    text = _run(["go", "version", "-m", binary])
    if not text:
        return None
    lines = text.splitlines()
    out = {"go": lines[0].split(":", 1)[-1].strip(), "deps": {}}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "dep":
            out["deps"][parts[1]] = parts[2]
    return out


def cpu_governor() -> str | None:
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return None


def tool_version(binary: str) -> str | None:
    """The module version a Go binary was built from (`go version -m`), e.g. v0.1.4 for hey."""
    text = _run(["go", "version", "-m", binary])
    if not text:
        return None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "mod":
            return parts[2]
    return None


def git_info(repo: str) -> dict:
    commit = _run(["git", "rev-parse", "HEAD"], cwd=repo)
    status = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo)
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def collect(repo: str, tools: dict[str, str], pinning: dict) -> dict:
    versions = {"python": platform.python_version(), "go": _run(["go", "env", "GOVERSION"])}
    for pkg in PY_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    versions.update(go_mod_versions(os.path.join(repo, "go_service", "go.mod")))
    versions.update({name: tool_version(path) for name, path in tools.items()})
    binaries = {name: binary_modules(os.path.join(repo, path)) for name, path in BINARIES.items()}
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": os_name(),
        "kernel": platform.release(),
        "cpu_governor": cpu_governor(),
        "machine": platform.machine(),
        "pinning": pinning,
        "versions": versions,
        "binaries": binaries,
        "git": git_info(repo),
        "python_executable": sys.executable,
    }
