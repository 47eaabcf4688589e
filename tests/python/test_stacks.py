"""Every selectable Python stack (--http-server × --grpc-server) against the shared vectors of the
error table, the limits and the JSON mapping, over both protocols: the hosting changes, the
contract does not. (The default stack runs every vector in tests/conformance; readiness and
draining of each stack are in test_serve.py.)"""

import pytest

from tests.conformance.endpoints import GrpcEndpoint, HttpEndpoint, HttpProtobufEndpoint
from tests.vectors import vectorspec

STACKS = {
    "granian-wsgi+sync": ("--http-server", "granian-wsgi", "--grpc-server", "sync"),
    "gunicorn+aio": ("--http-server", "gunicorn", "--grpc-server", "aio"),
    "granian+aio": ("--http-server", "granian", "--grpc-server", "aio"),
}
FILES = ("errors.json", "limits.json", "json-mapping.json", "grpc-only.json")
VECTORS = [v for v in vectorspec.load() if v["_file"] in FILES]
WAYS = {"grpc": GrpcEndpoint, "http": HttpEndpoint, "http-protobuf": HttpProtobufEndpoint}


@pytest.fixture(scope="module", params=sorted(STACKS))
def stack(request, models_dir, tmp_path_factory):
    from tests.python.pyservice_harness import Server

    log_path = str(tmp_path_factory.mktemp("stack") / "server.log")
    server = Server(models_dir, *STACKS[request.param], log_path=log_path).wait_listening(["grpc", "http"])
    server.wait_ready()
    endpoints = {way: kind(way, server.addresses[way.split("-")[0]]) for way, kind in WAYS.items()}
    yield request.param, endpoints
    endpoints["grpc"].close()
    assert server.stop() == 0, server.log()


@pytest.mark.process
def test_vectors_on_every_stack(stack):
    name, endpoints = stack
    failures = []
    for vector in VECTORS:
        for way, endpoint in endpoints.items():
            if vectorspec.applies(vector, way):
                diffs = vectorspec.check(vector, endpoint.send(vector), endpoint.transport)
                if diffs:
                    failures.append(vectorspec.failure(vector, "%s %s" % (name, way), diffs))
    assert not failures, "\n".join(failures[:20])
