"""A real third-party gRPC client: grpcurl (pinned in the Makefile, `make tools`) finds the
service through server reflection alone (no .proto file), calls Predict on both servers and
checks the answers against the vectors, and the standard health check says SERVING."""

import json
import subprocess

import pytest

from tests.conformance.conftest import grpcurl_transport
from tests.conformance.endpoints import normalize_json
from tests.vectors import vectorspec

SERVERS = ("python", "go")
SERVICE = "predict.v1.PredictionService"
VECTORS = {v["name"]: v for v in vectorspec.load()}
PREDICT_VECTORS = [
    "seed-example",
    "numbers-as-strings",
    "iris-logreg-boundary-0",
    "breast-cancer-rf-heldout-0",
    "digits-mlp-boundary-1",
    "diabetes-gbr-heldout-0",
    "iris-logreg-batch-64",
]
ERROR_VECTORS = ["unknown-model", "empty-object", "nan-string", "ragged-rows"]
# grpcurl prints the JSON mapping's lowerCamelCase names.
CAMEL = {"modelVersion": "model_version", "classIndex": "class_index"}


def run(grpcurl, server, *args, data=None):
    """grpcurl against a server's gRPC endpoint (plaintext, or TLS verified with its CA)."""
    argv = [grpcurl, *grpcurl_transport(server), *(["-d", "@"] if data is not None else []), server.endpoints["grpc"]]
    return subprocess.run(argv + list(args), input=data, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("server", SERVERS)
def test_reflection_lists_service(server, servers, grpcurl):
    services = run(grpcurl, servers[server], "list")
    assert services.returncode == 0, services.stderr
    assert {SERVICE, "grpc.health.v1.Health"} <= set(services.stdout.split()), services.stdout
    methods = run(grpcurl, servers[server], "list", SERVICE)
    assert methods.returncode == 0, methods.stderr
    assert {SERVICE + "." + m for m in ("Predict", "ListModels", "GetModel")} <= set(methods.stdout.split()), (
        methods.stdout
    )


@pytest.mark.parametrize("name", PREDICT_VECTORS)
@pytest.mark.parametrize("server", SERVERS)
def test_predict(server, name, servers, grpcurl):
    vector = VECTORS[name]
    done = run(grpcurl, servers[server], SERVICE + "/Predict", data=json.dumps(vector["request"]))
    assert done.returncode == 0, "grpcurl on %s-grpc: %s" % (server, done.stderr)
    got = normalize_json(json.loads(done.stdout), aliases=CAMEL)
    diffs = vectorspec.check(vector, got, "grpc")
    if diffs:
        pytest.fail(vectorspec.failure(vector, "grpcurl→%s-grpc" % server, diffs), pytrace=False)


@pytest.mark.parametrize("name", ERROR_VECTORS)
@pytest.mark.parametrize("server", SERVERS)
def test_predict_error(server, name, servers, grpcurl):
    """grpcurl exits with 64 + the gRPC status code of a failed call."""
    vector = VECTORS[name]
    want = vector["expect"]["error"]["grpc_code"]
    done = run(grpcurl, servers[server], SERVICE + "/Predict", data=json.dumps(vector["request"]))
    if done.returncode != 64 + vectorspec.GRPC_CODES[want]:
        pytest.fail(
            "vector %r on grpcurl→%s-grpc: exit %d, expected %d (%s); output: %s"
            % (
                name,
                server,
                done.returncode,
                64 + vectorspec.GRPC_CODES[want],
                want,
                " ".join((done.stderr or done.stdout).split())[:300],
            ),
            pytrace=False,
        )


@pytest.mark.parametrize("service", ["", SERVICE])
@pytest.mark.parametrize("server", SERVERS)
def test_health_serving(server, service, servers, grpcurl):
    done = run(grpcurl, servers[server], "grpc.health.v1.Health/Check", data=json.dumps({"service": service}))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "SERVING"}, done.stdout
