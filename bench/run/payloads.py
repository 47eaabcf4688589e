"""Inputs: model metadata from the model repository, feature rows, and the request bodies on disk.

Rows come from the scikit-learn dataset the model was trained on when metadata.json names one that
ships with scikit-learn (iris, breast_cancer, digits, diabetes, wine); otherwise they are seeded
random normals of the right width. Values are float32 and written with the exact decimal of that
float32, so that every server parses the very same numbers.
The same body (PredictRequest in the proto3 JSON mapping) feeds hey (-D), ghz (-D) and the gate.
"""

from __future__ import annotations

import json
import os

import numpy as np

from python_service.server.core.repository import ModelEntry, RepositoryError, load_repository

SKLEARN_DATASETS = ("breast_cancer", "diabetes", "digits", "iris", "wine")
SEED = 20240611


class ModelError(LookupError):
    """A model named in the scenarios is not served from the local model repository."""


def load_models(models_dir: str, names: list[str]) -> dict[str, ModelEntry]:
    """name → the repository entry a server serves (the servers' own reader: same version rule,
    same validation), for each name wanted."""
    try:
        entries = {e.name: e for e in load_repository(models_dir)}
    except RepositoryError as exc:
        raise ModelError(str(exc)) from None
    missing = [n for n in names if n not in entries]
    if missing:
        raise ModelError(f"model {', '.join(map(repr, missing))} not found under {models_dir}/ (run `make models`)")
    return {n: entries[n] for n in names}


def rows_for(meta: dict, n: int) -> np.ndarray:
    """n rows of float32 features for the model: its dataset's rows (fixed shuffle) or seeded normals."""
    rng = np.random.default_rng(SEED)
    width = int(meta["n_features"])
    data = _dataset(meta.get("dataset"))
    if data is not None and data.shape[1] == width:
        picked = data[rng.permutation(len(data))[:n]]
        while len(picked) < n:
            picked = np.concatenate([picked, picked])[:n]
        return picked.astype(np.float32)
    return rng.standard_normal((n, width)).astype(np.float32)


def _dataset(name) -> np.ndarray | None:
    if not isinstance(name, str):
        return None
    key = name.lower().replace("-", "_").replace(" ", "_")
    for known in SKLEARN_DATASETS:
        if known in key:
            import sklearn.datasets  # lazy: only the bench's main process needs it

            return getattr(sklearn.datasets, f"load_{known}")().data
    return None


def request_body(model: str, rows: np.ndarray) -> dict:
    """PredictRequest as proto3 JSON; float(np.float32) keeps each value exactly representable."""
    return {"model": model, "instances": [{"features": [float(v) for v in row]} for row in rows]}


def write_bodies(out_dir: str, models: dict[str, ModelEntry], batches: list[int]) -> dict[tuple[str, int, str], str]:
    """Two body files per (model, batch), the model's first `batch` rows: the PredictRequest in the
    JSON mapping (hey's JSON body, ghz's data) and binary (hey's protobuf body); the same message.
    Returns (model, batch, "json" | "protobuf") → path."""
    from python_service.gen.predict.v1 import predict_pb2

    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for name, entry in models.items():
        rows = rows_for(entry.metadata, max(batches))
        for batch in batches:
            body = request_body(name, rows[:batch])
            path = os.path.join(out_dir, f"{name}-batch{batch}.json")
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(body, fh)
            paths[(name, batch, "json")] = path
            message = predict_pb2.PredictRequest(
                model=name, instances=[{"features": i["features"]} for i in body["instances"]]
            )
            path = os.path.join(out_dir, f"{name}-batch{batch}.pb")
            with open(path, "wb") as fh:
                fh.write(message.SerializeToString())
            paths[(name, batch, "protobuf")] = path
    return paths
