"""Parity gate: the same inputs to every endpoint under test; no benchmark when any answer differs.

For each model: `rows` single-row requests plus one request per batch size of the matrix (the very
bodies the load generators send). Every endpoint's answer is compared with onnxruntime run here on
the same model file (when the model repository is local) and with the first endpoint's answer:
labels and class indices must be equal, probabilities and values within `tolerance`. Numbers are
compared as float32 (what the contract carries), so JSON's shortest decimal does not count as a
difference.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import grpc
import numpy as np
from google.protobuf import json_format

import python_service  # noqa: F401  (puts the generated stubs on sys.path)
from predict.v1 import predict_pb2, predict_pb2_grpc

from bench import payloads


class GateFailed(RuntimeError):
    """An endpoint answered differently (or not at all); the message says which and where."""


def ask_http(address: str, body: dict, timeout_s: float = 10) -> dict:
    req = urllib.request.Request(f"http://{address}/v1/predict", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise GateFailed(f"HTTP {exc.code}: {exc.read()[:200]!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise GateFailed(f"no answer: {exc}") from None


def ask_grpc(address: str, body: dict, timeout_s: float = 10) -> dict:
    with grpc.insecure_channel(address) as channel:
        stub = predict_pb2_grpc.PredictionServiceStub(channel)
        try:
            resp = stub.Predict(json_format.ParseDict(body, predict_pb2.PredictRequest()), timeout=timeout_s)
        except grpc.RpcError as exc:
            raise GateFailed(f"gRPC {exc.code().name}: {exc.details()}") from None
    return json_format.MessageToDict(resp, preserving_proto_field_name=True)


ASK = {"http": ask_http, "grpc": ask_grpc}


def normalize(answer: dict) -> list[dict]:
    """Predictions with defaults filled in and every number as float32."""
    out = []
    for p in answer.get("predictions", []):
        out.append({
            "label": p.get("label", ""),
            "class_index": p.get("class_index"),
            "probabilities": [float(np.float32(x)) for x in p.get("probabilities", [])],
            "value": None if p.get("value") is None else float(np.float32(p["value"])),
        })
    return out


def reference(models_dir: str, meta: dict, rows: np.ndarray) -> list[dict]:
    """What the contract says the answer is, from onnxruntime here (same file, same session options)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    path = os.path.join(payloads.model_dir(models_dir, meta["name"]), "model.onnx")
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    output = meta.get("probabilities_output") or meta["value_output"]
    result = session.run([output], {meta["input_name"]: rows.astype(np.float32)})[0]
    if meta.get("probabilities_output"):
        return [{"label": meta["class_labels"][int(np.argmax(r))], "class_index": int(np.argmax(r)),
                 "probabilities": [float(x) for x in r], "value": None} for r in result]
    return [{"label": "", "class_index": None, "probabilities": [], "value": float(r[0])} for r in result]


def differences(got: list[dict], want: list[dict], tolerance: float) -> tuple[list[str], float]:
    """Human-readable differences of got vs want, and the largest absolute numeric difference."""
    if len(got) != len(want):
        return [f"{len(got)} predictions for {len(want)} rows"], float("inf")
    problems, worst = [], 0.0
    for i, (g, w) in enumerate(zip(got, want)):
        for key in ("label", "class_index"):
            if g[key] != w[key]:
                problems.append(f"row {i}: {key} {g[key]!r} != {w[key]!r}")
        if len(g["probabilities"]) != len(w["probabilities"]):
            problems.append(f"row {i}: {len(g['probabilities'])} probabilities != {len(w['probabilities'])}")
            continue
        pairs = [(f"probabilities[{j}]", a, b) for j, (a, b) in enumerate(zip(g["probabilities"], w["probabilities"]))]
        if (g["value"] is None) != (w["value"] is None):
            problems.append(f"row {i}: value {g['value']!r} != {w['value']!r}")
        elif g["value"] is not None:
            pairs.append(("value", g["value"], w["value"]))
        for field, a, b in pairs:
            worst = max(worst, abs(a - b))
            if abs(a - b) > tolerance:
                problems.append(f"row {i}: {field} {a!r} != {b!r} (|diff| {abs(a - b):.3g} > {tolerance:g})")
                break
    return problems, worst


def run_gate(endpoints: list[tuple[str, str, str]], models: dict[str, dict], models_dir: str | None,
             batches: list[int], rows: int, tolerance: float) -> dict:
    """Check every (server, protocol, address) on every model; return the outcome or raise GateFailed."""
    checked, worst, failures = 0, 0.0, []
    for name, meta in models.items():
        data = payloads.rows_for(meta, max(rows, *batches))
        requests = [data[i:i + 1] for i in range(rows)] + [data[:b] for b in batches if b > 1]
        for req_rows in requests:
            body = payloads.request_body(name, req_rows)
            want = reference(models_dir, meta, req_rows) if models_dir else None
            first = None
            for server, protocol, address in endpoints:
                where = f"{server}/{protocol} ({address}) model {name} batch {len(req_rows)}"
                try:
                    answer = ASK[protocol](address, body)
                except GateFailed as exc:
                    failures.append(f"{where}: {exc}")
                    continue
                got = normalize(answer)
                checked += 1
                refs = ([("onnxruntime here", want)] if want is not None else []) + ([first] if first else [])
                for label, expected in refs:
                    problems, diff = differences(got, expected, tolerance)
                    worst = max(worst, diff)
                    failures.extend(f"{where}: differs from {label}: {p}" for p in problems[:3])
                if first is None:
                    first = (f"{server}/{protocol}", got)
    return {"ran": True, "passed": not failures, "answers_checked": checked, "tolerance": tolerance,
            "max_abs_diff": worst, "endpoints": [f"{s}/{p}" for s, p, _ in endpoints],
            "models": sorted(models), "reference": "onnxruntime in the bench process" if models_dir else None,
            "failures": failures[:50]}
