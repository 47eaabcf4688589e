"""predict.v1 and the Open Inference Protocol give identical predictions: for 1,000 seeded random
rows per default model (test_endpoint_parity's), sent in batches, each V2 server answers the same
labels, class indices, probabilities and values over V2 REST with JSON data, V2 REST with binary
tensor data in and out, V2 gRPC with typed contents and with raw contents (REST alone on a server
without gRPC), as over its own predict.v1 HTTP JSON route: exactly (the same core, read back as the
float32 the wire carries). tritonclient's answers are compared the same way in
test_v2_tritonclient.py."""

import pytest

from python_service import answers as compare
from python_service.export.defaults import DEFAULT_RECIPES
from tests.conformance.endpoints import HttpEndpoint, as_float32
from tests.conformance.test_endpoint_parity import BATCH, ROWS, SEED, random_rows
from tests.conformance.v2_endpoints import V2_HTTP_SERVERS, V2_SERVERS, predictions, raw

WAYS = ("json", "binary", "grpc", "grpc-raw")


def v2_request(model, rows, way, v2):
    """The rows over one V2 way; the normalized answer."""
    tensor = {"name": "input", "datatype": "FP32", "shape": [len(rows), len(rows[0])]}
    data = [x for row in rows for x in row]
    if way == "json":
        return v2["http"].infer(model, {"inputs": [dict(tensor, data=rows)]})
    if way == "binary":
        body = raw("FP32", data)
        doc = {
            "inputs": [dict(tensor, parameters={"binary_data_size": len(body)})],
            "parameters": {"binary_data_output": True},
        }
        return v2["http"].infer(model, doc, binary_input=body)
    case = {"model": model, "request": {"inputs": [dict(tensor, data=data)]}}
    return v2["grpc"].send(case, way)


@pytest.mark.parametrize("server", V2_HTTP_SERVERS)
@pytest.mark.parametrize("index,recipe", list(enumerate(DEFAULT_RECIPES)), ids=[r.name for r in DEFAULT_RECIPES])
def test_v2_equals_predict_v1(index, recipe, server, v2_servers, v2_clients):
    rows = random_rows(recipe, SEED + index)
    v1 = HttpEndpoint("%s-http" % server, v2_servers[server].endpoints["http"], v2_servers[server].ca)
    ways = WAYS if server in V2_SERVERS else ("json", "binary")
    want, got = [], {way: [] for way in ways}
    for start in range(0, ROWS, BATCH):
        batch = rows[start : start + BATCH]
        ref = v1.predict(recipe.name, batch)
        assert ref["ok"] and not ref.get("problems"), ref
        want += as_float32(ref)
        for way in ways:
            answer = v2_request(recipe.name, batch, way, v2_clients[server])
            assert answer["ok"] and not answer["problems"], "%s over %s: %r" % (recipe.name, way, answer)
            got[way] += compare.as_float32(predictions(answer))
    diffs = []
    for way in ways:
        found, _ = compare.differences(got[way], want, 0.0)
        diffs += ["%s on %s: V2 %s vs predict.v1: %s" % (recipe.name, server, way, d) for d in found]
    if diffs:
        pytest.fail("\n".join(diffs[:20] + ["... %d differences in all" % len(diffs)]), pytrace=False)
