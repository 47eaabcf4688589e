"""The Open Inference Protocol (KServe "V2") as the bench drives it, at any V2 server: servebench's
own two, or a peer (MLServer, KServe, Triton, a --target).

A V2 server says what its model takes (GET /v2/models/{m}, or ModelMetadata over gRPC): the input's
name, datatype and width, and the outputs it answers. From that and the bench's own predict.v1 body
of a model and batch (bench.run.payloads: the same rows, the same float32 numbers, for every
server) this module writes the V2 request of that server: REST JSON for hey and vegeta
(`POST /v2/models/{m}/infer`), a ModelInferRequest in the proto3 JSON mapping for ghz and openloop
(`inference.GRPCInferenceService/ModelInfer`, from proto/inference/open_inference_grpc.proto: MLServer
and KServe offer no reflection). Every output the metadata lists is asked for by name (MLServer's
scikit-learn runtime answers only `predict` unless `predict_proba` is asked), none when it lists none.

Answers are read back into predict.v1's predictions (python_service.answers) for the parity gate:
outputs named as servebench's (`label`, `class_index`, `probabilities`, `value`) or as MLServer's
scikit-learn runtime's (`predict`: the class or the value, `predict_proba`); typed JSON data or
gRPC contents, or gRPC raw_output_contents (little-endian, BYTES length-prefixed), which KServe mixes
with typed contents in one answer.
"""

from __future__ import annotations

import json
import os
import re
import struct
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import numpy as np
from google.protobuf import json_format

from bench.run import loadgen, openloop

PROTOCOLS = ("v2-http", "v2-grpc")
_FLOATS = {"FP32": np.float32, "FP64": np.float64, "FP16": np.float16}
_INTS = {"INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q", "UINT8": "B", "UINT16": "H", "UINT32": "I"}
_CONTENTS = {
    "BOOL": "bool_contents",
    **dict.fromkeys(("INT8", "INT16", "INT32"), "int_contents"),
    "INT64": "int64_contents",
    **dict.fromkeys(("UINT8", "UINT16", "UINT32"), "uint_contents"),
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
CLASS_OUTPUTS = ("class_index", "predict")  # a classifier's class, by name (servebench's, MLServer scikit-learn's)
PROBABILITY_OUTPUTS = ("probabilities", "predict_proba")
VALUE_OUTPUTS = ("value", "predict")


class V2Error(RuntimeError):
    """A V2 server did not describe its model or did not answer as the protocol says."""


@dataclass(frozen=True)
class ModelShape:
    """What a V2 server says of one of its models: the input it takes, the outputs it answers."""

    model: str
    input_name: str
    datatype: str
    width: int  # the input shape's last dimension (features per row)
    outputs: tuple[str, ...]


def transport(protocol: str) -> str:
    return "grpc" if protocol == "v2-grpc" else "http"


_shapes: dict[tuple[str, str, str], ModelShape] = {}


def metadata(protocol: str, address: str, model: str, timeout_s: float = 10) -> ModelShape:
    """The model's metadata at that server (asked once per server, protocol and model)."""
    key = (protocol, address, model)
    if key not in _shapes:
        doc = _grpc_metadata(address, model, timeout_s) if protocol == "v2-grpc" else _http_metadata(address, model)
        _shapes[key] = shape_of(model, doc)
    return _shapes[key]


def shape_of(model: str, doc: dict) -> ModelShape:
    """A ModelShape from a model metadata answer (REST JSON, or the gRPC answer as JSON)."""
    inputs = doc.get("inputs") or []
    if len(inputs) != 1 or not inputs[0].get("shape"):
        raise V2Error(f"model {model!r}: the bench drives a model of one input with a shape; metadata says {inputs!r}")
    shape = [int(d) for d in inputs[0]["shape"]]
    if shape[-1] < 1:
        raise V2Error(f"model {model!r}: its input's last dimension is {shape[-1]}, not a number of features")
    outputs = tuple(o["name"] for o in doc.get("outputs") or [])
    return ModelShape(model, inputs[0]["name"], inputs[0]["datatype"], shape[-1], outputs)


def _http_metadata(address: str, model: str) -> dict:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/models/{model}", timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        raise V2Error(f"GET /v2/models/{model} at {address}: HTTP {exc.code} {exc.read()[:200]!r}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise V2Error(f"GET /v2/models/{model} at {address}: {exc}") from None


def _stubs():
    from python_service.gen.inference import open_inference_grpc_pb2 as pb
    from python_service.gen.inference import open_inference_grpc_pb2_grpc as pb_grpc

    return pb, pb_grpc


def _grpc_metadata(address: str, model: str, timeout_s: float) -> dict:
    pb, pb_grpc = _stubs()
    with grpc.insecure_channel(address) as channel:
        try:
            answer = pb_grpc.GRPCInferenceServiceStub(channel).ModelMetadata(
                pb.ModelMetadataRequest(name=model), timeout=timeout_s
            )
        except grpc.RpcError as exc:
            raise V2Error(f"ModelMetadata {model!r} at {address}: {exc.code().name} {exc.details()}") from None
    return json_format.MessageToDict(answer, preserving_proto_field_name=True)


def _values(shape: ModelShape, rows: np.ndarray) -> list:
    if rows.shape[1] != shape.width:
        raise V2Error(f"model {shape.model!r} takes {shape.width} features; the bench's rows have {rows.shape[1]}")
    if shape.datatype not in _FLOATS:
        raise V2Error(f"model {shape.model!r}: input datatype {shape.datatype} (the bench sends FP32 or FP64 rows)")
    return [float(v) for v in rows.reshape(-1)]  # each float32 exactly (FP64: the same numbers, widened)


def rest_request(shape: ModelShape, rows: np.ndarray) -> dict:
    """The REST inference request (JSON tensor data, row-major, flat)."""
    body = {"inputs": [{"name": shape.input_name, "datatype": shape.datatype, "shape": list(rows.shape)}]}
    body["inputs"][0]["data"] = _values(shape, rows)
    if shape.outputs:
        body["outputs"] = [{"name": n} for n in shape.outputs]
    return body


def grpc_request(shape: ModelShape, rows: np.ndarray) -> dict:
    """The ModelInferRequest in the proto3 JSON mapping (typed contents)."""
    field = "fp64_contents" if shape.datatype == "FP64" else "fp32_contents"
    tensor = {"name": shape.input_name, "datatype": shape.datatype, "shape": list(rows.shape)}
    body = {"model_name": shape.model, "inputs": [{**tensor, "contents": {field: _values(shape, rows)}}]}
    if shape.outputs:
        body["outputs"] = [{"name": n} for n in shape.outputs]
    return body


def rows_of(predict_body: dict) -> np.ndarray:
    """The rows of a predict.v1 request body (the bench's own: the numbers every server gets)."""
    return np.array([i["features"] for i in predict_body["instances"]], dtype=np.float32)


_files: dict[tuple[str, str, str, int], str] = {}


def body_file(protocol: str, address: str, bodies: dict, model: str, batch: int) -> str:
    """The V2 request file for this server, model and batch, written beside the predict.v1 body it is
    made from (bodies[(model, batch, "json")]); once per server."""
    key = (protocol, address, model, batch)
    if key not in _files:
        source = bodies[(model, batch, "json")]
        with open(source, encoding="utf-8") as fh:
            rows = rows_of(json.load(fh))
        shape = metadata(protocol, address, model)
        doc = grpc_request(shape, rows) if protocol == "v2-grpc" else rest_request(shape, rows)
        tag = re.sub(r"[^A-Za-z0-9]+", "_", address)
        path = os.path.join(os.path.dirname(source), f"{model}-batch{batch}.{protocol}.{tag}.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        _files[key] = path
    return _files[key]


def infer_path(model: str) -> str:
    return f"/v2/models/{model}/infer"


def closed_loop(plan, protocol: str, address: str, conc: int, bodies: dict, model: str, batch: int):
    """(tool, messages per tool request, duration → argv) for a V2 endpoint: hey posting the REST
    body, or ghz calling ModelInfer."""
    s, tools, n_client = plan.settings, plan.tools, len(plan.client_cpus)
    body = body_file(protocol, address, bodies, model, batch)
    if protocol == "v2-http":
        url = f"http://{address}{infer_path(model)}"
        return (
            "hey",
            1,
            lambda d: loadgen.hey_argv(
                tools.hey,
                url,
                concurrency=conc,
                n_cpus=n_client,
                timeout_s=s.request_timeout_s,
                duration_s=d,
                body=body,
            ),
        )
    connections = min(max(s.ghz_connections, len(plan.server_cpus)), conc)
    return "ghz", 1, lambda d: loadgen.ghz_argv(
        tools, address, concurrency=conc, n_cpus=n_client, timeout_s=s.request_timeout_s, duration_s=d, body=body,
        connections=connections, call=loadgen.V2_INFER_CALL, proto=os.path.join(tools.proto_root, loadgen.V2_PROTO),
    )  # fmt: skip


def open_target(protocol: str, address: str, bodies: dict, model: str, batch: int):
    """The open-loop target (bench.run.openloop) of a V2 endpoint: vegeta posting the REST body, or
    openloop (or ghz) calling ModelInfer."""
    body = body_file(protocol, address, bodies, model, batch)
    if protocol == "v2-grpc":
        return openloop.Target(protocol, address, body, method="ModelInfer")
    return openloop.Target(protocol, address, body, path=infer_path(model))


# --- answers ----------------------------------------------------------------------------------


def _decode_raw(datatype: str, raw: bytes) -> list:
    if datatype in _FLOATS:
        return np.frombuffer(raw, dtype=np.dtype(_FLOATS[datatype]).newbyteorder("<")).tolist()
    if datatype in _INTS or datatype == "UINT64":
        code = _INTS.get(datatype, "Q")
        return list(struct.unpack("<%d%s" % (len(raw) // struct.calcsize(code), code), raw))
    if datatype == "BYTES":
        out, at = [], 0
        while at < len(raw):
            (n,) = struct.unpack_from("<I", raw, at)
            out.append(raw[at + 4 : at + 4 + n].decode("utf-8", errors="replace"))
            at += 4 + n
        return out
    raise V2Error(f"output datatype {datatype} is not read by the bench")


def _flat(data) -> list:
    if isinstance(data, list) and data and isinstance(data[0], list):
        return [v for row in data for v in _flat(row)]
    return list(data)


def outputs_of_rest(doc: dict) -> dict[str, list]:
    """name → its values, flat, of a REST inference answer (JSON tensor data)."""
    return {o["name"]: _flat(o.get("data") or []) for o in doc.get("outputs") or []}


def outputs_of_grpc(answer) -> dict[str, list]:
    """name → its values, flat, of a ModelInferResponse: typed contents where an output has them,
    else the next raw_output_contents entry."""
    raws, out = iter(answer.raw_output_contents), {}
    for o in answer.outputs:
        field = _CONTENTS.get(o.datatype)
        typed = list(getattr(o.contents, field)) if field else []
        if typed:
            out[o.name] = [v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v for v in typed]
        else:
            raw = next(raws, None)
            if raw is None:
                raise V2Error(f"output {o.name!r}: neither typed contents nor a raw_output_contents entry")
            out[o.name] = _decode_raw(o.datatype, raw)
    return out


def _first(outputs: dict, names: tuple[str, ...]) -> list | None:
    return next((outputs[n] for n in names if n in outputs), None)


def predictions(outputs: dict[str, list], rows: int, meta: dict) -> list[dict]:
    """predict.v1's predictions (python_service.answers' form) from a V2 answer's outputs, for a
    model of the local repository (`meta`: its metadata.json, for the class labels)."""
    if meta["task"] != "classification":
        values = _first(outputs, VALUE_OUTPUTS)
        if values is None or len(values) != rows:
            raise V2Error(f"no value output of {rows} values among {sorted(outputs)}")
        return [{"label": None, "class_index": None, "probabilities": [], "value": float(v)} for v in values]
    labels, n = meta["class_labels"], len(meta["class_labels"])
    probabilities, classes = _first(outputs, PROBABILITY_OUTPUTS), _first(outputs, CLASS_OUTPUTS)
    if probabilities is None or len(probabilities) != rows * n:
        raise V2Error(f"no probabilities output of {rows}×{n} values among {sorted(outputs)}")
    if classes is None or len(classes) != rows:
        raise V2Error(f"no class output of {rows} values among {sorted(outputs)}")
    names = outputs.get("label") or [labels[int(c)] if 0 <= int(c) < n else str(c) for c in classes]
    return [
        {
            "label": names[i],
            "class_index": int(classes[i]),
            "probabilities": [float(p) for p in probabilities[i * n : (i + 1) * n]],
            "value": None,
        }
        for i in range(rows)
    ]


def ask_http(address: str, predict_body: dict, meta: dict, timeout_s: float = 10) -> list[dict]:
    model, rows = predict_body["model"], rows_of(predict_body)
    body = rest_request(metadata("v2-http", address, model), rows)
    req = urllib.request.Request(
        f"http://{address}{infer_path(model)}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        return predictions(outputs_of_rest(json.loads(resp.read())), len(rows), meta)


def ask_grpc(address: str, predict_body: dict, meta: dict, timeout_s: float = 10) -> list[dict]:
    pb, pb_grpc = _stubs()
    model, rows = predict_body["model"], rows_of(predict_body)
    request = json_format.ParseDict(grpc_request(metadata("v2-grpc", address, model), rows), pb.ModelInferRequest())
    with grpc.insecure_channel(address) as channel:
        answer = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=timeout_s)
    return predictions(outputs_of_grpc(answer), len(rows), meta)


ASK: dict[str, Callable[..., list[dict]]] = {"v2-http": ask_http, "v2-grpc": ask_grpc}
