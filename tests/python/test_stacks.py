"""Every selectable Python stack (--http-server × --grpc-server) against the shared vectors of the
error table, the limits and the JSON mapping, over both protocols, and against every shared Open
Inference Protocol (V2) case by each of its ways: the hosting changes, the contract does not. (The
default stack runs every vector and V2 case in tests/conformance; readiness and draining of each
stack are in test_serve.py.)"""

import pytest

from tests.conformance.endpoints import GrpcEndpoint, HttpEndpoint, HttpProtobufEndpoint
from tests.conformance.v2_endpoints import V2Grpc, V2Http, check, conditions, load_cases
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
    v2 = {"http": V2Http(server.addresses["http"]), "grpc": V2Grpc(server.addresses["grpc"])}
    yield request.param, endpoints, v2
    endpoints["grpc"].close()
    v2["grpc"].close()
    assert server.stop() == 0, server.log()


@pytest.mark.process
def test_vectors_on_every_stack(stack):
    name, endpoints, _ = stack
    failures = []
    for vector in VECTORS:
        for way, endpoint in endpoints.items():
            if vectorspec.applies(vector, way):
                diffs = vectorspec.check(vector, endpoint.send(vector), endpoint.transport)
                if diffs:
                    failures.append(vectorspec.failure(vector, "%s %s" % (name, way), diffs))
    assert not failures, "\n".join(failures[:20])


@pytest.mark.process
def test_v2_cases_on_every_stack(stack):
    name, _, clients = stack
    failures, conds = [], conditions()
    for case in load_cases():
        for way in case["ways"]:
            got = clients["grpc" if way.startswith("grpc") else "http"].send(case, way)
            diffs = check(case, way, got, conds)
            if diffs:
                failures.append("case %r over %s on %s: %s" % (case["name"], way, name, "; ".join(diffs)))
    assert not failures, "\n".join(failures[:20])
