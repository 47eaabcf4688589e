"""bench compare: recorded results with a known 20% change are called slower (and fail a CI gate),
the same results twice are called unchanged, and what differs between the runs is said first."""

import copy
import gzip
import json
import os

import pytest

from bench import compare
from bench.analysis import comparison
from bench.results import Results
from tests.bench.test_bench_report import results  # noqa: F401 (fixture)


def write(tmp_path, name, r: Results) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(r.to_json()))
    return str(path)


def slower_by(r: Results, factor: float) -> Results:
    out = copy.deepcopy(r)
    for run in out.runs:
        run.server_cpu_us_per_req *= factor
        run.rps /= factor
    return out


def test_a_known_20_percent_slowdown_is_found_and_fails_the_gate(results, tmp_path, capsys):  # noqa: F811
    a = write(tmp_path, "a", results)
    b = write(tmp_path, "b", slower_by(results, 1.2))
    assert compare.main([a, b, "--json", str(tmp_path / "cmp.json"), "--fail-on-slowdown", "10"]) == 1
    doc = json.loads((tmp_path / "cmp.json").read_text())
    cpu = [r for r in doc["rows"] if r["metric"] == "server_cpu_us_per_req"]
    rps = [r for r in doc["rows"] if r["metric"] == "rps"]
    assert cpu and all(r["verdict"] == "slower" and r["change_pct"] == pytest.approx(20.0) for r in cpu)
    assert rps and all(r["verdict"] == "slower" and r["change_pct"] == pytest.approx(-100 / 6) for r in rps)
    assert all(r["ci95_pct"][0] > 0 for r in cpu) and all(r["p_value"] < 0.05 for r in cpu)
    ratios = [r for r in doc["rows"] if r["metric"] == "cpu_per_req_ratio"]
    assert ratios and all(r["verdict"] == "same" for r in ratios)  # both sides slowed alike
    row = doc["rows"][0]
    assert set(row) >= {"scenario", "metric", "a", "b", "change_pct", "ci95_pct", "p_value", "verdict"}
    assert set(row["a"]) == {"median", "ci95"}
    assert "**slower**" in capsys.readouterr().out
    assert compare.main([a, b, "--fail-on-slowdown", "25"]) == 0  # 20% is within a 25% gate


def test_the_same_results_twice_change_nothing(results, tmp_path, capsys):  # noqa: F811
    a = write(tmp_path, "a", results)
    assert compare.main([a, a, "--fail-on-slowdown", "1"]) == 0
    out = capsys.readouterr().out
    assert "Same commit, machine, settings and versions." in out and "**slower**" not in out
    doc = compare.compare(results, results)
    assert doc["rows"] and all(r["verdict"] == "same" for r in doc["rows"])


def test_what_differs_is_said_up_front(results):  # noqa: F811
    b = copy.deepcopy(results)
    b.environment["git"]["commit"] = "def"
    b.environment["versions"]["grpcio"] = "2"
    b.settings["duration_s"] = 9.0
    b.runs[0].noisy = True
    doc = compare.compare(results, b)
    assert "commit: abc → def" in doc["differences"]
    assert "version of grpcio: 1 → 2" in doc["differences"]
    assert "setting duration_s: 0.8 → 9.0" in doc["differences"]
    assert any("run B is noisy" in n for n in doc["notes"])


def test_machine_speed_is_taken_out_by_the_sentinels(results):  # noqa: F811
    """B ran on a machine 20% slower (its sentinel says so): with --normalise its absolute figures
    are set back to A's speed, and nothing is called slower; by default they are compared as measured."""
    a = copy.deepcopy(results)
    a.drift = {"readings": [{"at": "start", "toy_cpu_us_per_req": 20.0}, {"at": "end", "toy_cpu_us_per_req": 20.0}]}
    b = slower_by(a, 1.2)
    b.drift = {"readings": [{"at": "start", "toy_cpu_us_per_req": 24.0}, {"at": "end", "toy_cpu_us_per_req": 24.0}]}
    doc = compare.compare(a, b, normalise=True)
    assert doc["speed_factor"] == pytest.approx(1.2)
    assert all(r["verdict"] == "same" for r in doc["rows"])
    assert any(r["verdict"] == "slower" for r in compare.compare(a, b)["rows"])  # as measured (the default)


RECORDED = os.path.join(os.path.dirname(__file__), "fixtures", "recorded_quick.json.gz")


def test_recorded_results_with_a_known_20_percent_change(tmp_path):
    """A real quick run (fixtures/recorded_quick.json.gz) against itself made 20% costlier: every
    scenario whose repeats spread less than that is called slower, none faster, the ratios (both
    sides moved together) unchanged, and the gate fails; against itself, nothing changes."""
    with gzip.open(RECORDED, "rt", encoding="utf-8") as fh:
        doc = json.load(fh)
    a = Results.from_json(doc)
    b = slower_by(a, 1.2)
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a.to_json()))
    pb.write_text(json.dumps(b.to_json()))
    assert compare.main([str(pa), str(pb), "--fail-on-slowdown", "10", "--json", str(tmp_path / "c.json")]) == 1
    rows = json.loads((tmp_path / "c.json").read_text())["rows"]
    cpu = {r["scenario"]: r for r in rows if r["metric"] == "server_cpu_us_per_req"}
    assert not [r for r in rows if r["verdict"] == "faster"]
    for key, runs in comparison._by_cell(a.runs).items():
        values = [r.server_cpu_us_per_req for r in runs if r.server_cpu_us_per_req]
        if len(values) >= 3 and max(values) < 1.2 * min(values):  # the two runs' repeats do not overlap
            assert cpu[comparison._name(key)]["verdict"] == "slower", comparison._name(key)
            assert cpu[comparison._name(key)]["change_pct"] == pytest.approx(20.0)
    assert sum(r["verdict"] == "slower" for r in cpu.values()) >= len(cpu) / 2
    assert all(r["verdict"] == "same" for r in rows if r["metric"] == "cpu_per_req_ratio")
    assert compare.main([str(pa), str(pa), "--fail-on-slowdown", "1"]) == 0
