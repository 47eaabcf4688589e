"""The model repository: `<dir>/<name>/<version>/model.onnx` + `metadata.json` (proto/predict/v1).

`load_repository(dir)` reads every `*/*/metadata.json`, keeps the highest version of each name
(the version rule of proto/predict/v1/versions.json), validates its metadata against
proto/predict/v1/metadata.schema.json (plus the one rule a schema cannot say: the fetched output
is one of output_names), and reads `model.onnx`, refusing a file whose sha256 differs from the
metadata. It never imports onnxruntime or grpc, so a process that forks later may call it.
"""

import errno
import functools
import hashlib
import json
import os
import stat
from dataclasses import dataclass

import jsonschema

from python_service import contract


class RepositoryError(Exception):
    """A repository the server must refuse; str() is one line for the operator."""


@dataclass(frozen=True)
class ModelEntry:
    """One verified model: its metadata.json as a dict and the exact bytes that were hashed."""

    name: str
    version: str
    metadata: dict
    model_bytes: bytes
    directory: str


def version_key(version):
    """Sort key of the version rule: numeric versions by value (ties by text), above the rest."""
    if version.isdigit() and version.isascii():
        return (1, int(version), version)
    return (0, 0, version)


@functools.cache
def _schema_validator():
    schema = contract.load("metadata.schema.json")
    return jsonschema.Draft202012Validator(schema)


def metadata_problem(meta):
    """What is wrong with a metadata.json document (one line), or None."""
    errors = sorted(_schema_validator().iter_errors(meta), key=lambda e: list(e.absolute_path))
    if errors:
        return "; ".join("/%s: %s" % ("/".join(map(str, e.absolute_path)), _short(e.message)) for e in errors)
    wanted = meta["probabilities_output" if meta["task"] == "classification" else "value_output"]
    if wanted not in meta["output_names"]:
        return "output %r is not in output_names" % wanted
    return None


def _short(message, limit=120):
    return message if len(message) <= limit else message[:limit] + "…"


def _check_metadata(meta, name, version, where):
    problem = metadata_problem(meta)
    if problem:
        raise RepositoryError("%s: %s" % (where, problem))
    if (meta["name"], meta["version"]) != (name, version):
        raise RepositoryError(
            "%s: says %s/%s but lies in %s/%s" % (where, meta["name"], meta["version"], name, version)
        )
    meta["n_features"], meta["opset"] = int(meta["n_features"]), int(meta["opset"])  # 4.0 → 4


def _read_entry(meta_path):
    directory = os.path.dirname(meta_path)
    version = os.path.basename(directory)
    name = os.path.basename(os.path.dirname(directory))
    try:
        with open(meta_path, "rb") as f:
            meta = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError) as e:
        raise RepositoryError("%s: cannot read metadata (%s)" % (meta_path, e)) from None
    _check_metadata(meta, name, version, meta_path)
    onnx_path = os.path.join(directory, "model.onnx")
    try:
        with open(onnx_path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise RepositoryError("%s: cannot read model (%s)" % (onnx_path, e.strerror)) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != meta["sha256"].lower():
        raise RepositoryError(
            "%s: sha256 mismatch (metadata.json says %s, the file is %s); refusing to serve it — "
            "re-export the model (make models)" % (onnx_path, meta["sha256"], actual)
        )
    return ModelEntry(name=name, version=version, metadata=meta, model_bytes=data, directory=directory)


def _unservable(path):
    """Why the version directory at `path` cannot be served, or None."""
    try:
        info = os.stat(path)
    except OSError as e:
        what = "a dangling symbolic link" if e.errno == errno.ENOENT else e.strerror.lower()
        return "cannot read it (%s)" % what
    if not stat.S_ISDIR(info.st_mode):
        return "not a directory"
    meta = os.path.join(path, "metadata.json")
    try:
        os.stat(meta)
    except OSError as e:
        return "no metadata.json" if e.errno == errno.ENOENT else "cannot read metadata.json (%s)" % e.strerror.lower()
    return None


def _candidates(models_dir, log):
    """name → the versions that may be served; every skipped entry named in one log line."""
    found = {}
    for name in sorted(os.listdir(models_dir)):
        name_dir = os.path.join(models_dir, name)
        if not os.path.isdir(name_dir):
            if log:
                log.warning("model repository: skipping %s: not a model directory", name_dir)
            continue
        versions = []
        for version in sorted(os.listdir(name_dir)):
            why = _unservable(os.path.join(name_dir, version))
            if why:
                if log:
                    log.warning("model repository: skipping version %s: %s", os.path.join(name_dir, version), why)
            else:
                versions.append(version)
        if versions:
            found[name] = versions
        elif log:
            log.warning("model repository: skipping model %s: no servable version", name_dir)
    return found


def load_repository(models_dir, log=None):
    """Every served model of `models_dir` (highest version per name), sorted by name; each
    skipped entry is named on `log` (a logging.Logger) with why."""
    if not os.path.isdir(models_dir):
        raise RepositoryError("model repository %s does not exist (run `make models`)" % models_dir)
    candidates = _candidates(models_dir, log)
    if not candidates:
        raise RepositoryError(
            "no models in %s (expected <name>/<version>/metadata.json; run `make models`)" % models_dir
        )
    return [
        _read_entry(os.path.join(models_dir, name, max(versions, key=version_key), "metadata.json"))
        for name, versions in sorted(candidates.items())
    ]
