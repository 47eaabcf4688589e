"""The bench over V2 at real servers: servebench's Go server as a V2 server the bench did not start
(its model metadata, the parity gate over REST and gRPC against ONNX Runtime here, a gate that
fails when the answers differ), and each peer that `make peers` installed (MLServer with the ONNX
runtime and with its scikit-learn runtime, KServe), started as the peers profile starts it.
Peers not installed here are skipped (`make peers`; CI does not install them)."""

import os
from types import SimpleNamespace

import pytest

from bench.run import parity, payloads, peers, servers, v2load
from bench.run.procs import Supervisor
from tests.conformance.conftest import GO_BIN, ort_library, require

pytestmark = pytest.mark.process
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS_DIR = os.path.join(REPO, ".tools", "peers")


def gate(server, models, estimator=frozenset()):
    endpoints = [(server.name, p, server.endpoints[v2load.transport(p)]) for p in v2load.PROTOCOLS]
    return parity.run_gate(endpoints, models, [32], rows=3, tolerance=1e-6, estimator_servers=estimator)


def test_go_over_v2_metadata_and_the_gate(models_dir, tmp_path, monkeypatch):
    require(GO_BIN, "the Go server binary", "build")
    spec = servers.go_spec(("grpc", "http"), models_dir, "--ort-lib", ort_library(), go_bin=GO_BIN)
    models = payloads.load_models(models_dir, ["iris-logreg", "breast-cancer-rf"])
    with Supervisor(stop_timeout_s=30) as sup:
        go = servers.start(sup, spec, None, str(tmp_path / "go.log"), 60)
        for protocol in v2load.PROTOCOLS:
            shape = v2load.metadata(protocol, go.endpoints[v2load.transport(protocol)], "breast-cancer-rf")
            assert (shape.input_name, shape.datatype, shape.width) == ("input", "FP32", 30)
            assert shape.outputs == ("label", "class_index", "probabilities")
        result = gate(go, models)
        assert result.passed, result.failures
        assert result.answers_checked == 2 * 2 * (3 + 1)
        # a reference that differs (every probability off by 0.01) fails the gate, on both ways
        real = parity.reference
        monkeypatch.setattr(
            parity,
            "reference",
            lambda e, r: [dict(p, probabilities=[x + 0.01 for x in p["probabilities"]]) for p in real(e, r)],
        )
        failed = gate(go, models)
        assert not failed.passed and {f.split(" ")[0] for f in failed.failures} == {"go/v2-http", "go/v2-grpc"}
        assert go.stop(sup) == 0


@pytest.mark.parametrize("name", sorted(peers.PEERS))
def test_a_peer_starts_as_the_profile_starts_it_and_passes_the_gate(name, models_dir, tmp_path):
    if not peers.installed(PEERS_DIR, name):
        pytest.skip(f"{name} not installed (make peers)")
    settings = SimpleNamespace(models=("iris-logreg",), capacity=SimpleNamespace(models=("iris-logreg",)))
    plan = SimpleNamespace(
        settings=settings, run_dir=str(tmp_path), peers_dir=PEERS_DIR, models_dir=models_dir, repo=REPO
    )
    peers.prepare(plan, [name])
    models = payloads.load_models(models_dir, ["iris-logreg"])
    with Supervisor(stop_timeout_s=30) as sup:
        server = servers.start(sup, peers.spec(plan, name), None, str(tmp_path / f"{name}.log"), 90)
        assert server.protocols == frozenset(v2load.PROTOCOLS)
        estimator = frozenset({name}) if peers.PEERS[name].answers_from == "sklearn" else frozenset()
        result = gate(server, models, estimator)
        assert result.passed, result.failures
        server.stop(sup)
    assert peers.describe(plan, [name])["peers"][name]["versions"]
