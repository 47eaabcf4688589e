"""Every vector of tests/vectors against every endpoint it applies to (each server over each way in:
gRPC unary and stream, HTTP JSON and protobuf). A failure names the vector, the endpoint and each
difference."""

import pytest

from tests.conformance.endpoints import ENDPOINTS
from tests.vectors import vectorspec

VECTORS = vectorspec.load()
CASES = [
    (vector, endpoint)
    for vector in VECTORS
    for endpoint in ENDPOINTS
    if vectorspec.applies(vector, endpoint.split("-", 1)[1])
]


@pytest.mark.parametrize("vector,endpoint", CASES, ids=["%s@%s" % (v["name"], e) for v, e in CASES])
def test_vector(vector, endpoint, endpoints):
    target = endpoints[endpoint]
    got = target.send(vector)
    diffs = vectorspec.check(vector, got, target.transport)
    if diffs:
        pytest.fail(vectorspec.failure(vector, endpoint, diffs), pytrace=False)


def test_every_vector_runs_somewhere():
    """No vector is silently filtered out: each applies to at least two endpoints."""
    for vector in VECTORS:
        count = sum(1 for v, _ in CASES if v is vector)
        assert count >= 2, "vector %r applies to %d endpoints" % (vector["name"], count)
