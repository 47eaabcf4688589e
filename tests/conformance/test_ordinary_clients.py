"""Servers started with no flags serve ordinary clients (issue: admit by queueing time, not by a
count): a short form of the clients the admission rule was chosen for — the seed post's hey
command, 100 requests in flight, ghz with 20 calls on one connection and 100 over 10, 32-row
batches, and 1,024-row batches (249 KB of JSON each) at 10 in flight — every request answered 200 /
OK, none refused, none failed. The full form, with figures, is in proto/predict/v1/README.md
("Admission")."""

import json
import os
import subprocess

import pytest

from bench.analysis.parse import parse_ghz_json, parse_hey_csv
from bench.run import certs
from tests.conformance.conftest import ROOT, require

TOOLS = os.path.join(ROOT, ".tools", "bin")
PREDICT = "predict.v1.PredictionService.Predict"
FEATURES = {"iris-logreg": 4, "breast-cancer-rf": 30}
BODIES = {"iris": ("iris-logreg", 1), "rf32": ("breast-cancer-rf", 32), "rf1024": ("breast-cancer-rf", 1024)}
# (tool, body, requests, in flight, connections)
CLIENTS = [
    ("hey", "iris", 1000, 10, None),
    ("hey", "iris", 2000, 100, None),
    ("hey", "rf32", 300, 10, None),
    ("hey", "rf1024", 40, 10, None),
    ("ghz", "iris", 2000, 20, 1),
    ("ghz", "iris", 2000, 100, 10),
    ("ghz", "rf32", 300, 10, 1),
    ("ghz", "rf1024", 40, 10, 1),
]
SERVERS = {"python": ("hey", "ghz"), "go": ("hey", "ghz"), "python[rsgi]": ("hey",)}
CASES = [(s, c) for s, tools in SERVERS.items() for c in CLIENTS if c[0] in tools]


@pytest.fixture(scope="module")
def bodies(tmp_path_factory):
    out = tmp_path_factory.mktemp("bodies")
    for name, (model, rows) in BODIES.items():
        width = FEATURES[model]
        instances = [
            {"features": [round(0.1 + 0.03 * ((i * 7 + j) % 31), 3) for j in range(width)]} for i in range(rows)
        ]
        (out / (name + ".json")).write_text(json.dumps({"model": model, "instances": instances}))
    return out


@pytest.mark.parametrize("server,client", CASES, ids=["%s-%s-%s-n%d-c%d" % (s, *c[:4]) for s, c in CASES])
def test_an_ordinary_client_is_never_refused(server, client, servers, bodies, tmp_path):
    tool, body, requests, in_flight, connections = client
    path = str(bodies / (body + ".json"))
    binary = require(os.path.join(TOOLS, tool), tool, "tools")
    endpoints, ca = servers[server].endpoints, servers[server].ca  # ca: the suite runs over TLS
    if tool == "hey":
        argv = [binary, "-n", str(requests), "-c", str(in_flight), "-t", "30", "-o", "csv", "-m", "POST"]
        url = "%s://%s/v1/predict" % ("https" if ca else "http", endpoints["http"])
        # hey does not verify the certificate, and names the server (SNI) by the Host header:
        # "127.0.0.1:PORT" is no host name (rustls, under granian, refuses it); the certificate's is
        argv += ["-host", certs.SERVER_NAME] if ca else []
        argv += ["-T", "application/json", "-D", path, url]
    else:
        argv = [binary, *(["--cacert", ca] if ca else ["--insecure"]), "--call", PREDICT, "-D", path]
        argv += ["-n", str(requests), "-c", str(in_flight)]
        argv += ["--connections", str(connections), "-t", "30s", "-O", "json", endpoints["grpc"]]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    run = parse_hey_csv(done.stdout) if tool == "hey" else parse_ghz_json(done.stdout)
    assert run.errors == 0 and run.ok == requests, "%s: %d of %d answered OK; errors %s" % (
        server,
        run.ok,
        requests,
        run.error_kinds,
    )
