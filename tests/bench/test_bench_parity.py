"""Parity gate: identical answers pass; a differing label or probability blocks, naming endpoint and model."""

import json
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import pytest
from google.protobuf import json_format

from bench.run import parity
from python_service import answers
from python_service.gen.predict.v1 import predict_pb2, predict_pb2_grpc
from python_service.server.core.repository import ModelEntry

META = {"toy-model": ModelEntry("toy-model", "1", {"name": "toy-model", "n_features": 3, "dataset": None}, b"", "")}


def answer(body: dict, skew: float = 0.0, flip: bool = False) -> dict:
    """A deterministic 'model': two classes, p1 from the feature sum."""
    preds = []
    for inst in body["instances"]:
        s = sum(inst.get("features", []))
        p1 = 1 / (1 + 2.718281828**-s)
        k = int(p1 > 0.5) ^ int(flip)
        preds.append({"label": ["a", "b"][k], "class_index": k, "probabilities": [1 - p1, p1 + skew]})
    return {"model": body["model"], "model_version": "1", "predictions": preds}


@pytest.fixture()
def http_server():
    servers = []

    def start(**kw):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                data = json.dumps(answer(body, **kw)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(srv)
        return f"127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()


@pytest.fixture()
def grpc_server():
    servers = []

    def start(**kw):
        class Service(predict_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):
                body = json_format.MessageToDict(request, preserving_proto_field_name=True)
                return json_format.ParseDict(answer(body, **kw), predict_pb2.PredictResponse())

        srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        predict_pb2_grpc.add_PredictionServiceServicer_to_server(Service(), srv)
        port = srv.add_insecure_port("127.0.0.1:0")
        srv.start()
        servers.append(srv)
        return f"127.0.0.1:{port}"

    yield start
    for srv in servers:
        srv.stop(0)


def gate(endpoints):
    return parity.run_gate(endpoints, META, batches=[1, 32], rows=3, tolerance=1e-6, local_reference=False)


def test_identical_answers_pass(http_server, grpc_server):
    out = gate([("a", "http-json", http_server()), ("a", "grpc", grpc_server()), ("b", "http-json", http_server())])
    assert out.ran and out.passed, out.failures
    assert out.answers_checked == 3 * 4  # 3 endpoints × (3 single rows + 1 batch of 32)
    assert out.max_abs_diff <= 1e-6


def test_probability_difference_blocks_and_names_endpoint(http_server, grpc_server):
    out = gate([("a", "http-json", http_server()), ("b", "grpc", grpc_server(skew=1e-5))])
    assert not out.passed
    assert all(f.startswith("b/grpc") and "model toy-model" in f for f in out.failures)
    assert "differs from a/http-json" in out.failures[0] and "1e-06" in out.failures[0]


def test_label_difference_blocks(http_server):
    out = gate([("a", "http-json", http_server()), ("b", "http-json", http_server(flip=True))])
    assert not out.passed
    assert any("label" in f for f in out.failures)


def test_unreachable_endpoint_blocks(http_server):
    out = gate([("a", "http-json", http_server()), ("b", "http-json", "127.0.0.1:1")])
    assert not out.passed and "no answer" in out.failures[0]


def test_differences_compare_as_float32():
    want = [{"label": "x", "class_index": 0, "probabilities": [0.1, 0.9], "value": None}]
    # JSON's shortest decimal of a float32 is not a difference once both sides are float32
    got = answers.as_float32(
        answers.from_json({"predictions": [{"label": "x", "class_index": 0, "probabilities": [0.1, 0.9]}]})
    )
    assert answers.differences(got, answers.as_float32(want), 1e-6)[0] == []
    problems, _ = answers.differences(got, [{**want[0], "class_index": 1}], 1e-6)
    assert problems == ["predictions[0].class_index = 0 expected 1"]
