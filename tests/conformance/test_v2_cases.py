"""Every shared Open Inference Protocol case (tests/vectors/v2/cases.json) on every V2 server, by
each of its ways in: REST with JSON data, REST with binary tensor data, a raw REST body (on every
V2_HTTP_SERVERS server), gRPC ModelInfer with typed contents or raw_input_contents (V2_SERVERS). A
failure names the case, the way, the server and each difference."""

import pytest

from tests.conformance.v2_endpoints import V2_HTTP_SERVERS, V2_SERVERS, check, conditions, load_cases

CASES = load_cases()
CONDITIONS = conditions()
PARAMS = [
    (case, way, server)
    for case in CASES
    for way in case["ways"]
    for server in (V2_SERVERS if way.startswith("grpc") else V2_HTTP_SERVERS)
]


@pytest.mark.parametrize("case,way,server", PARAMS, ids=["%s@%s@%s" % (c["name"], w, s) for c, w, s in PARAMS])
def test_case(case, way, server, v2_clients):
    client = v2_clients[server]["grpc" if way.startswith("grpc") else "http"]
    got = client.send(case, way)
    diffs = check(case, way, got, CONDITIONS)
    if diffs:
        pytest.fail("case %r over %s on %s:\n  %s" % (case["name"], way, server, "\n  ".join(diffs)), pytrace=False)
