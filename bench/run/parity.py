"""Parity gate: the same inputs to every endpoint under test; no benchmark when any answer differs.

For each model: `rows` single-row requests plus one request per batch size of the matrix (the very
bodies the load generators send). Every endpoint's answer is compared with onnxruntime run here on
the same model file (when the model repository is local) and with the first endpoint's answer:
labels and class indices must be equal, probabilities and values within `tolerance`. Numbers are
compared as float32 (what the contract carries), so JSON's shortest decimal does not count as a
difference. Over V2 (bench.run.v2load) the same rows go in the server's own request shape and the
answer is read back into predictions; a server answering from the original scikit-learn estimator
(bench.run.peers: MLServer's scikit-learn runtime) must give the same labels and probabilities
within the export's parity tolerance (metadata.json parity.tolerance), not ONNX's.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
from google.protobuf import json_format

from bench.results import Parity
from bench.run import payloads, peers, v2load
from bench.run.servers import Server, transport
from bench.settings import ParitySettings
from python_service import answers
from python_service.gen.predict.v1 import predict_pb2, predict_pb2_grpc
from python_service.server.core.predictor import session_options
from python_service.server.core.repository import ModelEntry


class GateFailed(RuntimeError):
    """An endpoint answered differently (or not at all); the message says which and where."""


def ask_http(address: str, body: dict, timeout_s: float = 10) -> list[dict]:
    req = urllib.request.Request(
        f"http://{address}/v1/predict",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return answers.from_json(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        raise GateFailed(f"HTTP {exc.code}: {exc.read()[:200]!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise GateFailed(f"no answer: {exc}") from None


def ask_grpc(address: str, body: dict, timeout_s: float = 10) -> list[dict]:
    with grpc.insecure_channel(address) as channel:
        stub = predict_pb2_grpc.PredictionServiceStub(channel)
        try:
            resp = stub.Predict(json_format.ParseDict(body, predict_pb2.PredictRequest()), timeout=timeout_s)
        except grpc.RpcError as exc:
            raise GateFailed(f"gRPC {exc.code().name}: {exc.details()}") from None
    return answers.from_message(resp)


def ask_http_protobuf(address: str, body: dict, timeout_s: float = 10) -> list[dict]:
    message = json_format.ParseDict(body, predict_pb2.PredictRequest())
    req = urllib.request.Request(
        f"http://{address}/v1/predict",
        data=message.SerializeToString(),
        headers={"Content-Type": PROTOBUF, "Accept": PROTOBUF},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return answers.from_message(predict_pb2.PredictResponse.FromString(resp.read()))
    except urllib.error.HTTPError as exc:
        raise GateFailed(f"HTTP {exc.code}: {exc.read()[:200]!r}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise GateFailed(f"no answer: {exc}") from None


def ask_grpc_stream(address: str, body: dict, timeout_s: float = 10) -> list[dict]:
    """The request sent twice on one PredictStream: both answers must be the same."""
    message = json_format.ParseDict(body, predict_pb2.PredictRequest())
    with grpc.insecure_channel(address) as channel:
        stub = predict_pb2_grpc.PredictionServiceStub(channel)
        try:
            first, second = list(stub.PredictStream(iter([message, message]), timeout=timeout_s))
        except grpc.RpcError as exc:
            raise GateFailed(f"gRPC {exc.code().name}: {exc.details()}") from None
        except ValueError:
            raise GateFailed("PredictStream did not answer each of 2 requests once") from None
    if first != second:
        raise GateFailed("PredictStream answered the same request twice differently")
    return answers.from_message(first)


PROTOBUF = "application/x-protobuf"
ASK = {"http-json": ask_http, "http-protobuf": ask_http_protobuf, "grpc": ask_grpc, "grpc-stream": ask_grpc_stream}


def ask(protocol: str, address: str, body: dict, meta: dict) -> list[dict]:
    """One endpoint's predictions for a predict.v1 body (V2: the same rows in the server's own shape)."""
    if protocol not in v2load.ASK:
        return ASK[protocol](address, body)
    try:
        return v2load.ASK[protocol](address, body, meta)
    except urllib.error.HTTPError as exc:
        raise GateFailed(f"HTTP {exc.code}: {exc.read()[:200]!r}") from None
    except grpc.RpcError as exc:
        raise GateFailed(f"gRPC {exc.code().name}: {exc.details()}") from None
    except (v2load.V2Error, urllib.error.URLError, OSError, ValueError) as exc:
        raise GateFailed(f"{type(exc).__name__}: {exc}") from None


def export_tolerance(entry: ModelEntry, tolerance: float) -> float:
    """The model's export parity tolerance (scikit-learn against ONNX), at least `tolerance`."""
    return max(tolerance, float((entry.metadata.get("parity") or {}).get("tolerance") or 0.0))


def reference(entry: ModelEntry, rows: np.ndarray) -> list[dict]:
    """What the contract says the answer is: onnxruntime here, same model bytes, same session options."""
    import onnxruntime as ort

    meta = entry.metadata
    session = ort.InferenceSession(entry.model_bytes, session_options(), providers=["CPUExecutionProvider"])
    output = meta.get("probabilities_output") or meta["value_output"]
    result = session.run([output], {meta["input_name"]: rows.astype(np.float32)})[0]
    if meta["task"] == "classification":
        return [
            {
                "label": meta["class_labels"][int(np.argmax(r))],
                "class_index": int(np.argmax(r)),
                "probabilities": [float(x) for x in r],
                "value": None,
            }
            for r in result
        ]
    return [{"label": None, "class_index": None, "probabilities": [], "value": float(r[0])} for r in result]


def run_gate(
    endpoints: list[tuple[str, str, str]],
    models: dict[str, ModelEntry],
    batches: list[int],
    rows: int,
    tolerance: float,
    local_reference: bool = True,
    estimator_servers: frozenset[str] = frozenset(),
) -> Parity:
    """Check every (server, protocol, address) on every model; the outcome (failures listed).
    `estimator_servers` answer from the original estimator: compared within the model's export
    parity tolerance."""
    checked, worst, failures, worst_estimator = 0, 0.0, [], None
    for name, entry in models.items():
        data = payloads.rows_for(entry.metadata, max(rows, *batches))
        requests = [data[i : i + 1] for i in range(rows)] + [data[:b] for b in batches if b > 1]
        for req_rows in requests:
            body = payloads.request_body(name, req_rows)
            want = answers.as_float32(reference(entry, req_rows)) if local_reference else None
            first = None
            for server, protocol, address in endpoints:
                where = f"{server}/{protocol} ({address}) model {name} batch {len(req_rows)}"
                try:
                    got = answers.as_float32(ask(protocol, address, body, entry.metadata))
                except GateFailed as exc:
                    failures.append(f"{where}: {exc}")
                    continue
                checked += 1
                tol = export_tolerance(entry, tolerance) if server in estimator_servers else tolerance
                refs = ([("onnxruntime here", want)] if want is not None else []) + ([first] if first else [])
                for label, expected in refs:
                    problems, diff = answers.differences(got, expected, tol)
                    if server in estimator_servers:  # the estimator's differences are its own figure
                        worst_estimator = max(worst_estimator or 0.0, diff)
                    else:
                        worst = max(worst, diff)
                    failures.extend(f"{where}: differs from {label}: {p}" for p in problems[:3])
                if first is None and server not in estimator_servers:
                    first = (f"{server}/{protocol}", got)
    return Parity(
        ran=True,
        passed=not failures,
        answers_checked=checked,
        tolerance=tolerance,
        max_abs_diff=worst,
        endpoints=[f"{s}/{p}" for s, p, _ in endpoints],
        models=sorted(models),
        reference="onnxruntime in the bench process" if local_reference else None,
        failures=failures[:50],
        estimator_servers=sorted(estimator_servers & {s for s, _, _ in endpoints}),
        estimator_max_abs_diff=worst_estimator,
    )


def gate(ui, running: dict[str, Server], models: dict[str, ModelEntry], batches, settings: ParitySettings) -> Parity:
    """The parity gate over every way into every running server."""
    endpoints = [
        (n, p, r.endpoints[transport(p)])
        for n, r in running.items()
        for p in (*ASK, *v2load.ASK)
        if transport(p) in r.endpoints and r.serves(p)
    ]
    ui.info(f"parity gate: {len(endpoints)} endpoint(s) × {len(models)} model(s)")
    estimator = frozenset(n for n in running if peers.is_peer(n) and peers.PEERS[n].answers_from == "sklearn")
    result = run_gate(endpoints, models, batches, settings.rows, settings.tolerance, estimator_servers=estimator)
    if result.passed:
        ui.info(f"parity gate passed: {result.answers_checked} answers, max |diff| {result.max_abs_diff:.3g}")
    return result
