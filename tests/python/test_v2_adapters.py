"""The Python V2 adapters in process, beyond the shared cases (test_v2_cases.py): answers while not
ready, one admission bound for predict.v1 and V2 (REST through the RSGI front, gRPC through the work
slots' calls), the header refusals that come before admission, the deadline, what /metrics counts,
a hostile shape's message, and V2's predictions equal to predict.v1's for the same rows."""

import json
import struct

import grpc
import numpy as np
import pytest

from python_service import answers
from python_service.gen.inference import open_inference_grpc_pb2 as pb
from python_service.gen.predict.v1 import predict_pb2
from python_service.server.core import metrics
from python_service.server.core.admission import Admission
from python_service.server.core.predictor import Predictor
from python_service.server.core.repository import load_repository
from python_service.server.grpcapi.service import Calls, unary_handlers
from python_service.server.httpapi.app import create_app
from python_service.server.httpapi.lean import LeanApp
from python_service.server.v2.rest import Call, RestV2
from python_service.server.v2.rpc import InferenceCalls
from tests.conformance.v2_endpoints import V2Grpc, V2Http, predictions
from tests.python.grpc_fakes import Aborted, Context
from tests.python.rsgi_fakes import MAX_BODY, Front

C = grpc.StatusCode
INFER = "/v2/models/iris-logreg/infer"
IRIS = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]}
IRIS_BODY = json.dumps(IRIS).encode()
WIDTHS = {"iris-logreg": 4, "breast-cancer-rf": 30, "digits-mlp": 64, "diabetes-gbr": 10}


@pytest.fixture(scope="module")
def entries(models_dir):
    return load_repository(models_dir)


@pytest.fixture(scope="module")
def predictor(entries):
    return Predictor(entries)


def grpc_call(calls, rpc, message, remaining=None):
    """(response bytes, None) or (None, (code, message)) of one V2 RPC's handler."""
    handler = unary_handlers(calls, InferenceCalls(calls).table())[rpc].unary_unary
    try:
        return handler(message.SerializeToString(), Context(remaining)), None
    except Aborted as e:
        return None, e.args


def iris_message():
    message = pb.ModelInferRequest(model_name="iris-logreg")
    message.inputs.add(name="input", datatype="FP32", shape=[1, 4]).contents.fp32_contents.extend([5.1, 3.5, 1.4, 0.2])
    return message


def json_of(answer):
    status, _, body = answer
    return status, json.loads(body)


@pytest.mark.parametrize("state", ["loading", "draining"])
@pytest.mark.parametrize("adapter", ["flask", "lean"])
def test_not_ready(entries, state, adapter):
    """Health says ready false (503, gRPC OK), model ready false, inference UNAVAILABLE."""
    predictor = Predictor()
    if state == "draining":
        predictor.load(entries)
        predictor.drain()
    app = create_app(predictor, max_body=MAX_BODY) if adapter == "flask" else LeanApp(predictor)
    front = Front(app, Admission(8, metrics.NO_METRICS))
    try:
        assert json_of(front.call("GET", "/v2/health/live")) == (200, {"live": True})
        assert json_of(front.call("GET", "/v2/health/ready")) == (503, {"ready": False})
        assert json_of(front.call("GET", "/v2/models/iris-logreg/ready")) == (
            503,
            {"name": "iris-logreg", "ready": False},
        )
        status, doc = json_of(front.call("POST", INFER, IRIS_BODY))
        assert status == 503 and set(doc) == {"error"} and "not ready" in doc["error"]
    finally:
        front.close()
    calls = Calls(predictor, metrics.NO_METRICS)
    assert pb.ServerReadyResponse.FromString(grpc_call(calls, "ServerReady", pb.ServerReadyRequest())[0]).ready is False
    ready, _ = grpc_call(calls, "ModelReady", pb.ModelReadyRequest(name="iris-logreg"))
    assert pb.ModelReadyResponse.FromString(ready).ready is False
    assert grpc_call(calls, "ModelInfer", iris_message())[1][0] == C.UNAVAILABLE


def test_one_admission_bound_for_predict_v1_and_v2(predictor):
    """With the bound taken by another request (a predict.v1 one, say), a V2 inference is refused
    at once, 503 + Retry-After, in V2's error shape; its header refusals (415, 400) still come
    first, and routes that are no inference are not admitted."""
    admission = Admission(1, metrics.NO_METRICS)
    front = Front(LeanApp(predictor), admission)
    try:
        assert admission.enter() is None  # the one place, held
        status, headers, body = front.call("POST", INFER, IRIS_BODY)
        assert (status, headers.get("retry-after")) == (503, "1") and set(json.loads(body)) == {"error"}, body
        status, _, body = front.call(
            "POST", "/v1/predict", b'{"model": "iris-logreg"}', {"Content-Type": "application/json"}
        )
        assert status == 503 and set(json.loads(body)) == {"code", "message"}
        assert front.call("POST", INFER, IRIS_BODY, {"Content-Encoding": "gzip"})[0] == 415
        assert front.call("POST", INFER, b" " * (MAX_BODY + 1), {"Content-Encoding": "gzip"})[0] == 415
        assert front.call("POST", INFER, IRIS_BODY, {"Inference-Header-Content-Length": "abc"})[0] == 400
        assert json_of(front.call("GET", "/v2/health/live")) == (200, {"live": True})
        admission.exit()
        assert front.call("POST", INFER, IRIS_BODY)[0] == 200
    finally:
        front.close()
    calls = Calls(predictor, metrics.NO_METRICS, admission=Admission(1, metrics.NO_METRICS))
    assert calls.admission.enter() is None
    assert grpc_call(calls, "ModelInfer", iris_message())[1][0] == C.RESOURCE_EXHAUSTED
    calls.admission.exit()
    assert grpc_call(calls, "ModelInfer", iris_message())[1] is None


def test_a_passed_deadline_is_deadline_exceeded(predictor):
    calls = Calls(predictor, metrics.NO_METRICS)
    assert grpc_call(calls, "ModelInfer", iris_message(), remaining=0.0)[1] == (
        C.DEADLINE_EXCEEDED,
        "deadline exceeded",
    )


class _Recorder:
    enabled = True

    def __init__(self):
        self.requests, self.phases = [], []

    def request(self, method, code, seconds):
        self.requests.append((method, code))

    def phase(self, name, seconds):
        self.phases.append(name)

    def inflight(self, delta):
        pass

    def shed(self):
        pass


def test_metrics_count_model_infer_and_model_metadata(predictor):
    """ModelInfer and ModelMetadata are counted with their code (and an inference's four phases);
    health, readiness and server metadata are not (as /healthz is not)."""
    rec = _Recorder()
    v2 = RestV2(predictor, recorder=rec)
    for method, path, body in [
        ("POST", INFER, IRIS_BODY),
        ("GET", INFER, b""),
        ("GET", "/v2/models/nope", b""),
        ("GET", "/v2/health/live", b""),
        ("GET", "/v2/models/iris-logreg/ready", b""),
        ("GET", "/v2", b""),
    ]:
        v2(Call(method, path, body))
    assert rec.requests == [("ModelInfer", "OK"), ("ModelInfer", "UNIMPLEMENTED"), ("ModelMetadata", "NOT_FOUND")]
    assert rec.phases == ["decode", "tensor", "inference", "encode"]
    rec = _Recorder()
    calls = Calls(predictor, rec)
    grpc_call(calls, "ModelInfer", iris_message())
    grpc_call(calls, "ModelMetadata", pb.ModelMetadataRequest(name="iris-logreg"))
    grpc_call(calls, "ServerLive", pb.ServerLiveRequest())
    assert rec.requests == [("ModelInfer", "OK"), ("ModelMetadata", "OK")]
    assert rec.phases == ["decode", "tensor", "inference", "encode"]


def test_a_hostile_shape_gets_a_short_message(predictor):
    doc = {"inputs": [dict(IRIS["inputs"][0], shape=[1] * 60_000)]}  # within the comma bound
    status, _, raw = RestV2(predictor)(Call("POST", INFER, json.dumps(doc).encode()))
    message = json.loads(raw)["error"]
    assert status == 400 and "shape" in message and len(message) <= 256, message
    message_ = iris_message()
    message_.inputs[0].shape[:] = [1] * 100_000
    _, (code, text) = grpc_call(Calls(predictor, metrics.NO_METRICS), "ModelInfer", message_)
    assert code == C.INVALID_ARGUMENT and "shape" in text and len(text) <= 256, text


@pytest.mark.parametrize("model", sorted(WIDTHS))
def test_v2_predictions_are_predict_v1s(predictor, model):
    """The same rows over V2 REST (JSON, binary in and out) and gRPC (raw contents) give
    predict.v1's predictions exactly (as the float32 each wire carries)."""
    rows = np.random.default_rng(3).normal(0, 2, size=(16, WIDTHS[model])).astype(np.float32)
    want = answers.as_float32(
        answers.from_message(
            predictor.predict(
                predict_pb2.PredictRequest(model=model, instances=[{"features": r} for r in rows.tolist()])
            )
        )
    )
    v2, path = RestV2(predictor), "/v2/models/%s/infer" % model
    tensor = {"name": "input", "datatype": "FP32", "shape": list(rows.shape)}
    got = {"json": v2(Call("POST", path, json.dumps({"inputs": [dict(tensor, data=rows.tolist())]}).encode()))}
    raw = rows.astype("<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [dict(tensor, parameters={"binary_data_size": len(raw)})],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    got["binary"] = v2(Call("POST", path, header + raw, None, [str(len(header))]))
    for way, (status, headers, body) in got.items():
        answer = V2Http.normalize(status, {k.lower(): v for k, v in headers}, body)
        assert answer["ok"] and not answer["problems"], (way, answer)
        assert answers.as_float32(predictions(answer)) == want, way
    message = pb.ModelInferRequest(model_name=model, raw_input_contents=[raw])
    message.inputs.add(name="input", datatype="FP32", shape=list(rows.shape))
    data, error = grpc_call(Calls(predictor, metrics.NO_METRICS), "ModelInfer", message)
    assert error is None
    answer = V2Grpc.normalize(pb.ModelInferResponse.FromString(data))
    assert answers.as_float32(predictions(answer)) == want
    if model == "iris-logreg":  # a BYTES element: a 4-byte little-endian length, then its bytes
        label = pb.ModelInferResponse.FromString(data).raw_output_contents[0]
        assert label.startswith(struct.pack("<I", len(want[0]["label"])) + want[0]["label"].encode())


def test_flask_without_the_front_answers_v2_limits_in_v2s_shape(predictor):
    """On the WSGI servers (no RSGI front) the Flask app's own body limit answers 413 {"error"}
    under /v2, and an inference's refused encoding still comes first (415)."""
    client = create_app(predictor, max_body=1024).test_client()
    big = b" " * 1025
    answer = client.post(INFER, data=big)
    assert answer.status_code == 413 and set(answer.get_json()) == {"error"}, answer.data
    answer = client.post(INFER, data=big, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 415 and set(answer.get_json()) == {"error"}, answer.data
    answer = client.post("/v2/health/live", data=big, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 413 and set(answer.get_json()) == {"error"}, answer.data
    answer = client.open(INFER, method="TRACE")
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST", answer.data
