"""The one way answers are compared (the bench's parity gate, the conformance vectors, the
cross-endpoint parity test): predictions normalized from any encoding, numbers read as the float32
the contract carries, labels and class indices exact, numbers within a tolerance.

A normalized prediction is {"label": str | None, "class_index": int | None, "probabilities":
[float], "value": float | None}.
"""

import math

import numpy as np


def from_message(response):
    """The predictions of a predict.v1.PredictResponse message."""
    return [
        {
            "label": p.label or None,
            "class_index": p.class_index if p.HasField("class_index") else None,
            "probabilities": list(p.probabilities),
            "value": p.value if p.HasField("value") else None,
        }
        for p in response.predictions
    ]


def from_json(doc):
    """The predictions of a PredictResponse in the proto3 JSON mapping (proto field names)."""
    return [
        {
            "label": p.get("label") or None,
            "class_index": p.get("class_index"),
            "probabilities": list(p.get("probabilities") or []),
            "value": p.get("value"),
        }
        for p in doc.get("predictions") or []
    ]


def as_float32(predictions):
    """Numbers read back as the float32 the wire carries (JSON prints its shortest decimal, gRPC
    carries it exactly: both become the same float32)."""
    return [
        dict(
            p,
            probabilities=[float(np.float32(x)) for x in p["probabilities"]],
            value=None if p["value"] is None else float(np.float32(p["value"])),
        )
        for p in predictions
    ]


def differences(got, want, tolerance):
    """(differences of `got` from `want`, one line each; the largest absolute numeric difference).

    `tolerance` is a number, or {"probabilities": p, "value": v}. A regressor's prediction (want
    has a value) must carry no label, class index or probabilities; a classifier's no value."""
    tol = tolerance if isinstance(tolerance, dict) else {"probabilities": tolerance, "value": tolerance}
    if len(got) != len(want):
        return ["%d predictions, expected %d" % (len(got), len(want))], math.inf
    diffs, worst = [], 0.0
    for i, (g, w) in enumerate(zip(got, want)):
        where = "predictions[%d]" % i
        if w.get("value") is not None:
            diff, worst = _close("%s.value" % where, g.get("value"), w["value"], tol["value"], worst)
            diffs += diff
            if g.get("label") or g.get("class_index") is not None or g.get("probabilities"):
                diffs.append("%s: a regressor's answer carries label/class_index/probabilities (%r)" % (where, g))
            continue
        for key in ("label", "class_index"):
            if g.get(key) != w.get(key):
                diffs.append("%s.%s = %r expected %r" % (where, key, g.get(key), w.get(key)))
        if g.get("value") is not None:
            diffs.append("%s: a classifier's answer carries a value (%r)" % (where, g["value"]))
        got_p, want_p = g.get("probabilities") or [], w.get("probabilities") or []
        if len(got_p) != len(want_p):
            diffs.append("%s.probabilities has %d entries, expected %d" % (where, len(got_p), len(want_p)))
            continue
        for j, (p, q) in enumerate(zip(got_p, want_p)):
            diff, worst = _close("%s.probabilities[%d]" % (where, j), p, q, tol["probabilities"], worst)
            diffs += diff
    return diffs, worst


def _close(where, got, want, tol, worst):
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return ["%s = %r expected %s ± %g" % (where, got, _fmt(want), tol)], math.inf
    gap = abs(got - want)
    if math.isfinite(got) and gap <= tol:
        return [], max(worst, gap)
    return ["%s = %s expected %s ± %g" % (where, _fmt(float(got)), _fmt(want), tol)], max(worst, gap)


def _fmt(x):
    return "%.9g" % x if isinstance(x, float) else repr(x)
