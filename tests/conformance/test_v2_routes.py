"""The Open Inference Protocol's REST routes (proto/inference/routes.json) and gRPC health and
metadata RPCs on every V2 server: methods and Allow, {"error"} bodies, health, server and model
metadata (proto/inference/model.json, the same over REST and gRPC), grpcurl finding
inference.GRPCInferenceService by reflection alone, and the requests counted in /metrics. REST on
V2_HTTP_SERVERS, gRPC on V2_SERVERS."""

import base64
import json
import struct
import subprocess

import grpc
import pytest
from google.protobuf import json_format

from python_service.gen.inference import open_inference_grpc_pb2 as pb
from tests.conformance.conftest import grpcurl_transport
from tests.conformance.v2_endpoints import V2_HTTP_SERVERS, V2_SERVERS, contract

ROUTES = contract("routes.json")["routes"]
MODEL = contract("model.json")
SERVICE = "inference.GRPCInferenceService"
RPCS = ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer")
IRIS = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [5.1, 3.5, 1.4, 0.2]}]}


def error_body(status, headers, body):
    doc = json.loads(body)
    assert headers["content-type"].startswith("application/json"), headers
    assert set(doc) == {"error"} and isinstance(doc["error"], str) and doc["error"], (status, doc)
    return doc["error"]


@pytest.mark.parametrize("route", ROUTES, ids=["%s %s" % (r["method"], r["path"]) for r in ROUTES])
@pytest.mark.parametrize("server", V2_HTTP_SERVERS)
def test_route_methods(server, route, v2_clients):
    http = v2_clients[server]["http"]
    for method in route["allow"]:
        status, _, body = http.call(method, route["example_path"], json.dumps(IRIS).encode())
        assert status == 200, (method, route["example_path"], status, body[:300])
    for method in {"GET", "POST", "PUT", "DELETE"} - set(route["allow"]):
        status, headers, body = http.call(method, route["example_path"], json.dumps(IRIS).encode())
        assert status == 405 and headers.get("allow") == ", ".join(route["allow"]), (method, status, headers)
        error_body(status, headers, body)


@pytest.mark.parametrize("path", ["/v2/nope", "/v2/models", "/v2/models/iris-logreg/versions"])
@pytest.mark.parametrize("server", V2_HTTP_SERVERS)
def test_unknown_route(server, path, v2_clients):
    status, headers, body = v2_clients[server]["http"].call("GET", path)
    assert status == 404
    error_body(status, headers, body)


def expected_metadata(info):
    """model.json resolved for a model described by predict.v1's GetModel."""
    task = info["task"]

    def resolve(t):
        shape = [
            info["n_features"] if d == "n_features" else len(info["class_labels"]) if d == "n_classes" else d
            for d in t["shape"]
        ]
        name = info["input_name"] if t["name"] == "input_name" else t["name"]
        return {"name": name, "datatype": t["datatype"], "shape": shape}

    return {
        "name": info["name"],
        "versions": [info["version"]],
        "platform": MODEL["platform"],
        "inputs": [resolve(t) for t in MODEL["inputs"]],
        "outputs": [resolve(t) for t in MODEL["outputs"][task]],
        "properties": {"task": task, "sha256": info["sha256"]},
    }


@pytest.mark.parametrize("server", V2_HTTP_SERVERS)
def test_health_and_metadata(server, v2_clients):
    http = v2_clients[server]["http"]
    assert http.get_json("/v2/health/live")[::2] == (200, {"live": True})
    assert http.get_json("/v2/health/ready")[::2] == (200, {"ready": True})
    assert http.get_json("/v2")[::2] == (200, MODEL["server"])
    status, _, models = http.get_json("/v1/models")
    assert status == 200
    for info in models["models"]:
        want = expected_metadata(info)
        for path in ("/v2/models/%s" % info["name"], "/v2/models/%s/versions/%s" % (info["name"], info["version"])):
            assert http.get_json(path)[::2] == (200, want), path
            assert http.get_json(path + "/ready")[::2] == (200, {"name": info["name"], "ready": True})
    for path in ("/v2/models/nope/ready", "/v2/models/iris-logreg/versions/999/ready", "/v2/models/nope"):
        status, headers, body = http.call("GET", path)
        assert status == 404, path
        error_body(status, headers, body)


@pytest.mark.parametrize("server", V2_SERVERS)
def test_grpc_health_and_metadata(server, v2_clients):
    """The gRPC health and metadata RPCs answer as the REST routes (checked above) do."""
    http, grpc_ = v2_clients[server]["http"], v2_clients[server]["grpc"].stub
    assert grpc_.ServerLive(pb.ServerLiveRequest(), timeout=30).live
    assert grpc_.ServerReady(pb.ServerReadyRequest(), timeout=30).ready
    got = json_format.MessageToDict(
        grpc_.ServerMetadata(pb.ServerMetadataRequest(), timeout=30), preserving_proto_field_name=True
    )
    assert got == MODEL["server"]
    status, _, models = http.get_json("/v1/models")
    assert status == 200
    for info in models["models"]:
        message = grpc_.ModelMetadata(pb.ModelMetadataRequest(name=info["name"]), timeout=30)
        got = json_format.MessageToDict(message, preserving_proto_field_name=True)
        for t in got["inputs"] + got["outputs"]:
            t["shape"] = [int(d) for d in t["shape"]]  # int64 is a string in the JSON mapping
        assert got == expected_metadata(info)
        assert grpc_.ModelReady(pb.ModelReadyRequest(name=info["name"], version=info["version"]), timeout=30).ready
    for request in (pb.ModelReadyRequest(name="nope"), pb.ModelReadyRequest(name="iris-logreg", version="999")):
        with pytest.raises(grpc.RpcError) as refused:
            grpc_.ModelReady(request, timeout=30)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND, request


def grpcurl_run(grpcurl, server, *args, data=None):
    argv = [grpcurl, *grpcurl_transport(server), *(["-d", "@"] if data is not None else []), server.endpoints["grpc"]]
    return subprocess.run([*argv, *args], input=data, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("server", V2_SERVERS)
def test_grpcurl(server, v2_servers, grpcurl):
    """grpcurl lists the service and its six RPCs by reflection and calls ModelInfer with typed
    contents; the label comes back in raw_output_contents."""
    address = v2_servers[server]  # the server: grpcurl_run reads its gRPC endpoint and CA
    done = grpcurl_run(grpcurl, address, "list")
    assert done.returncode == 0 and SERVICE in done.stdout.split(), done.stdout + done.stderr
    done = grpcurl_run(grpcurl, address, "list", SERVICE)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == {"%s.%s" % (SERVICE, rpc) for rpc in RPCS}, done.stdout
    request = {
        "model_name": "iris-logreg",
        "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [1, 4], "contents": {"fp32_contents": [5.1, 3.5, 1.4, 0.2]}}
        ],
        "outputs": [{"name": "label"}],
    }
    done = grpcurl_run(grpcurl, address, SERVICE + "/ModelInfer", data=json.dumps(request))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    # grpcurl prints a field's json_name where reflection's descriptor has one (grpc-go's does:
    # lowerCamelCase), else its proto name (grpcio's): either is the JSON mapping's
    raw = answer.get("rawOutputContents", answer.get("raw_output_contents"))
    assert raw is not None, answer
    label = base64.b64decode(raw[0])
    assert label == struct.pack("<I", 6) + b"setosa", answer
    done = grpcurl_run(grpcurl, address, SERVICE + "/ModelInfer", data=json.dumps(dict(request, model_name="nope")))
    assert done.returncode == 64 + 5, done.stderr  # NOT_FOUND


@pytest.mark.parametrize("server", V2_HTTP_SERVERS)
def test_metrics_count_v2(server, v2_clients):
    http = v2_clients[server]["http"]
    assert http.call("POST", "/v2/models/iris-logreg/infer", json.dumps(IRIS).encode())[0] == 200
    protocols = ("http", "grpc") if server in V2_SERVERS else ("http",)
    if "grpc" in protocols:
        message = pb.ModelInferRequest(model_name="iris-logreg")
        tensor = message.inputs.add(name="input", datatype="FP32", shape=[1, 4])
        tensor.contents.fp32_contents.extend([5.1, 3.5, 1.4, 0.2])
        v2_clients[server]["grpc"].stub.ModelInfer(message, timeout=30)
    status, _, text = http.call("GET", "/metrics")
    assert status == 200
    for protocol in protocols:
        lines = [
            line
            for line in text.decode().splitlines()
            if line.startswith("servebench_requests_total{")
            and 'method="ModelInfer"' in line
            and 'protocol="%s"' % protocol in line
            and 'code="OK"' in line
        ]
        assert lines and float(lines[0].rsplit(" ", 1)[1]) >= 1, (protocol, lines)
