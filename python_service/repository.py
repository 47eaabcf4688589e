"""The model repository: `<dir>/<name>/<version>/model.onnx` + `metadata.json` (design.md §3).

`load_repository(dir)` reads every `*/*/metadata.json`, keeps the highest version of each name
(numeric versions compare as integers and rank above non-numeric ones, which compare as text),
checks the metadata fields the servers rely on, and reads `model.onnx`, refusing a file whose
sha256 differs from the metadata. It never imports onnxruntime or grpc, so a process that forks
later (the gunicorn master) may call it.
"""
import glob
import hashlib
import json
import os
from dataclasses import dataclass


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


_TASKS = ("classification", "regression")


def _version_key(version):
    return (1, int(version), "") if version.isdigit() else (0, 0, version)


def _require(meta, key, kind, where):
    value = meta.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise RepositoryError("%s: field %r missing or not %s" % (where, key, kind.__name__))
    return value


def _check_metadata(meta, name, version, where):
    if not isinstance(meta, dict):
        raise RepositoryError("%s: not a JSON object" % where)
    for key in ("name", "version", "task", "input_name", "sha256"):
        _require(meta, key, str, where)
    if (meta["name"], meta["version"]) != (name, version):
        raise RepositoryError("%s: says %s/%s but lies in %s/%s"
                              % (where, meta["name"], meta["version"], name, version))
    if meta["task"] not in _TASKS:
        raise RepositoryError("%s: task %r is not one of %s" % (where, meta["task"], _TASKS))
    if _require(meta, "n_features", int, where) <= 0:
        raise RepositoryError("%s: n_features must be positive" % where)
    outputs = _require(meta, "output_names", list, where)
    labels = _require(meta, "class_labels", list, where)
    if not all(isinstance(s, str) for s in outputs + labels):
        raise RepositoryError("%s: output_names and class_labels must be lists of strings" % where)
    if meta["task"] == "classification":
        wanted = _require(meta, "probabilities_output", str, where)
        if not labels:
            raise RepositoryError("%s: a classifier needs class_labels" % where)
    else:
        wanted = _require(meta, "value_output", str, where)
    if wanted not in outputs:
        raise RepositoryError("%s: output %r is not in output_names" % (where, wanted))
    _require(meta, "opset", int, where)


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
            "re-export the model (make models)" % (onnx_path, meta["sha256"], actual))
    return ModelEntry(name=name, version=version, metadata=meta, model_bytes=data,
                      directory=directory)


def load_repository(models_dir):
    """Every served model of `models_dir` (highest version per name), sorted by name."""
    if not os.path.isdir(models_dir):
        raise RepositoryError("model repository %s does not exist (run `make models`)" % models_dir)
    newest = {}
    for meta_path in glob.glob(os.path.join(glob.escape(models_dir), "*", "*", "metadata.json")):
        version = os.path.basename(os.path.dirname(meta_path))
        name = os.path.basename(os.path.dirname(os.path.dirname(meta_path)))
        if name not in newest or _version_key(version) > _version_key(newest[name][0]):
            newest[name] = (version, meta_path)
    if not newest:
        raise RepositoryError("no models in %s (expected <name>/<version>/metadata.json; "
                              "run `make models`)" % models_dir)
    return [_read_entry(newest[name][1]) for name in sorted(newest)]
