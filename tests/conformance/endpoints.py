"""The endpoints of the conformance suite as black boxes: each server (Python, Go) over each way in
(vectorspec.WAYS: gRPC unary, gRPC PredictStream, HTTP JSON, HTTP protobuf). Each endpoint sends a
vector (tests/vectors) and returns the normalized answer that vectorspec.check compares with the
expectation. HTTP uses the stdlib http.client (raw bodies, any content type or method); gRPC and
HTTP protobuf send the exact wire bytes of the request and decode the answer with the committed
stubs. An endpoint given a CA (`ca`: the suite runs over TLS) speaks TLS and verifies the server
with it: HTTP/1.1 over TLS (http.client), gRPC over TLS."""

import http.client
import json

import grpc
from google.protobuf import json_format

from bench.run.lifecycle import grpc_channel, ssl_context
from python_service import answers
from python_service.gen.predict.v1 import predict_pb2, predict_pb2_grpc
from tests.vectors import vectorspec

# server → the ways into it: both servers as shipped over every way, and the Python server's lean HTTP
# adapter (--http-server rsgi) over HTTP.
SERVER_WAYS = {
    "python": tuple(vectorspec.WAYS),
    "go": tuple(vectorspec.WAYS),
    "python[rsgi]": tuple(w for w in vectorspec.WAYS if w.startswith("http")),
}
ENDPOINTS = tuple("%s-%s" % (server, way) for server, ways in SERVER_WAYS.items() for way in ways)
_PREDICT = "/predict.v1.PredictionService/Predict"
_PREDICT_STREAM = "/predict.v1.PredictionService/PredictStream"
_PROTOBUF = "application/x-protobuf"
_RESPONSE_FIELDS = {"model", "model_version", "predictions"}
_PREDICTION_FIELDS = {"label", "class_index", "probabilities", "value"}
_MAX_ANSWER = 64 * 1024 * 1024


def normalize_json(doc, aliases=None):
    """A PredictResponse in the JSON mapping as the normalized answer, plus `problems`:
    fields that are not the contract's proto names (or `aliases` of them, e.g. grpcurl's
    lowerCamelCase) and values of the wrong JSON type."""
    aliases = aliases or {}
    problems = []
    if not isinstance(doc, dict):
        return {
            "ok": True,
            "model": None,
            "model_version": None,
            "predictions": [],
            "problems": ["answer is not a JSON object: %r" % (doc,)],
        }
    doc = {aliases.get(k, k): v for k, v in doc.items()}
    problems += ["unexpected field %r in the answer" % k for k in set(doc) - _RESPONSE_FIELDS]
    preds = []
    for i, p in enumerate(doc.get("predictions", [])):
        p = {aliases.get(k, k): v for k, v in p.items()}
        problems += ["unexpected field %r in predictions[%d]" % (k, i) for k in set(p) - _PREDICTION_FIELDS]
        if "class_index" in p and not isinstance(p["class_index"], int):
            problems.append("predictions[%d].class_index is %r, not a JSON number" % (i, p["class_index"]))
        preds.append(p)
    out = {
        "ok": True,
        "model": doc.get("model"),
        "model_version": doc.get("model_version"),
        "predictions": answers.from_json({"predictions": preds}),
    }
    if problems:
        out["problems"] = problems
    return out


def http_connection(address, ca=None, timeout=60):
    """A fresh http.client connection: HTTPS verified against the CA file `ca`, else plain HTTP."""
    if ca:
        return http.client.HTTPSConnection(address, timeout=timeout, context=ssl_context(ca))
    return http.client.HTTPConnection(address, timeout=timeout)


class HttpEndpoint:
    transport = "http"

    def __init__(self, name, address, ca=None):
        self.name, self.address, self.ca = name, address, ca

    def call(self, method, path, body=b"", headers=None, timeout=60):
        """(status, lowercase headers, body bytes) on a fresh connection."""
        conn = http_connection(self.address, self.ca, timeout)
        try:
            try:
                conn.request(method, path, body=body, headers=headers or {})
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused mid-body (e.g. 413): the answer may already be readable
            response = conn.getresponse()
            return (response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()

    def send(self, vector):
        method, path, headers, body = vectorspec.http_request(vector)
        try:
            status, headers, data = self.call(method, path, body, headers)
        except (OSError, http.client.HTTPException) as e:
            # A server may close the connection while a client still sends an oversize body.
            return {
                "ok": False,
                "http_status": None,
                "grpc_code": None,
                "body_code": None,
                "message": "connection failed: %r" % e,
                "headers": {},
            }
        return self._normalize(status, headers, data)

    @staticmethod
    def _normalize(status, headers, data):
        problems = []
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            problems.append("Content-Type = %r expected application/json" % headers.get("content-type"))
        try:
            doc = json.loads(data.decode("utf-8"))
        except ValueError:
            doc = None
            problems.append("body is not JSON: %r" % data[:200])
        if status == 200:
            out = normalize_json(doc)
            out["problems"] = problems + out.get("problems", [])
            return out
        body = doc if isinstance(doc, dict) else {}
        if doc is not None and (set(body) != {"code", "message"}):
            problems.append('error body %r is not {"code", "message"}' % (doc,))
        return {
            "ok": False,
            "http_status": status,
            "grpc_code": None,
            "body_code": body.get("code"),
            "message": body.get("message"),
            "headers": headers,
            "problems": problems,
        }

    def predict(self, model, rows):
        body = json.dumps({"model": model, "instances": [{"features": r} for r in rows]})
        status, headers, data = self.call("POST", "/v1/predict", body.encode(), {"Content-Type": "application/json"})
        return self._normalize(status, headers, data)

    def list_models(self):
        return self.get_json("/v1/models")

    def get_model(self, name):
        return self.get_json("/v1/models/%s" % name)

    def get_json(self, path):
        status, _, data = self.call("GET", path)
        assert status == 200, "%s GET %s: HTTP %d %r" % (self.name, path, status, data[:300])
        return json.loads(data)


class GrpcEndpoint:
    transport = "grpc"

    def __init__(self, name, address, ca=None):
        self.name, self.address = name, address
        self.channel = grpc_channel(
            address, ca, [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", _MAX_ANSWER)]
        )
        self._predict = self.channel.unary_unary(
            _PREDICT,
            request_serializer=None,  # requests are sent as exact wire bytes
            response_deserializer=predict_pb2.PredictResponse.FromString,
        )

    def close(self):
        self.channel.close()

    def list_models(self):
        """ListModels as a dict in the JSON mapping (proto field names, defaults omitted)."""
        answer = predict_pb2_grpc.PredictionServiceStub(self.channel).ListModels(
            predict_pb2.ListModelsRequest(), timeout=30
        )
        return json_format.MessageToDict(answer, preserving_proto_field_name=True)

    def get_model(self, name):
        answer = predict_pb2_grpc.PredictionServiceStub(self.channel).GetModel(
            predict_pb2.GetModelRequest(name=name), timeout=30
        )
        return json_format.MessageToDict(answer, preserving_proto_field_name=True)

    def _call(self, data, timeout=60):
        try:
            return vectorspec.normalize_response(self._predict(data, timeout=timeout))
        except grpc.RpcError as e:
            return {
                "ok": False,
                "grpc_code": e.code().name,
                "http_status": None,
                "message": e.details(),
                "body_code": None,
                "headers": {},
            }

    def send(self, vector):
        deadline = vectorspec.deadline_seconds(vector)
        data = vectorspec.grpc_request_bytes(vector)
        return self._call(data, 60 if deadline is None else deadline)

    def predict(self, model, rows):
        request = predict_pb2.PredictRequest(model=model, instances=[predict_pb2.Instance(features=r) for r in rows])
        return self._call(request.SerializeToString())


def as_float32(answer):
    """The answer's predictions as the float32 the wire carries."""
    return answers.as_float32(answer["predictions"])


class HttpProtobufEndpoint(HttpEndpoint):
    """POST /v1/predict with a binary PredictRequest body, asking for a binary answer; errors
    stay JSON."""

    def send(self, vector):
        return self._post(vectorspec.grpc_request_bytes(vector))

    def predict(self, model, rows):
        request = predict_pb2.PredictRequest(model=model, instances=[predict_pb2.Instance(features=r) for r in rows])
        return self._post(request.SerializeToString())

    def _post(self, data):
        headers = {"Content-Type": _PROTOBUF, "Accept": _PROTOBUF}
        try:
            status, headers, body = self.call("POST", "/v1/predict", data, headers)
        except (OSError, http.client.HTTPException) as e:
            return {
                "ok": False,
                "http_status": None,
                "grpc_code": None,
                "body_code": None,
                "message": "connection failed: %r" % e,
                "headers": {},
            }
        if status != 200:
            return self._normalize(status, headers, body)
        problems = []
        if headers.get("content-type", "").split(";")[0].strip() != _PROTOBUF:
            problems.append("Content-Type = %r expected %s" % (headers.get("content-type"), _PROTOBUF))
        out = vectorspec.normalize_response(predict_pb2.PredictResponse.FromString(body))
        out["problems"] = problems
        return out


class GrpcStreamEndpoint(GrpcEndpoint):
    """PredictStream with the vector's request as the stream's only message."""

    def __init__(self, name, address, ca=None):
        super().__init__(name, address, ca)
        self._stream = self.channel.stream_stream(
            _PREDICT_STREAM, request_serializer=None, response_deserializer=predict_pb2.PredictResponse.FromString
        )

    def _call(self, data, timeout=60):
        try:
            (answer,) = list(self._stream(iter([data]), timeout=timeout))
            return vectorspec.normalize_response(answer)
        except grpc.RpcError as e:
            return {
                "ok": False,
                "grpc_code": e.code().name,
                "http_status": None,
                "message": e.details(),
                "body_code": None,
                "headers": {},
            }

    def stream(self, requests, timeout=60):
        """(answers, error code name or None) of one stream carrying `requests` (messages)."""
        answers_ = []
        try:
            for answer in self._stream(iter([r.SerializeToString() for r in requests]), timeout=timeout):
                answers_.append(answer)
        except grpc.RpcError as e:
            return answers_, e.code().name
        return answers_, None


KINDS = {
    "grpc": GrpcEndpoint,
    "grpc-stream": GrpcStreamEndpoint,
    "http": HttpEndpoint,
    "http-protobuf": HttpProtobufEndpoint,
}


def make(server, way, address, ca=None):
    """The endpoint of `server` ("python", "go") over `way` (vectorspec.WAYS) at `address` (over TLS
    verified against `ca` when given)."""
    return KINDS[way]("%s-%s" % (server, way), address, ca)
