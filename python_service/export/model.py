"""Convert a fitted scikit-learn estimator to ONNX, prove parity, and write it into the model repository.

The steps, in order, all in memory until the last one:
  1. skl2onnx with ZipMap off, a dynamic batch dimension and pinned opsets;
  2. onnx.checker, then the same rows through scikit-learn and through onnxruntime: every label
     must agree and every probability / value must be within TOLERANCE;
  3. model.onnx + metadata.json are written into a temporary folder inside the output folder and
     renamed into models/<name>/<version>, so a reader never sees a half-written model.
Every failure is an ExportError carrying one line of text.
"""

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from datetime import UTC, datetime
from importlib.metadata import version as _dist_version

import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.base import BaseEstimator, is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

TARGET_OPSET = 17  # ai.onnx opset requested from skl2onnx (onnxruntime 1.24 runs up to 23+)
ML_OPSET = 3  # ai.onnx.ml opset requested from skl2onnx
TOLERANCE = 1e-4  # max abs difference allowed between scikit-learn and onnxruntime
INPUT_NAME = "input"  # the ONNX input: float32 [None, n_features]
EXPORT_FORMAT = 1  # bump when the export procedure changes, so `make models` re-exports
LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy")


class ExportError(Exception):
    """An export failure; str(error) is one line meant for the user."""


def one_line(text, limit=240):
    """First line of an exception message, trimmed: skl2onnx errors can be pages long."""
    lines = str(text).strip().splitlines()
    line = lines[0].strip() if lines else ""
    return line if len(line) <= limit else line[:limit] + "..."


def explain(err):
    """One line for a conversion failure: skl2onnx's own first line plus the root cause, if any
    (e.g. protobuf 7 refusing a boolean in an int attribute for HistGradientBoosting*)."""
    head = one_line(err, limit=160).split(" with name=")[0]
    root = err
    for _ in range(10):  # the chain may loop; 10 links is plenty
        nxt = root.__cause__ or root.__context__
        if nxt is None:
            break
        root = nxt
    if root is not err:
        head += " (%s: %s)" % (type(root).__name__, one_line(root, limit=160))
    return head


def library_versions():
    return {name: _dist_version(name) for name in LIBRARIES}


def fingerprint(recipe):
    """Stable hash of everything an export depends on (recipe + procedure + library versions)."""
    full = dict(
        recipe,
        export_format=EXPORT_FORMAT,
        opset=[TARGET_OPSET, ML_OPSET],
        tolerance=TOLERANCE,
        library_versions=library_versions(),
    )
    text = json.dumps(full, sort_keys=True, default=_json_fallback)
    return hashlib.sha256(text.encode()).hexdigest()


def _json_fallback(obj):
    return type(obj).__name__ if isinstance(obj, BaseEstimator) else repr(obj)


def describe(est):
    """ "LogisticRegression" or "Pipeline(StandardScaler,MLPClassifier)"."""
    if isinstance(est, Pipeline):
        return "Pipeline(%s)" % ",".join(describe(step) for _, step in est.steps)
    return type(est).__name__


def _final_step(est):
    while isinstance(est, Pipeline):
        est = est.steps[-1][1]
    return est


def check_estimator(est):
    """Return (task, n_features) for a fitted classifier/regressor, else raise ExportError."""
    if not isinstance(est, BaseEstimator):
        raise ExportError("the file holds a %s, not a scikit-learn estimator or Pipeline" % type(est).__name__)
    try:
        check_is_fitted(est)
    except NotFittedError:
        raise ExportError("%s is not fitted; fit it before saving it" % describe(est)) from None
    except TypeError as err:
        raise ExportError("%s is not a usable estimator: %s" % (describe(est), one_line(err))) from None
    if is_classifier(est):
        if not hasattr(_final_step(est), "predict_proba"):
            raise ExportError("%s has no predict_proba; the servers need class probabilities" % describe(est))
        task = "classification"
    elif is_regressor(est):
        task = "regression"
    else:
        raise ExportError("%s is neither a classifier nor a regressor" % describe(est))
    n_features = getattr(est, "n_features_in_", None)
    if not isinstance(n_features, (int, np.integer)) or n_features < 1:
        raise ExportError("%s does not record n_features_in_; refit it with a numeric array" % describe(est))
    return task, int(n_features)


def convert(est, task, n_features, graph_name):
    """skl2onnx conversion; returns the serialized model after onnx.checker passes.

    graph_name is fixed by the caller: skl2onnx would otherwise pick a random uuid, and the same
    estimator would not give byte-identical files.
    """
    options = {id(_final_step(est)): {"zipmap": False}} if task == "classification" else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = convert_sklearn(
                est,
                initial_types=[(INPUT_NAME, FloatTensorType([None, n_features]))],
                target_opset={"": TARGET_OPSET, "ai.onnx.ml": ML_OPSET},
                options=options,
                name=graph_name,
            )
    except Exception as err:  # skl2onnx raises many kinds; each becomes one line
        raise ExportError("skl2onnx cannot convert %s: %s" % (describe(est), explain(err))) from None
    _normalize_opset_imports(model)
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        raise ExportError("onnx.checker rejected the converted %s: %s" % (describe(est), one_line(err))) from None
    return model.SerializeToString()


def _normalize_opset_imports(model):
    """One entry per domain, sorted: skl2onnx may list a domain twice, in set-iteration order
    (which varies with PYTHONHASHSEED), so the same model would not give byte-identical files."""
    versions = {}
    for entry in model.opset_import:
        versions[entry.domain] = max(entry.version, versions.get(entry.domain, 0))
    del model.opset_import[:]
    for domain in sorted(versions):
        model.opset_import.add(domain=domain, version=versions[domain])


def _session(onnx_bytes):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise ExportError("onnxruntime cannot load the converted model: %s" % one_line(err)) from None


def _pick_output(session, rows, width, preferred):
    """Name of the float32 [N, width] output (by preferred name first), checked on real rows."""
    floats = [o.name for o in session.get_outputs() if o.type == "tensor(float)" and len(o.shape or []) == 2]
    floats.sort(key=lambda name: name != preferred)
    for name in floats:
        out = session.run([name], {INPUT_NAME: rows})[0]
        if out.shape == (len(rows), width):
            return name
    raise ExportError(
        "the converted model has no float32 [N, %d] output (outputs: %s)"
        % (width, ", ".join(o.name for o in session.get_outputs()))
    )


def check_parity(est, task, onnx_bytes, X):
    """Run X through scikit-learn and onnxruntime; return (outputs dict, parity dict)."""
    session = _session(onnx_bytes)
    X = np.ascontiguousarray(X, dtype=np.float32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = est.predict_proba(X) if task == "classification" else est.predict(X)
            predicted = est.predict(X) if task == "classification" else None
    except Exception as err:
        raise ExportError("%s failed on the validation rows: %s" % (describe(est), one_line(err))) from None
    expected = np.asarray(expected, dtype=np.float64)
    if task == "regression":
        if expected.ndim != 1:
            raise ExportError("multi-output regressors are not supported (predict gives shape %s)" % (expected.shape,))
        expected = expected.reshape(-1, 1)
    name = _pick_output(session, X, expected.shape[1], "probabilities" if task == "classification" else "variable")
    got = session.run([name], {INPUT_NAME: X})[0].astype(np.float64)
    diff = float(np.max(np.abs(got - expected))) if len(X) else 0.0
    if not np.isfinite(diff) or diff > TOLERANCE:
        raise ExportError(
            "parity failed: max abs diff %.3g between scikit-learn and onnxruntime exceeds %g" % (diff, TOLERANCE)
        )
    if task == "classification":
        index = {c: i for i, c in enumerate(est.classes_.tolist())}
        want = np.array([index[c] for c in np.asarray(predicted).tolist()])
        bad = np.flatnonzero(want != np.argmax(got, axis=1))
        if bad.size:
            raise ExportError(
                "parity failed: %d of %d rows get a different label from onnxruntime "
                "(first: row %d)" % (bad.size, len(X), bad[0])
            )
    outputs = {
        "output_names": [o.name for o in session.get_outputs()],
        "probabilities_output": name if task == "classification" else None,
        "value_output": name if task == "regression" else None,
    }
    parity = {"rows": len(X), "max_abs_diff": diff, "labels_equal": True, "tolerance": TOLERANCE}
    return outputs, parity


def build(est, *, name, version, X_check, class_labels, dataset, recipe):
    """Convert and validate a fitted estimator; return (onnx bytes, metadata dict). Writes nothing."""
    task, n_features = check_estimator(est)
    if X_check.ndim != 2 or X_check.shape[1] != n_features or len(X_check) == 0:
        raise ExportError(
            "validation rows have shape %s; %s expects [N>0, %d]" % (X_check.shape, describe(est), n_features)
        )
    if task == "classification":
        n_classes = len(est.classes_)
        if class_labels is None:
            class_labels = [str(c) for c in est.classes_.tolist()]
        if len(class_labels) != n_classes:
            raise ExportError("%d class labels given but the model has %d classes" % (len(class_labels), n_classes))
    else:
        class_labels = []
    onnx_bytes = convert(est, task, n_features, graph_name=name)
    outputs, parity = check_parity(est, task, onnx_bytes, X_check)
    metadata = {
        "name": name,
        "version": version,
        "task": task,
        "input_name": INPUT_NAME,
        "n_features": n_features,
        **outputs,
        "class_labels": list(class_labels),
        "sha256": hashlib.sha256(onnx_bytes).hexdigest(),
        "opset": TARGET_OPSET,
        "estimator": describe(est),
        "dataset": dataset,
        "library_versions": library_versions(),
        "parity": parity,
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "recipe": recipe,
    }
    return onnx_bytes, metadata


def is_up_to_date(out, name, version, recipe):
    """True when models/<name>/<version> was exported from this recipe and model.onnx is intact."""
    folder = os.path.join(out, name, version)
    try:
        with open(os.path.join(folder, "metadata.json"), encoding="utf-8") as f:
            meta = json.load(f)
        with open(os.path.join(folder, "model.onnx"), "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("recipe") == recipe and meta.get("sha256") == digest


def write_model(out, name, version, onnx_bytes, metadata):
    """Write both files into a temp folder inside `out`, then rename it to out/name/version."""
    final = os.path.join(out, name, version)
    os.makedirs(out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-%s-%s-" % (name, version), dir=out)
    old = tmp + ".old"
    try:
        os.chmod(tmp, 0o755)
        _write_synced(os.path.join(tmp, "model.onnx"), onnx_bytes)
        _write_synced(os.path.join(tmp, "metadata.json"), (json.dumps(metadata, indent=2) + "\n").encode("utf-8"))
        os.makedirs(os.path.dirname(final), exist_ok=True)
        if os.path.lexists(final):
            os.rename(final, old)
        os.rename(tmp, final)
    except OSError as err:
        if os.path.lexists(old) and not os.path.lexists(final):
            os.rename(old, final)  # put the previous export back
        raise ExportError("cannot write %s: %s" % (final, one_line(err))) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return final


def _write_synced(path, data):
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
