"""The protocol's reference client, tritonclient (HTTP and gRPC), against every V2 server: its own
descriptors of the `inference` messages match ours field for field; health and metadata; its
predictions (binary and JSON tensors over HTTP, raw contents over gRPC) identical to predict.v1's
for the same rows on all four models; and the errors it reports for requests the server refuses.
tritonclient runs in a child process (v2_tritonclient.py says why), once per server; its HTTP
client on V2_HTTP_SERVERS, its gRPC client on V2_SERVERS."""

import glob
import json
import os
import subprocess
import sys

import pytest

from python_service import answers as compare
from python_service.export.defaults import DEFAULT_RECIPES
from python_service.gen.inference import open_inference_grpc_pb2 as pb
from tests.conformance.endpoints import HttpEndpoint, as_float32
from tests.conformance.test_endpoint_parity import BATCH, ROWS, SEED, random_rows
from tests.conformance.v2_endpoints import ROOT, V2_HTTP_SERVERS, V2_SERVERS, contract

SETOSA = [[5.1, 3.5, 1.4, 0.2]]
# (name, what tritonclient sends), the error it must report: (HTTP status, gRPC code).
ERRORS = [
    ("unknown-model", {"model": "no-such-model", "rows": SETOSA}, ("404", "StatusCode.NOT_FOUND")),
    ("unknown-version", {"model": "iris-logreg", "version": "999", "rows": SETOSA}, ("404", "StatusCode.NOT_FOUND")),
    (
        "wrong-input-name",
        {"model": "iris-logreg", "input_name": "x", "rows": SETOSA},
        ("400", "StatusCode.INVALID_ARGUMENT"),
    ),
    (
        "datatype-fp64",
        {"model": "iris-logreg", "datatype": "FP64", "rows": SETOSA},
        ("400", "StatusCode.INVALID_ARGUMENT"),
    ),
    ("wrong-width", {"model": "iris-logreg", "rows": [[5.1, 3.5, 1.4]]}, ("400", "StatusCode.INVALID_ARGUMENT")),
    (
        "unknown-output",
        {"model": "iris-logreg", "rows": SETOSA, "outputs": [["scores", True]]},
        ("400", "StatusCode.INVALID_ARGUMENT"),
    ),
]
# The ways tritonclient sends an inference → its api: HTTP with binary tensors in and out (its
# default), HTTP with JSON tensors, gRPC (raw contents).
WAYS = {"http-binary": "http", "http-json": "http", "grpc": "grpc"}


def apis(server):
    """The tritonclient APIs a server is checked with: HTTP, and gRPC where it serves gRPC."""
    return ("http", "grpc") if server in V2_SERVERS else ("http",)


SERVER_APIS = [(server, api) for server in V2_HTTP_SERVERS for api in apis(server)]


def task_of(model):
    """The model's task, from its metadata.json in models/."""
    (path,) = glob.glob(os.path.join(ROOT, "models", model, "*", "metadata.json"))
    with open(path, encoding="utf-8") as f:
        return json.load(f)["task"]


def plan(server):
    calls = [{"id": "descriptors", "kind": "descriptors"}]
    models = [r.name for r in DEFAULT_RECIPES]
    for api in apis(server):
        calls.append({"id": "health-" + api, "api": api, "kind": "health", "models": models})
        calls.append({"id": "server-" + api, "api": api, "kind": "server_metadata"})
        for model in models:
            calls.append({"id": "meta-%s-%s" % (api, model), "api": api, "kind": "model_metadata", "model": model})
        for name, call, _ in ERRORS:
            calls.append(dict(call, id="error-%s-%s" % (api, name), api=api, kind="infer"))
    for index, recipe in enumerate(DEFAULT_RECIPES):
        rows = random_rows(recipe, SEED + index)
        for way, api in WAYS.items():
            if api not in apis(server):
                continue
            for start in range(0, ROWS, BATCH):
                call = {"api": api, "kind": "infer", "model": recipe.name, "rows": rows[start : start + BATCH]}
                if way == "http-json":
                    outputs = contract("model.json")["outputs"][task_of(recipe.name)]
                    call.update(binary_input=False, outputs=[[o["name"], False] for o in outputs])
                calls.append(dict(call, id="parity-%s-%s-%d" % (way, recipe.name, start)))
    return calls


@pytest.fixture(scope="module")
def tritonclient_results(v2_servers):
    """server → {call id: result} of one tritonclient child per server."""
    out = {}
    for name, server in v2_servers.items():
        doc = {api: server.endpoints[api] for api in apis(name)}
        doc["ca"] = server.ca
        doc["calls"] = plan(name)
        done = subprocess.run(
            [sys.executable, "-m", "tests.conformance.v2_tritonclient"],
            input=json.dumps(doc),
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=ROOT),
        )
        assert done.returncode == 0, "tritonclient child failed:\n%s" % done.stderr[-3000:]
        out[name] = json.loads(done.stdout)["results"]
    return out


def _field(f):
    """A field as [number, type, repeated, message type]."""
    return [f.number, f.type, f.is_repeated, f.message_type.full_name if f.message_type else None]


def our_descriptors():
    out = {}
    for message in pb.DESCRIPTOR.message_types_by_name.values():
        for m in [message, *message.nested_types]:
            out[m.full_name] = {f.name: _field(f) for f in m.fields}
    return out


@pytest.mark.parametrize("server", V2_SERVERS)
def test_same_messages_as_tritonclient(server, tritonclient_results):
    """Every message and field of proto/inference exists in tritonclient's grpc_service.proto with
    the same number, type, cardinality and message type (Triton's file has more messages; ours only
    the six RPCs'), but for the published specification's ModelMetadataResponse.properties (field 6),
    which Triton's lacks: a Triton client skips it as an unknown field."""
    theirs = tritonclient_results[server]["descriptors"]
    spec_only = {"inference.ModelMetadataResponse.properties", "inference.ModelMetadataResponse.PropertiesEntry"}
    compared = 0
    for message, fields in our_descriptors().items():
        if message in spec_only:
            continue
        assert message in theirs, message
        for field, spec in fields.items():
            if "%s.%s" % (message, field) not in spec_only:
                assert theirs[message].get(field) == spec, (message, field, spec, theirs[message].get(field))
                compared += 1
    assert compared >= 40, compared


@pytest.mark.parametrize("server,api", SERVER_APIS)
def test_health_and_metadata(server, api, tritonclient_results, v2_clients):
    results = tritonclient_results[server]
    health = results["health-" + api]
    assert health["live"] and health["ready"] and all(health["model_ready"].values()), health
    assert {k: results["server-" + api][k] for k in ("name", "version", "extensions")} == contract("model.json")[
        "server"
    ]
    for recipe in DEFAULT_RECIPES:
        got = results["meta-%s-%s" % (api, recipe.name)]
        status, _, want = v2_clients[server]["http"].get_json("/v2/models/" + recipe.name)
        assert status == 200
        for t in got["inputs"] + got["outputs"]:
            t["shape"] = [int(d) for d in t["shape"]]
        if api == "grpc":
            want.pop("properties")  # tritonclient's proto lacks field 6
        assert got == want, (api, recipe.name)


@pytest.mark.parametrize("name,call,want", ERRORS, ids=[e[0] for e in ERRORS])
@pytest.mark.parametrize("server,api", SERVER_APIS)
def test_errors(server, api, name, call, want, tritonclient_results):
    got = tritonclient_results[server]["error-%s-%s" % (api, name)]
    assert "error" in got, "tritonclient %s %s: answered %r" % (api, name, got)
    assert got["error"]["status"] == want[api == "grpc"] and got["error"]["message"], got


def prediction_rows(result):
    """A tritonclient result's outputs as predict.v1's normalized predictions."""
    outs = result["outputs"]
    if "value" in outs:
        return [{"label": None, "class_index": None, "probabilities": [], "value": v} for v in outs["value"]["data"]]
    width = outs["probabilities"]["shape"][1]
    probs = outs["probabilities"]["data"]
    return [
        {"label": label, "class_index": index, "probabilities": probs[i * width : (i + 1) * width], "value": None}
        for i, (label, index) in enumerate(zip(outs["label"]["data"], outs["class_index"]["data"]))
    ]


@pytest.mark.parametrize("index,recipe", list(enumerate(DEFAULT_RECIPES)), ids=[r.name for r in DEFAULT_RECIPES])
@pytest.mark.parametrize(
    "server,way", [(server, way) for server in V2_HTTP_SERVERS for way, api in WAYS.items() if api in apis(server)]
)
def test_parity(server, index, recipe, way, tritonclient_results, v2_servers):
    rows = random_rows(recipe, SEED + index)
    v1 = HttpEndpoint("%s-http" % server, v2_servers[server].endpoints["http"], v2_servers[server].ca)
    want, got = [], []
    for start in range(0, ROWS, BATCH):
        ref = v1.predict(recipe.name, rows[start : start + BATCH])
        assert ref["ok"], ref
        want += as_float32(ref)
        result = tritonclient_results[server]["parity-%s-%s-%d" % (way, recipe.name, start)]
        assert "error" not in result, result
        assert result["model_name"] == recipe.name and result["model_version"] == ref["model_version"], result
        got += compare.as_float32(prediction_rows(result))
    diffs, _ = compare.differences(got, want, 0.0)
    if diffs:
        pytest.fail(
            "tritonclient %s on %s, %s vs predict.v1:\n%s" % (way, server, recipe.name, "\n".join(diffs[:20])),
            pytrace=False,
        )
