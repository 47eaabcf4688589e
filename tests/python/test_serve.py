"""`python -m python_service serve` as a process tree: identical answers on both protocols,
startup refusals, the flags that change the tree, and graceful shutdown on SIGTERM / SIGINT."""

import hashlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import time

import grpc
import numpy as np
import psutil
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from python_service.gen.predict.v1 import predict_pb2, predict_pb2_grpc
from python_service.server.grpcapi.server import SERVICE_NAME
from tests.python.pyservice_harness import ROOT, SETOSA, http_call, post_predict, predict_request

pytestmark = pytest.mark.process  # starts server processes

# Every selectable Python stack: (--http-server, --grpc-server) flags.
STACKS = [
    ("--http-server", h, "--grpc-server", g)
    for h, g in (("granian", "sync"), ("granian-wsgi", "aio"), ("gunicorn", "aio"), ("granian", "aio"))
]
STACK_IDS = ["granian+sync", "granian-wsgi+aio", "gunicorn+aio", "granian+aio"]

WIDTHS = {"iris-logreg": 4, "breast-cancer-rf": 30, "digits-mlp": 64, "diabetes-gbr": 10}


def both_protocols(server, request):
    """(gRPC answer, HTTP answer parsed into the same message type)."""
    over_grpc = server.stub.Predict(request, timeout=30)
    status, _, body = post_predict(server.http, json_format.MessageToJson(request))
    assert status == 200, body
    return over_grpc, json_format.Parse(body, predict_pb2.PredictResponse())


def test_seed_example_identical_on_both_protocols(server):
    over_grpc, over_http = both_protocols(server, predict_request("iris-logreg", [SETOSA]))
    assert over_grpc.predictions[0].label == "setosa"
    assert over_grpc == over_http  # float32 probabilities survive the JSON round trip exactly


@pytest.mark.parametrize("name", sorted(WIDTHS))
def test_every_model_identical_on_both_protocols(server, name):
    rows = np.random.default_rng(7).normal(size=(33, WIDTHS[name])).astype(np.float32)
    over_grpc, over_http = both_protocols(server, predict_request(name, rows.tolist()))
    assert len(over_grpc.predictions) == 33
    assert over_grpc == over_http


def children(proc):
    return psutil.Process(proc.pid).children(recursive=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_whole_tree_with_status_0(start_server, sig):
    server = start_server()
    tree = children(server.proc)
    assert tree, "expected gunicorn worker processes"
    assert server.stop(sig, timeout=30) == 0, server.log()
    assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("stack", STACKS, ids=STACK_IDS)
def test_drain_answers_in_flight_work_and_refuses_new_work(start_server, stack):
    """SIGTERM while an HTTP request's body is still arriving and a health Watch is open: the
    watch sees NOT_SERVING, new gRPC predictions get UNAVAILABLE, the pending HTTP request is
    still answered in full (in-flight requests finish), new HTTP connections are refused, and the
    tree exits 0."""
    server = start_server(*stack)
    watch = health_pb2_grpc.HealthStub(server.channel).Watch(
        health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=30
    )
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    host, port = server.http.rsplit(":", 1)
    body = json.dumps({"model": "iris-logreg", "instances": [{"features": SETOSA}]}).encode()
    head = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body)  # a whole first request: the worker now holds the connection
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"HTTP/1.1 200")
        headers = list(iter(reader.readline, b"\r\n"))
        reader.read(next(int(h.split(b":")[1]) for h in headers if h.lower().startswith(b"content-length:")))
        sock.sendall(head + body[:10])
        time.sleep(0.2)
        server.proc.send_signal(signal.SIGTERM)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as err:
            server.stub.Predict(predict_request("iris-logreg", [SETOSA]), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(OSError):  # the listener is closed: no new connection
            for _ in range(50):
                http_call(server.http, "GET", "/readyz", timeout=2)
                time.sleep(0.1)
        sock.sendall(body[10:])
        assert reader.readline().startswith(b"HTTP/1.1 200")
        headers = list(iter(reader.readline, b"\r\n"))
        length = next(int(h.split(b":")[1]) for h in headers if h.lower().startswith(b"content-length:"))
        assert json.loads(reader.read(length))["predictions"][0]["label"] == "setosa"
    watch.cancel()
    assert server.stop(timeout=30) == 0, server.log()


def workers(proc):
    """(HTTP worker processes, gRPC worker processes) of a serving tree."""
    http_host, *grpc_workers = sorted(
        psutil.Process(proc.pid).children(), key=lambda p: "grpc_host" in " ".join(p.cmdline())
    )
    return http_host.children(), grpc_workers


@pytest.mark.parametrize("stack", STACKS, ids=STACK_IDS)
def test_two_workers_share_both_ports(start_server, stack):
    server = start_server("--workers", "2", *stack)
    http_workers, grpc_workers = workers(server.proc)
    assert len(http_workers) == 2 and len(grpc_workers) == 2
    log = server.log()
    assert log.count("grpc listening on") == 1 and log.count("http listening on") == 1
    for _ in range(10):  # new connections land on either worker
        assert post_predict(server.http, {"model": "iris-logreg", "instances": [{"features": SETOSA}]})[0] == 200
        with grpc.insecure_channel(server.grpc) as channel:
            stub = predict_pb2_grpc.PredictionServiceStub(channel)
            assert stub.Predict(predict_request("iris-logreg", [SETOSA]), timeout=10).predictions
    assert server.stop() == 0, server.log()


def test_grpc_only(start_server):
    server = start_server("--workers", "2", http_addr="")
    assert "http listening" not in server.log()
    assert server.stub.Predict(predict_request("iris-logreg", [SETOSA])).predictions
    assert server.stop() == 0, server.log()


def test_http_only(start_server):
    server = start_server(grpc_addr="")
    assert "grpc listening" not in server.log()
    assert http_call(server.http, "GET", "/readyz")[0] == 200
    assert server.stop() == 0, server.log()


def run_serve(*args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "python_service", "serve", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_sha256_mismatch_refuses_to_start(models_dir, tmp_path):
    shutil.copytree("%s/iris-logreg" % models_dir, tmp_path / "iris-logreg")
    with open(tmp_path / "iris-logreg/1/model.onnx", "ab") as f:
        f.write(b"tampered")
    result = run_serve("--models", str(tmp_path), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python_service: error: ")
    assert "sha256 mismatch" in lines[0] and "iris-logreg" in lines[0]
    assert "listening" not in result.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["--models", "/nonexistent"], "does not exist"),
        (["--grpc-addr", "", "--http-addr", ""], "nothing to serve"),
        (["--grpc-addr", "nonsense"], "HOST:PORT"),
    ],
)
def test_bad_configuration_is_one_line(args, words):
    result = run_serve(*args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr


def test_busy_grpc_port_is_refused_not_shared(server, models_dir):
    result = run_serve("--models", models_dir, "--grpc-addr", server.grpc, "--http-addr", "127.0.0.1:0")
    assert result.returncode == 1
    assert "in use" in result.stderr and "listening" not in result.stderr


def test_model_onnx_refuses_to_load(models_dir, tmp_path):
    """A file whose sha256 matches but which ONNX Runtime cannot load: the worker says why in
    one line and the whole tree exits non-zero."""
    shutil.copytree("%s/iris-logreg" % models_dir, tmp_path / "iris-logreg")
    (tmp_path / "iris-logreg/1/model.onnx").write_bytes(b"not an onnx model")
    meta_path = tmp_path / "iris-logreg/1/metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["sha256"] = hashlib.sha256(b"not an onnx model").hexdigest()
    meta_path.write_text(json.dumps(meta))
    result = run_serve("--models", str(tmp_path), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "python_service: error:" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "iris-logreg/1/model.onnx" in errors[0]
    assert result.returncode == 4  # gunicorn's "app failed to load": the master stops, no respawn


def test_skipped_version_is_named_in_one_line(start_server, models_dir, tmp_path):
    """A version directory without metadata.json beside a good one: served from the good one, and
    named once by the supervisor (not once more by every worker that loads the repository)."""
    shutil.copytree("%s/iris-logreg/1" % models_dir, tmp_path / "iris-logreg/1")
    (tmp_path / "iris-logreg/2").mkdir()
    server = start_server(models=str(tmp_path), grpc_addr="127.0.0.1:0", http_addr="127.0.0.1:0")
    assert server.stub.Predict(predict_request("iris-logreg", [SETOSA]), timeout=10).model_version == "1"
    skipped = [line for line in server.log().splitlines() if "iris-logreg/2" in line]
    assert len(skipped) == 1 and "no metadata.json" in skipped[0], skipped
