"""Peers (bench/run/peers.py) and their table (bench/analysis/peers.py, report section peers):
how each peer is started and configured, which protocols the bench drives at it, and the table
read from synthetic runs. No server is started here."""

import argparse
import os
from types import SimpleNamespace

import pytest

from bench import __main__ as cli
from bench import config
from bench.analysis import peers as table
from bench.analysis import stats
from bench.report.sections import peers as section
from bench.results import Capacity, Results, ServerInfo
from bench.run import peers, servers
from bench.run.lifecycle import ServerError
from tests.bench import synthetic

META = {"name": "iris-logreg", "version": "1", "task": "classification", "input_name": "input", "n_features": 4}
META["class_labels"] = ["setosa", "versicolor", "virginica"]


def plan(tmp_path, peers_dir="nowhere"):
    settings = SimpleNamespace(models=("iris-logreg",), capacity=SimpleNamespace(models=("iris-logreg",)))
    return SimpleNamespace(settings=settings, run_dir=str(tmp_path), peers_dir=peers_dir, models_dir="models")


def test_a_peer_is_driven_over_v2_only_and_servebench_over_everything():
    assert peers.speaks("mlserver-onnx", "v2-grpc") and not peers.speaks("kserve-onnx", "grpc")
    assert peers.speaks("python", "grpc") and peers.speaks("go", "v2-http")
    assert servers.transport("v2-http") == "http" and servers.transport("v2-grpc") == "grpc"
    assert servers.transport("grpc-stream") == "grpc" and servers.transport("http-protobuf") == "http"


def test_mlserver_spec_its_ports_by_environment_its_ready_route_no_log_to_read(tmp_path):
    spec = peers.spec(plan(tmp_path), "mlserver-onnx")
    assert spec.argv[1:] == ["start", str(tmp_path / "peers" / "mlserver-onnx")]
    assert spec.endpoints["http"] == "127.0.0.1:" + spec.env["MLSERVER_HTTP_PORT"]
    assert spec.endpoints["grpc"] == "127.0.0.1:" + spec.env["MLSERVER_GRPC_PORT"]
    assert spec.ready_path == "/v2/health/ready" and not spec.grpc_health
    assert spec.serves == frozenset({"v2-http", "v2-grpc"})
    assert not (tmp_path / "peers").exists()  # a spec writes nothing: prepare() lays the folder out


def test_kserve_spec_serves_each_model_folder_without_per_request_logs(tmp_path):
    argv = peers.spec(plan(tmp_path), "kserve-onnx").argv
    assert argv[argv.index("--model_dirs") + 1] == str(tmp_path / "peers" / "kserve-onnx" / "iris-logreg")
    assert argv[argv.index("--enable_latency_logging") + 1] == "false"
    assert argv[argv.index("--configure_logging") + 1] == "false"


def test_a_peer_not_installed_stops_the_run_before_it_measures(tmp_path):
    with pytest.raises(ServerError, match="make peers"):
        peers.prepare(plan(tmp_path), ["mlserver-onnx"])


@pytest.mark.parametrize("sklearn", [False, True])
def test_mlserver_model_settings_declare_what_the_bench_asks_for(sklearn):
    got = peers.model_settings(META, sklearn)
    assert got["name"] == "iris-logreg" and got["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    names = [o["name"] for o in got["outputs"]]
    if sklearn:
        assert got["implementation"] == "mlserver_sklearn.SKLearnModel" and names == ["predict", "predict_proba"]
        assert got["parameters"]["uri"] == "./model.joblib"
    else:
        assert got["implementation"] == "mlserver_onnx.OnnxModel" and names == ["label", "class_index", "probabilities"]


def test_a_target_named_with_a_v2_protocol_joins_the_matrix():
    settings = config.load(os.path.join(os.path.dirname(cli.__file__), "scenarios.yaml"), "full")
    args = argparse.Namespace(target=["ml=v2-grpc://h:8081", "ml=http://h:8080"], protocols=None, concurrency=None)
    got = cli.matrix_from(args, settings)["matrix"]
    assert got["v2-grpc"] == settings["matrix"]["grpc"] and "v2-http" not in got  # "http": the listener only


def results_with_peers(cpu_of: dict[str, float]) -> Results:
    runs = [
        synthetic.run(server=s, protocol=p, conc=c, repeat=r, cpu=cpu, rps=1e6 / cpu)
        for s, cpu in cpu_of.items()
        for p in ("v2-http", "v2-grpc")
        for c in (1, 10)
        for r in (1, 2, 3)
    ]
    runs += [synthetic.run(server="go", protocol="grpc", conc=10, repeat=r, cpu=30.0) for r in (1, 2, 3)]
    results = Results("r", "peers", [], "", "", {}, {}, {}, runs=runs)
    results.scenarios = stats.aggregate(runs)
    results.peers = {"servebench": {"version": "2"}, "peers": {"mlserver-onnx": {"server": "MLServer"}}}
    results.servers = {"ml-target": ServerInfo({}, False, None, [], None, None, cpu_from=None)}
    results.capacity = [
        Capacity("go", "v2-grpc", "iris-logreg", 1, 10, 99, 0.5, 5000.0, 10000.0, "unfinished", []),
        Capacity("mlserver-onnx", "v2-grpc", "iris-logreg", 1, 10, 99, 0.5, 200.0, 400.0, "server", []),
    ]
    return results


def test_the_table_has_every_server_over_v2_and_servebench_over_predict_v1():
    results = results_with_peers({"go": 40.0, "python": 400.0, "mlserver-onnx": 1600.0, "ml-target": 900.0})
    rows = table.rows(results)
    keys = [(r["server"], r["protocol"]) for r in rows]
    assert keys[:4] == [(s, "v2-http") for s in ("go", "python", "mlserver-onnx", "ml-target")]
    assert ("go", "grpc") in keys and all(p in table.V2 for s, p in keys if s != "go")
    target = next(r for r in rows if r["server"] == "ml-target")
    assert target["kind"] == "target" and target["client_side_only"]
    go = next(r for r in rows if (r["server"], r["protocol"]) == ("go", "v2-grpc"))
    assert go["cpu_us_per_req"] == pytest.approx(40.0) and go["capacity_rps"] == 5000.0


def test_where_servebench_stands_against_the_best_peer():
    results = results_with_peers({"go": 40.0, "python": 400.0, "mlserver-onnx": 1600.0, "kserve-onnx": 800.0})
    results.peers["peers"]["kserve-onnx"] = {"server": "KServe"}
    standing = {(s["server"], s["protocol"]): s for s in table.standing(table.rows(results))}
    go = standing[("go", "v2-grpc")]
    assert go["cpu_best_peer"] == "kserve-onnx" and go["cpu_ratio"] == pytest.approx(0.05)
    assert go["capacity_best_peer"] == "mlserver-onnx" and go["capacity_ratio"] == pytest.approx(25.0)
    assert go["capacity_is_bound"]  # Go's search found no failing rate: the ratio is a bound
    text = "\n".join(section.render(results, 10))
    assert "## Peers over the Open Inference Protocol (V2)" in text and "≥ 5,000 (no failing rate found)" in text
    assert "0.05× of kserve-onnx" in text


def test_no_section_without_peers_or_v2():
    runs = [synthetic.run(server="go", protocol="grpc", repeat=r) for r in (1, 2, 3)]
    results = Results("r", "full", [], "", "", {}, {}, {}, runs=runs)
    results.scenarios = stats.aggregate(runs)
    assert section.render(results, 10)[2].startswith("(no peer and no V2 run")


def test_the_plan_measures_a_peer_on_v2_only_and_a_target_on_its_protocols():
    from types import SimpleNamespace

    from bench.plan import measured
    from bench.run.targets import TargetServer

    check = measured(SimpleNamespace(targets={}))
    assert [check("mlserver-onnx", p) for p in ("http-json", "v2-http", "v2-grpc")] == [False, True, True]
    assert all(check("go", p) for p in ("http-json", "grpc", "v2-http", "v2-grpc"))
    check = measured(SimpleNamespace(targets={"ml": TargetServer({"http": "h:1"}, {"v2-http"})}))
    assert [check("ml", p) for p in ("http-json", "v2-http", "v2-grpc")] == [False, True, False]
