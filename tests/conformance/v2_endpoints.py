"""The Open Inference Protocol (V2) side of the conformance suite: which servers serve it, the shared
cases (tests/vectors/v2/cases.json, format in its README.md) and error table
(proto/inference/errors.json), and the clients that send a case by each way in and normalize the
answer: REST with JSON data ("json"), REST with the binary tensor data extension ("binary"), a raw
REST body ("http"), gRPC ModelInfer with typed contents ("grpc") or raw_input_contents
("grpc-raw"). go_service/internal/v2cases is the same for the Go adapters in process.

Adding a server to every V2 test is one line: its name in V2_SERVERS (REST and gRPC), or in
V2_HTTP_ONLY for a server that serves HTTP only (conftest.py's `<name>_server` fixture starts it);
the REST tests run on V2_HTTP_SERVERS, both.
"""

import json
import os
import re
import struct

import grpc
import numpy as np

from bench.run.lifecycle import grpc_channel
from python_service.gen.inference import open_inference_grpc_pb2 as pb
from python_service.gen.inference import open_inference_grpc_pb2_grpc as pb_grpc
from tests.conformance.endpoints import http_connection

V2_SERVERS = ("go", "python")  # REST and gRPC
V2_HTTP_ONLY = ("python_rsgi",)  # REST only: the Python server's lean HTTP adapter (--http-server rsgi)
V2_HTTP_SERVERS = V2_SERVERS + V2_HTTP_ONLY
WAYS = ("json", "binary", "http", "grpc", "grpc-raw")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONTRACT = os.path.join(ROOT, "proto", "inference")
CASES_FILE = os.path.join(ROOT, "tests", "vectors", "v2", "cases.json")
HEADER_LENGTH = "Inference-Header-Content-Length"
_PACK = {"FP32": "<f", "FP64": "<d", "INT32": "<i", "INT64": "<q"}
_UNPACK = {"FP32": np.dtype("<f4"), "INT32": np.dtype("<i4")}
_SPECIAL = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_MAX_MESSAGE = 64 * 1024 * 1024


def contract(name):
    with open(os.path.join(CONTRACT, name), encoding="utf-8") as f:
        return json.load(f)


def load_cases():
    with open(CASES_FILE, encoding="utf-8") as f:
        doc = json.load(f)
    assert doc["format"] == "servebench-v2-cases/1", doc["format"]
    return doc["cases"]


def conditions():
    return {c["condition"]: c for c in contract("errors.json")["conditions"]}


def infer_path(model, version=None):
    return "/v2/models/%s%s/infer" % (model, "/versions/%s" % version if version else "")


def logical(case):
    """The case's request (a fresh copy), rows_repeat applied."""
    request = json.loads(json.dumps(case.get("request", {})))
    if case.get("rows_repeat"):
        tensor = request["inputs"][0]
        row = tensor["data"]
        tensor["data"] = row * case["rows_repeat"]
        tensor["shape"] = [case["rows_repeat"], len(row)]
    return request


def number(v):
    return _SPECIAL[v] if isinstance(v, str) else v


def raw(datatype, data):
    """Tensor data as binary data (model.json raw_encoding)."""
    datatype = datatype.upper()
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in data)
    return b"".join(struct.pack(_PACK[datatype], number(v)) for v in data)


def from_raw(datatype, data):
    """Binary output data as JSON would carry it."""
    if datatype == "BYTES":
        out, i = [], 0
        while i < len(data):
            (n,) = struct.unpack_from("<I", data, i)
            out.append(data[i + 4 : i + 4 + n].decode())
            i += 4 + n
        return out
    return np.frombuffer(data, dtype=_UNPACK[datatype]).tolist()


def binary_body(case, request):
    """The request with each input's data as binary data after the JSON header, the case's
    `binary` mutations applied: (body, header length to send)."""
    opts = case.get("binary", {})
    data = b""
    for tensor in request["inputs"]:
        chunk = raw(tensor["datatype"], tensor["data"])
        data += chunk
        params = tensor.setdefault("parameters", {})
        params["binary_data_size"] = len(chunk)
        if "binary_data_size" in opts:
            if opts["binary_data_size"] is None:
                del params["binary_data_size"]
            else:
                params["binary_data_size"] = opts["binary_data_size"]
        if not opts.get("keep_data"):
            del tensor["data"]
    trailing = opts.get("trailing_bytes", 0)
    data = data + bytes(trailing) if trailing >= 0 else data[:trailing]
    if opts.get("raw"):
        return data, "0"
    header = json.dumps(request).encode()
    return header + data, opts.get("header_length", str(len(header)))


def http_request(case, way):
    """(path, body, headers) of a case's POST over a REST way ("json", "binary", "http")."""
    path = infer_path(case["model"], case.get("version"))
    if way == "http":
        body = case["http"].get("body")
        if body is None:
            rep = case["http"]["body_repeat"]
            body = rep["prefix"] + rep["unit"] * rep["count"] + rep["suffix"]
        return path, body.encode(), dict(case["http"].get("headers", {}))
    request = logical(case)
    if way == "json":
        return path, json.dumps(request).encode(), {"Content-Type": "application/json"}
    body, length = binary_body(case, request)
    return path, body, {"Content-Type": "application/octet-stream", HEADER_LENGTH: length}


class V2Http:
    """V2 over REST: raw bodies on a fresh http.client connection each."""

    transport = "http"

    def __init__(self, address, ca=None):
        self.address, self.ca = address, ca

    def call(self, method, path, body=b"", headers=None, timeout=60):
        """(status, lowercase headers, body)."""
        conn = http_connection(self.address, self.ca, timeout)
        try:
            try:
                conn.request(method, path, body=body, headers=headers or {})
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused mid-body (413): the answer may already be readable
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def get_json(self, path):
        status, headers, body = self.call("GET", path)
        return status, headers, json.loads(body)

    def send(self, case, way):
        return self.normalize(*self.call("POST", *http_request(case, way)))

    def infer(self, model, doc, version=None, binary_input=None):
        """POST a request document (and binary input data, sent after it); the normalized answer."""
        body, headers = json.dumps(doc).encode(), {"Content-Type": "application/json"}
        if binary_input is not None:
            headers[HEADER_LENGTH] = str(len(body))
            body += binary_input
        return self.normalize(*self.call("POST", infer_path(model, version), body, headers))

    @staticmethod
    def normalize(status, headers, body):
        """{"ok": True, model_name, model_version, id, outputs: [{name, datatype, shape, data,
        binary}]} or {"ok": False, http_status, message, headers}; `problems` lists departures from
        the protocol's form."""
        problems = []
        content_type = headers.get("content-type", "").split(";")[0].strip()
        header = body
        if HEADER_LENGTH.lower() in headers:
            length = int(headers[HEADER_LENGTH.lower()])
            header = body[:length]
            if content_type != "application/octet-stream":
                problems.append("binary answer with Content-Type %r" % content_type)
        elif content_type != "application/json":
            problems.append("Content-Type %r, expected application/json" % content_type)
        try:
            doc = json.loads(header)
        except ValueError:
            return {"ok": False, "http_status": status, "message": "", "headers": headers, "problems": ["not JSON"]}
        if status != 200:
            if not (isinstance(doc, dict) and set(doc) == {"error"} and isinstance(doc["error"], str)):
                problems.append('error body %r is not {"error": message}' % (doc,))
            message = doc.get("error", "") if isinstance(doc, dict) else ""
            return {"ok": False, "http_status": status, "message": message, "headers": headers, "problems": problems}
        rest = body[len(header) :]
        outputs = []
        for o in doc.get("outputs", []):
            size = (o.get("parameters") or {}).get("binary_data_size")
            out = {"name": o["name"], "datatype": o["datatype"], "shape": o["shape"], "binary": size is not None}
            if size is None:
                out["data"] = o.get("data")
            else:
                out["data"], rest = from_raw(o["datatype"], rest[:size]), rest[size:]
            outputs.append(out)
        if rest:
            problems.append("%d bytes of binary data left over" % len(rest))
        return {
            "ok": True,
            "model_name": doc.get("model_name"),
            "model_version": doc.get("model_version"),
            "id": doc.get("id", ""),
            "outputs": outputs,
            "problems": problems,
        }


def _param(value):
    if isinstance(value, bool):
        return pb.InferParameter(bool_param=value)
    if isinstance(value, int):
        return pb.InferParameter(int64_param=value)
    return pb.InferParameter(string_param=value)


def _params(params):
    return {k: _param(v) for k, v in (params or {}).items()}


def _contents(tensor):
    datatype, data = tensor["datatype"].upper(), [number(v) for v in tensor["data"]]
    field = {"FP32": "fp32_contents", "FP64": "fp64_contents", "INT32": "int_contents", "INT64": "int64_contents"}
    return pb.InferTensorContents(**{field[datatype]: data})


def grpc_request(case, way):
    """The ModelInferRequest of a case over a gRPC way ("grpc", "grpc-raw")."""
    request = logical(case)
    opts = case.get("grpc_raw", {})
    message = pb.ModelInferRequest(
        model_name=case["model"], model_version=case.get("version") or "", id=request.get("id", "")
    )
    for k, v in (request.get("parameters") or {}).items():
        message.parameters[k].CopyFrom(_param(v))
    for tensor in request["inputs"]:
        t = message.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        for k, v in (tensor.get("parameters") or {}).items():
            t.parameters[k].CopyFrom(_param(v))
        if way == "grpc" or opts.get("also_contents"):
            t.contents.CopyFrom(_contents(tensor))
        if way == "grpc-raw":
            message.raw_input_contents.append(raw(tensor["datatype"], tensor["data"]))
    for _ in range(opts.get("extra_raw", 0)):
        message.raw_input_contents.append(message.raw_input_contents[0])
    if opts.get("trailing_bytes"):
        message.raw_input_contents[0] += bytes(opts["trailing_bytes"])
    for o in request.get("outputs", []):
        out = message.outputs.add(name=o["name"])
        for k, v in (o.get("parameters") or {}).items():
            out.parameters[k].CopyFrom(_param(v))
    return message


class V2Grpc:
    """V2 over gRPC with the committed stubs (python_service/gen/inference)."""

    transport = "grpc"

    def __init__(self, address, ca=None):
        self.channel = grpc_channel(address, ca, [("grpc.max_receive_message_length", _MAX_MESSAGE)])
        self.stub = pb_grpc.GRPCInferenceServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def send(self, case, way):
        return self.call(grpc_request(case, way))

    def call(self, message, timeout=60):
        try:
            return self.normalize(self.stub.ModelInfer(message, timeout=timeout))
        except grpc.RpcError as e:
            return {"ok": False, "grpc_code": e.code().name, "message": e.details() or "", "problems": []}

    @staticmethod
    def normalize(resp):
        problems = []
        if len(resp.raw_output_contents) != len(resp.outputs):
            problems.append(
                "%d raw_output_contents for %d outputs" % (len(resp.raw_output_contents), len(resp.outputs))
            )
        outputs = []
        for o, data in zip(resp.outputs, resp.raw_output_contents):
            if o.HasField("contents"):
                problems.append("output %s has typed contents beside raw_output_contents" % o.name)
            outputs.append(
                {"name": o.name, "datatype": o.datatype, "shape": list(o.shape), "data": from_raw(o.datatype, data)}
            )
        return {
            "ok": True,
            "model_name": resp.model_name,
            "model_version": resp.model_version,
            "id": resp.id,
            "outputs": outputs,
            "problems": problems,
        }


def check(case, way, got, conds):
    """The differences of an answer over `way` from the case's expectation."""
    want = case["expect"]
    diffs = list(got.get("problems", []))
    if "error" in want:
        cond = conds[want["error"]]
        if got["ok"]:
            return diffs + ["answered %r; expected the error %s" % (got["outputs"], want["error"])]
        if way.startswith("grpc"):
            if got["grpc_code"] != cond["grpc_code"]:
                diffs.append(
                    "gRPC %s, expected %s (%s): %r"
                    % (got["grpc_code"], cond["grpc_code"], want["error"], got["message"])
                )
        elif got["http_status"] != cond["http_status"]:
            diffs.append(
                "HTTP %s, expected %s (%s): %r"
                % (got["http_status"], cond["http_status"], want["error"], got["message"])
            )
        if not got["message"]:
            diffs.append("empty error message")
        diffs += [
            "message %r does not match %r" % (got["message"], p)
            for p in want.get("message_matches", [])
            if not re.search(p, got["message"], re.IGNORECASE)
        ]
        return diffs
    if not got["ok"]:
        return diffs + [
            "error %s %r; expected an answer" % (got.get("http_status") or got.get("grpc_code"), got["message"])
        ]
    expected = (case["model"], want.get("model_version", "1"), want.get("id", ""))
    if (got["model_name"], got["model_version"], got["id"]) != expected:
        diffs.append(
            "model, version, id = %r; expected %r" % ((got["model_name"], got["model_version"], got["id"]), expected)
        )
    if [o["name"] for o in got["outputs"]] != [o["name"] for o in want["outputs"]]:
        return diffs + [
            "outputs %r; expected %r" % ([o["name"] for o in got["outputs"]], [o["name"] for o in want["outputs"]])
        ]
    for o, w in zip(got["outputs"], want["outputs"]):
        if (o["datatype"], o["shape"]) != (w["datatype"], w["shape"]):
            diffs.append(
                "output %s is %s %r; expected %s %r" % (o["name"], o["datatype"], o["shape"], w["datatype"], w["shape"])
            )
        if len(o["data"] or []) != int(np.prod(o["shape"])):
            diffs.append("output %s holds %d values for shape %r" % (o["name"], len(o["data"] or []), o["shape"]))
        if "data" in w and o["data"] != w["data"]:
            diffs.append("output %s data %r; expected %r" % (o["name"], o["data"], w["data"]))
        if not way.startswith("grpc") and o["binary"] != (o["name"] in want.get("binary_outputs", [])):
            diffs.append("output %s binary %r; expected %r" % (o["name"], o["binary"], not o["binary"]))
    return diffs


def predictions(answer):
    """A V2 answer's outputs as predict.v1's normalized predictions (python_service.answers), row by
    row: output x of row i is predictions[i].x."""
    by_name = {o["name"]: o for o in answer["outputs"]}
    if "value" in by_name:
        return [{"label": None, "class_index": None, "probabilities": [], "value": v} for v in by_name["value"]["data"]]
    width = by_name["probabilities"]["shape"][1]
    probs = by_name["probabilities"]["data"]
    return [
        {"label": label, "class_index": index, "probabilities": probs[i * width : (i + 1) * width], "value": None}
        for i, (label, index) in enumerate(zip(by_name["label"]["data"], by_name["class_index"]["data"]))
    ]
