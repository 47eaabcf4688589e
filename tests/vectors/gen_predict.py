"""Prediction vectors for the default models, with expected answers from scikit-learn itself.

Each default model is re-trained here exactly as `make models` trains it (the recipes, seeds and
split of python_service/export/defaults.py), and the expected label / class_index /
probabilities / value of every input come from that fitted estimator in float64 — never from a
server. The exported model.onnx is run through onnxruntime directly only as a guard: an input is
kept only if the float32 ONNX graph agrees with scikit-learn to a tenth of the stated tolerance
and has the same argmax (this also proves that the re-trained estimator is the exported one).

Inputs are quantized to 11 significant bits, so each is exactly a float32 and a float64 and every
JSON parser (Python's float64-then-float32, Go's direct float32) reads the same value.
Classifier inputs keep a top-2 probability gap of at least MIN_GAP, so float32 vs float64
rounding cannot flip the argmax.
"""

import json
import os

import numpy as np
import onnxruntime as ort
from sklearn.model_selection import train_test_split

from python_service.export.defaults import DEFAULT_RECIPES, SPLIT_SEED, TEST_SIZE

MIN_GAP = 2e-3  # top-2 probability gap kept by every input
TOLERANCE = {"probabilities": 1e-5, "value": 1e-3}  # absolute, vs scikit-learn float64
SIG_BITS = 11
VERSION = "1"


def quantize(x):
    """Round every value to SIG_BITS significant bits (exact in float32 and float64)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    nz = x != 0
    step = np.exp2(np.floor(np.log2(np.abs(x[nz]))) - (SIG_BITS - 1))
    out[nz] = np.round(x[nz] / step) * step
    return out


class Fitted:
    """One default model re-trained from its recipe, plus its exported ONNX graph."""

    def __init__(self, recipe, models_dir):
        self.name = recipe.name
        X, y, names = recipe.load()
        X_train, self.X_test, y_train, _ = train_test_split(X, y, test_size=TEST_SIZE, random_state=SPLIT_SEED)
        self.X, self.y = X, y
        self.est = recipe.build().fit(X_train, y_train)
        self.classifier = hasattr(self.est, "classes_")
        self.labels = [names[int(c)] for c in self.est.classes_] if self.classifier else []
        directory = os.path.join(models_dir, self.name, VERSION)
        with open(os.path.join(directory, "metadata.json"), encoding="utf-8") as f:
            meta = json.load(f)
        if meta["class_labels"] != self.labels:
            raise SystemExit(
                "%s: exported class_labels %r differ from the recipe's %r; "
                "run `make models FORCE=1`" % (self.name, meta["class_labels"], self.labels)
            )
        self.input_name = meta["input_name"]
        self.output = meta["probabilities_output" if self.classifier else "value_output"]
        self.session = ort.InferenceSession(os.path.join(directory, "model.onnx"), providers=["CPUExecutionProvider"])

    def sklearn(self, X):
        """float64 answers of the estimator on the float32 values a server receives."""
        X = np.asarray(X, dtype=np.float32).astype(np.float64)
        return self.est.predict_proba(X) if self.classifier else self.est.predict(X)

    def onnx(self, X):
        out = self.session.run([self.output], {self.input_name: np.asarray(X, np.float32)})[0]
        return out if self.classifier else out[:, 0]

    def accept(self, X):
        """Mask of the rows usable as vectors (wide enough top-2 gap; ONNX agrees)."""
        X = np.atleast_2d(X)
        want, got = self.sklearn(X), self.onnx(X)
        if not self.classifier:
            return np.abs(want - got) <= TOLERANCE["value"] / 10
        top2 = np.sort(want, axis=1)[:, -2:]
        ok = (top2[:, 1] - top2[:, 0]) >= MIN_GAP
        ok &= np.argmax(want, axis=1) == np.argmax(got, axis=1)
        return ok & (np.abs(want - got).max(axis=1) <= TOLERANCE["probabilities"] / 10)

    def expect(self, X):
        """The `expect` block of a prediction vector for rows X (float32-exact values)."""
        want = self.sklearn(X)
        preds = []
        for row in want:
            if self.classifier:
                k = int(np.argmax(row))
                preds.append(
                    {"label": self.labels[k], "class_index": k, "probabilities": [float("%.10g" % p) for p in row]}
                )
            else:
                preds.append({"value": float("%.10g" % row)})
        return {"model": self.name, "model_version": VERSION, "predictions": preds, "tolerance": dict(TOLERANCE)}

    def gap(self, x):
        p = np.sort(self.sklearn(np.atleast_2d(x))[0])
        return float(p[-1] - p[-2])

    def uniform(self, rng, n):
        """n quantized points drawn uniformly between each feature's dataset min and max."""
        lo, hi = self.X.min(axis=0), self.X.max(axis=0)
        return quantize(rng.uniform(lo, hi, size=(n, self.X.shape[1])))


def _rows(X):
    return [[float(v) for v in row] for row in np.atleast_2d(X)]


def predict_vector(fitted, name, description, X):
    X = np.atleast_2d(X)
    return {
        "name": name,
        "description": description,
        "model": fitted.name,
        "kind": "predict",
        "transport": "any",
        "core": True,
        "request": {"model": fitted.name, "instances": [{"features": row} for row in _rows(X)]},
        "expect": fitted.expect(X),
    }


def boundary_points(fitted, rng, pairs):
    """`pairs` pairs of inputs straddling a decision boundary: each pair lies on a segment
    between two dataset rows of different predicted classes, one point on each side of the
    bisected boundary, each as close to it as MIN_GAP and the ONNX agreement allow."""
    predict = lambda x: int(np.argmax(fitted.sklearn(np.atleast_2d(x))[0]))
    found = []
    for _ in range(1000):
        if len(found) == pairs:
            break
        i, j = rng.choice(len(fitted.X), 2, replace=False)
        a, b = fitted.X[i], fitted.X[j]
        ca = predict(a)
        if ca == predict(b):
            continue
        lo, hi = 0.0, 1.0
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if predict(a + (b - a) * mid) == ca else (lo, mid)
        pair = []
        for t0, sign in ((lo, -1), (hi, 1)):
            for delta in (0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1):
                x = quantize(a + (b - a) * min(1.0, max(0.0, t0 + sign * delta)))
                if fitted.accept(x)[0]:
                    pair.append(x)
                    break
        if len(pair) == 2 and predict(pair[0]) != predict(pair[1]):
            found.append(pair)
    if len(found) < pairs:
        raise SystemExit("%s: found only %d boundary pairs" % (fitted.name, len(found)))
    return [x for pair in found for x in pair]


def model_vectors(fitted, seed):
    """Every prediction vector of one model."""
    rng = np.random.RandomState(seed)
    held = quantize(fitted.X_test)
    held = held[fitted.accept(held)]
    vectors = [
        predict_vector(
            fitted, "%s-heldout-%d" % (fitted.name, k), "held-out dataset row %d (quantized), batch of 1" % k, held[k]
        )
        for k in range(6)
    ]
    boundary = np.empty((0, fitted.X.shape[1]))
    if fitted.classifier:
        boundary = np.array(boundary_points(fitted, rng, 3))
        for k, x in enumerate(boundary):
            vectors.append(
                predict_vector(
                    fitted,
                    "%s-boundary-%d" % (fitted.name, k),
                    "near a decision boundary (pair %d, side %d): top-2 probability gap %.4f "
                    "(>= %g), batch of 1" % (k // 2, k % 2, fitted.gap(x), MIN_GAP),
                    x,
                )
            )
    else:
        lo, hi = fitted.X.min(axis=0), fitted.X.max(axis=0)
        extremes = {
            "feature-min": ("every feature at its dataset minimum", lo),
            "feature-max": ("every feature at its dataset maximum", hi),
            "zeros": ("all-zero input (the mean, for this centred dataset)", 0 * lo),
            "outside-range": ("every feature at twice its dataset maximum (extrapolation)", 2 * hi),
        }
        for key, (text, x) in extremes.items():
            vectors.append(predict_vector(fitted, "%s-%s" % (fitted.name, key), text + ", batch of 1", quantize(x)))
    sizes = [64, 1024] if fitted.X.shape[1] <= 10 else [64]
    for size in sizes:
        pool = fitted.uniform(rng, 3 * size)
        pool = pool[fitted.accept(pool)]
        X = np.concatenate([held[6 : 6 + size // 4], boundary, pool])[:size]
        if len(X) != size:
            raise SystemExit("%s: only %d usable rows for batch %d" % (fitted.name, len(X), size))
        vectors.append(
            predict_vector(
                fitted,
                "%s-batch-%d" % (fitted.name, size),
                "batch of %d%s: held-out rows, boundary points and uniform random points within "
                "each feature's dataset range" % (size, " (the maximum batch)" if size == 1024 else ""),
                X,
            )
        )
    return vectors


def fit_all(models_dir):
    return {r.name: Fitted(r, models_dir) for r in DEFAULT_RECIPES}
