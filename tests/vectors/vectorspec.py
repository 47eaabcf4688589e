"""Reading and checking servebench's test vectors (tests/vectors/*.json).

The format is documented in README.md next to this file (and at the top of generate.py). This
module turns a vector into what a client sends (an HTTP request, or the bytes of a binary
`predict.v1.PredictRequest`) and checks a normalized answer against the vector's expectation,
returning human-readable differences. It is shared by the conformance suite (tests/conformance)
and the Python core's vector test (tests/python/test_vectors_core.py); the Go core reads the same
files in go_service/internal/predictor/vectors_test.go.
"""

import base64
import glob
import json
import os
import re
import struct

import grpc

from python_service import answers, contract

FORMAT = "servebench-vectors/1"
VECTORS_DIR = os.path.dirname(os.path.abspath(__file__))
# google.rpc.Code numbers, keyed by the canonical names the vectors use.
GRPC_CODES = {c.name: c.value[0] for c in grpc.StatusCode}
HTTP_STATUS_FOR_CODE = contract.load("errors.json")["http_status_for_code"]
PAD_FIELD = 1000  # unknown field number that pads a binary PredictRequest to an exact size
MAX_DIFFS = 8  # differences listed per failure


def load(directory=VECTORS_DIR):
    """Every vector of every *.json file, in file order; each gets `_file` and `_server`
    (the file's server settings: max_batch, max_body)."""
    vectors, names = [], set()
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("format") != FORMAT:
            raise ValueError("%s: format is %r, expected %r" % (path, doc.get("format"), FORMAT))
        for vector in doc["vectors"]:
            _validate(path, vector)
            if vector["name"] in names:
                raise ValueError("%s: duplicate vector name %r" % (path, vector["name"]))
            names.add(vector["name"])
            vectors.append(dict(vector, _file=os.path.basename(path), _server=doc["server"]))
    if not vectors:
        raise ValueError("no vectors in %s (run `make vectors`)" % directory)
    return vectors


def _validate(path, vector):
    where = "%s: vector %r" % (path, vector.get("name"))
    if vector.get("transport") not in ("any", "http", "grpc"):
        raise ValueError("%s: transport %r" % (where, vector.get("transport")))
    expect = vector.get("expect", {})
    kind = "error" if "error" in expect else "predict" if "predictions" in expect else None
    if vector.get("kind") != kind:
        raise ValueError("%s: kind %r does not match its expectation" % (where, vector.get("kind")))
    if kind == "error" and expect["error"]["grpc_code"] not in GRPC_CODES:
        raise ValueError("%s: unknown grpc_code %r" % (where, expect["error"]["grpc_code"]))


# The ways in a vector can be sent: (transport the vector names, encoding).
WAYS = {
    "grpc": "gRPC unary, binary message",
    "grpc-stream": "gRPC PredictStream, the vector as the stream's one message",
    "http": "HTTP/1.1, JSON body",
    "http-protobuf": "HTTP/1.1, binary PredictRequest body (application/x-protobuf), protobuf answer",
}


def applies(vector, way):
    """Whether `vector` is meant for a way in (WAYS). The binary-message vectors (transport grpc or
    any) also apply to protobuf over HTTP, except those about JSON bodies or gRPC deadlines."""
    if way == "http-protobuf":
        return (
            vector["transport"] in ("any", "grpc")
            and "http" not in vector
            and "deadline_ms" not in vector.get("grpc", {})
        )
    return vector["transport"] in ("any", way.split("-")[0])


def request_object(vector):
    """The request as a proto3-JSON-mapping object (a `generate` block expanded)."""
    if "request" in vector:
        return vector["request"]
    gen = vector["generate"]
    return {"model": gen["model"], "instances": [{"features": gen["row"]}] * gen["rows"]}


def http_request(vector):
    """(method, path, headers, body bytes) that the vector sends over HTTP."""
    spec = vector.get("http", {})
    headers = {}
    content_type = spec.get("content_type", "application/json")
    if content_type is not None:
        headers["Content-Type"] = content_type
    if "body" in spec:
        body = spec["body"].encode("utf-8")
    elif "body_base64" in spec:
        body = base64.b64decode(spec["body_base64"])
    elif "request" in vector or "generate" in vector:
        body = json.dumps(request_object(vector), separators=(",", ":")).encode("utf-8")
        pad = vector.get("generate", {}).get("pad_to_bytes")
        if pad is not None:
            if len(body) > pad:
                raise ValueError(
                    "vector %r: body of %d bytes exceeds pad_to_bytes %d" % (vector["name"], len(body), pad)
                )
            body += b" " * (pad - len(body))  # trailing JSON whitespace
    else:
        body = b""
    return spec.get("method", "POST"), spec.get("path", "/v1/predict"), headers, body


def _varint(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _length_delimited(field, payload):
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def encode_request(model, rows_bits):
    """Wire bytes of PredictRequest{model, instances[i].features = float32 bit patterns}."""
    out = _length_delimited(1, model.encode("utf-8")) if model else b""
    for bits in rows_bits:
        packed = b"".join(struct.pack("<I", b) for b in bits)
        out += _length_delimited(2, _length_delimited(1, packed) if packed else b"")
    return out


def pad_message(data, size):
    """`data` plus one unknown length-delimited field so that the total is exactly `size`."""
    tag = _varint(PAD_FIELD << 3 | 2)
    for payload in range(max(0, size - len(data) - len(tag) - 10), size):
        total = len(data) + len(tag) + len(_varint(payload)) + payload
        if total == size:
            return data + tag + _varint(payload) + b"\0" * payload
    raise ValueError("cannot pad a %d-byte message to %d bytes" % (len(data), size))


def parse_json_mapping(text):
    """(model, rows) of a PredictRequest in the proto3 JSON mapping, parsed by
    google.protobuf.json_format with the committed stubs."""
    from google.protobuf import json_format

    from python_service.gen.predict.v1 import predict_pb2

    message = json_format.Parse(text, predict_pb2.PredictRequest())
    return message.model, [list(i.features) for i in message.instances]


def float_bits(value):
    return struct.unpack("<I", struct.pack("<f", value))[0]


def grpc_request_bytes(vector, parse=parse_json_mapping):
    """Wire bytes the vector sends over gRPC. `parse(json_text)` is the JSON mapping: it returns
    (model, rows of float32 values)."""
    model, rows = parse(json.dumps(request_object(vector)))
    rows_bits = [[float_bits(v) for v in row] for row in rows]
    override = vector.get("grpc", {}).get("float_bits")
    if override:
        rows_bits[override["row"]][override["col"]] = int(override["bits"], 16)
    data = encode_request(model, rows_bits)
    pad = vector.get("generate", {}).get("pad_to_bytes")
    return pad_message(data, pad) if pad is not None else data


def deadline_seconds(vector):
    """The gRPC timeout the vector asks for, in seconds, or None. deadline_ms 0 means a deadline
    that has already passed when the call starts (a negative timeout)."""
    ms = vector.get("grpc", {}).get("deadline_ms")
    if ms is None:
        return None
    return -1.0 if ms == 0 else ms / 1000.0


# ---------------------------------------------------------------------------------------------
# Checking. An answer is normalized by the caller into:
#   {"ok": True, "model": str, "model_version": str,
#    "predictions": [{"label": str|None, "class_index": int|None, "probabilities": [float],
#                     "value": float|None}]}
# or {"ok": False, "grpc_code": "NAME"|None, "http_status": int|None, "message": str,
#     "body_code": int|None (HTTP error body's code), "headers": {lowercase name: value}}


def normalize_response(response):
    """A predict.v1.PredictResponse message as the normalized answer."""
    return {
        "ok": True,
        "model": response.model,
        "model_version": response.model_version,
        "predictions": answers.from_message(response),
    }


def _fmt(x):
    return "%.9g" % x if isinstance(x, float) else repr(x)


def _summary(p):
    if p.get("value") is not None:
        return "value %s" % _fmt(p["value"])
    return "%s/%s [%s]" % (
        p.get("label"),
        p.get("class_index"),
        ", ".join(_fmt(float(x)) for x in p.get("probabilities") or []),
    )


def _describe(got):
    if got["ok"]:
        preds = got["predictions"]
        shown = "; ".join(_summary(p) for p in preds[:4]) + ("; ..." if len(preds) > 4 else "")
        return "a successful answer with %d predictions (%s)" % (len(preds), shown)
    parts = []
    if got.get("http_status") is not None:
        parts.append("HTTP %s" % got["http_status"])
    if got.get("grpc_code") is not None:
        parts.append(got["grpc_code"])
    return "%s (%r)" % (" / ".join(parts) or "an error", got.get("message", ""))


def check(vector, got, transport):
    """Differences between `got` and the vector's expectation (empty list = pass). `transport` is
    "grpc", "http" or "core"; an HTTP answer to a binary-message vector (no http_status in the
    vector) must carry the error table's status for the vector's code."""
    expect = vector["expect"]
    problems = list(got.get("problems", []))
    if "error" in expect:
        return _check_error(expect["error"], got, transport) + problems
    if not got["ok"]:
        return ["expected %d predictions, got %s" % (len(expect["predictions"]), _describe(got))]
    return _check_predictions(expect, got) + problems


def _check_error(want, got, transport):
    if got["ok"]:
        return ["expected %s / HTTP %s, got %s" % (want["grpc_code"], want.get("http_status"), _describe(got))]
    diffs = []
    if transport == "grpc" and got["grpc_code"] != want["grpc_code"]:
        diffs.append("gRPC code = %s expected %s (message %r)" % (got["grpc_code"], want["grpc_code"], got["message"]))
    if transport == "http":
        want = dict(want)
        if want.get("http_status") is None:
            want["http_status"] = HTTP_STATUS_FOR_CODE[want["grpc_code"]]
        if got["http_status"] != want["http_status"]:
            diffs.append(
                "HTTP status = %s expected %s (message %r)" % (got["http_status"], want["http_status"], got["message"])
            )
        if got["body_code"] != GRPC_CODES[want["grpc_code"]]:
            diffs.append(
                "error body code = %r expected %d (%s)"
                % (got["body_code"], GRPC_CODES[want["grpc_code"]], want["grpc_code"])
            )
        for name, token in want.get("http_headers", {}).items():
            value = got["headers"].get(name.lower())
            if value is None or token not in [t.strip() for t in value.split(",")]:
                diffs.append("header %s = %r, expected it to list %r" % (name, value, token))
    if transport == "core" and got["grpc_code"] != want["grpc_code"]:
        diffs.append("code = %s expected %s (message %r)" % (got["grpc_code"], want["grpc_code"], got["message"]))
    if not isinstance(got.get("message"), str) or not got["message"]:
        diffs.append("error message is empty")
    for pattern in want.get("message_matches", []):
        if not re.search(pattern, got.get("message") or ""):
            diffs.append("message %r does not match /%s/" % (got.get("message"), pattern))
    return diffs


def _check_predictions(expect, got):
    diffs = []
    for key in ("model", "model_version"):
        if got.get(key) != expect[key]:
            diffs.append("%s = %r expected %r" % (key, got.get(key), expect[key]))
    return diffs + answers.differences(got["predictions"], expect["predictions"], expect["tolerance"])[0]


def failure(vector, endpoint, diffs):
    """The one-line-per-difference message a failing test prints."""
    lines = ["vector %r on %s: %s" % (vector["name"], endpoint, d) for d in diffs[:MAX_DIFFS]]
    if len(diffs) > MAX_DIFFS:
        lines.append(
            "vector %r on %s: ... and %d more differences" % (vector["name"], endpoint, len(diffs) - MAX_DIFFS)
        )
    return "\n".join(lines) + "\n(%s: %s)" % (vector["_file"], vector["description"])
