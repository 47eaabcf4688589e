"""Bring your own model: export a fitted scikit-learn estimator saved with joblib or pickle.

Loading a pickle runs code stored in the file; only export files you trust.
"""

import csv
import hashlib
import math
import os

import joblib
import numpy as np

from python_service.export import model as em

GENERATED_ROWS = 200  # validation rows drawn when no --sample-csv is given
GENERATED_SEED = 0


def export_from_pickle(path, *, name, version, out, sample_csv=None, class_labels=None, force=False, log=print):
    """Load, validate and write one user model; raise ExportError on any failure."""
    est = load_estimator(path)
    _, n_features = em.check_estimator(est)
    X = read_sample_csv(sample_csv, n_features) if sample_csv else generated_inputs(est, n_features)
    key = em.fingerprint(
        {
            "name": name,
            "version": version,
            "pickle_sha256": _sha256_file(path),
            "sample_csv_sha256": _sha256_file(sample_csv) if sample_csv else None,
            "class_labels": class_labels,
        }
    )
    label = "%s/%s" % (name, version)
    if not force and em.is_up_to_date(out, name, version, key):
        log("export: %s: up to date" % label)
        return
    try:
        onnx_bytes, meta = em.build(
            est, name=name, version=version, X_check=X, class_labels=class_labels, dataset=None, recipe=key
        )
    except em.ExportError as err:
        if sample_csv or not str(err).startswith("parity failed"):
            raise
        raise em.ExportError("%s (on generated rows; --sample-csv with realistic rows may pass)" % err) from None
    path_written = em.write_model(out, name, version, onnx_bytes, meta)
    source = "rows of %s" % sample_csv if sample_csv else "generated rows"
    log(
        "export: %s: wrote %s (parity: %d %s, max abs diff %.3g)"
        % (label, path_written, meta["parity"]["rows"], source, meta["parity"]["max_abs_diff"])
    )


def load_estimator(path):
    """joblib.load (which also reads plain pickle files); any failure becomes one line."""
    if not os.path.isfile(path):
        raise em.ExportError("%s: no such file" % path)
    try:
        return joblib.load(path)
    except Exception as err:  # unpickling can raise nearly anything
        raise em.ExportError(
            "cannot load %s: not a joblib/pickle file, or it needs code that is not "
            "importable here (%s: %s)" % (path, type(err).__name__, em.one_line(err))
        ) from None


def read_sample_csv(path, n_features):
    """Numeric rows from a CSV with an optional header row, as float32 [N, n_features]."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [
                (number, row) for number, row in enumerate(csv.reader(f), start=1) if any(cell.strip() for cell in row)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise em.ExportError("cannot read %s: %s" % (path, em.one_line(err))) from None
    if rows and not _numeric(rows[0][1]):
        rows = rows[1:]  # header row
    if not rows:
        raise em.ExportError("%s has no data rows" % path)
    values = []
    for number, row in rows:
        if len(row) != n_features:
            raise em.ExportError(
                "%s line %d has %d columns; the model expects %d features" % (path, number, len(row), n_features)
            )
        parsed = _numeric(row)
        if parsed is None or not all(math.isfinite(v) for v in parsed):
            raise em.ExportError("%s line %d: every value must be a finite number" % (path, number))
        values.append(parsed)
    return np.asarray(values, dtype=np.float32)


def _numeric(row):
    try:
        return [float(cell) for cell in row]
    except ValueError:
        return None


def generated_inputs(est, n_features):
    """GENERATED_ROWS seeded normal rows; around a leading StandardScaler's mean/scale if any."""
    rng = np.random.default_rng(GENERATED_SEED)
    X = rng.standard_normal((GENERATED_ROWS, n_features))
    first = est.steps[0][1] if hasattr(est, "steps") else est
    mean, scale = getattr(first, "mean_", None), getattr(first, "scale_", None)
    if (
        type(first).__name__ == "StandardScaler"
        and mean is not None
        and scale is not None
        and np.shape(mean) == (n_features,)
        and np.shape(scale) == (n_features,)
    ):
        X = X * scale + mean
    return X.astype(np.float32)


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
