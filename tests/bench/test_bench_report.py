"""report.md, plots and the smoke check on a synthetic run (raw outputs are the real fixtures)."""
import gzip
import json
import os
import shutil

import pytest

from bench import plots, report, smoke_check, stats, targets

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
SETTINGS = {"repeats": 3, "duration_s": 3.0, "warmup_s": 0.5, "client_bound_threshold": 0.9, "noise_threshold": 0.1,
            "reference_concurrency": 10,
            "seed": {"requests": 1000, "concurrency": 10, "duration_s": 3.0,
                     "claim": {"go_rps": 34172, "python_rps": 24795, "text": "Go 34,172 vs Python 24,795 req/s"}}}
CPU = {"python": 400.0, "go": 60.0, "toy-flask": 500.0, "toy-go": 25.0}


def run(kind, server, protocol, conc, repeat, model="iris-logreg", batch=1, mode=None):
    tool = "hey" if protocol == "http" else "ghz"
    cpu = CPU[server] * (1.5 if batch == 32 else 1) * (1 + 0.01 * repeat)
    return {"kind": kind, "server": server, "protocol": protocol, "tool": tool, "model": model, "batch": batch,
            "concurrency": conc, "repeat": repeat, "mode": mode, "requests": 20 if tool == "hey" else 20,
            "errors": 0, "rps": 1e6 / cpu, "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": 3.0, "max": 4.0, "mean": 1.2},
            "server_cpu_s": cpu * 20 / 1e6, "server_cpu_us_per_req": cpu, "server_rss_mb": 50.0,
            "client_cpu_util": 0.95 if server == "toy-go" else 0.5, "client_bound": server == "toy-go",
            "foreign_cpu_share": 0.2 if (server, conc, repeat) == ("python", 1, 2) else 0.01,
            "noisy": (server, conc, repeat) == ("python", 1, 2),
            "raw": f"raw/{server}-{protocol}-{conc}-{repeat}-{mode}-{batch}.{'csv' if tool == 'hey' else 'json'}.gz"}


@pytest.fixture()
def doc():
    runs = [run("serve", s, p, c, r, model=m, batch=b) for m, b in (("iris-logreg", 1), ("breast-cancer-rf", 32))
            for c in (1, 10) for p in ("http", "grpc") for r in (1, 2, 3) for s in ("python", "go")]
    runs += [run("seed", t, "http", 10, r, model=None, batch=None, mode=m)
             for r in (1, 2, 3) for m in ("exact", "timed") for t in ("toy-flask", "toy-go")]
    inproc = {"timings": [{"impl": i, "model": m, "batch": b, "us_per_run": us}
                          for i in ("python", "go") for m, b, us in (("iris-logreg", 1, 5.0),
                                                                       ("breast-cancer-rf", 32, 80.0))],
              "problems": []}
    env = {"cpu_model": "Test CPU", "cpu_count": 2, "os": "TestOS", "git": {"commit": "abc", "dirty": False},
           "pinning": {"server_cpus": [0], "client_cpus": [1]}, "settings": SETTINGS,
           "versions": {k: "1" for k in smoke_check.VERSION_KEYS}}
    parity = {"ran": True, "passed": True, "answers_checked": 24, "endpoints": ["python/http"], "models": ["m"],
              "reference": "onnxruntime", "max_abs_diff": 0.0, "tolerance": 1e-6}
    return {"run_id": "test", "profile": "full", "environment": env, "parity": parity, "inproc": inproc,
            "runs": runs, "scenarios": stats.aggregate(runs)}


def test_targets_are_computed_from_the_same_rows(doc):
    got = {t["key"]: t for t in targets.evaluate(doc["scenarios"], doc["inproc"], 10)}
    # medians of repeats 1..3 are repeat 2: × 1.02
    assert got["go-grpc-vs-toy-go"]["measured_ratio"] == pytest.approx(60 / 25)
    assert got["go-grpc-vs-toy-go"]["met"] is False
    assert got["python-http-vs-toy-flask"]["measured_ratio"] == pytest.approx(400 / 500)
    assert got["python-http-vs-toy-flask"]["met"] is True
    assert got["go-grpc-rf32-vs-inproc"]["measured_ratio"] == pytest.approx(60 * 1.5 * 1.02 / 80)


def test_report_has_every_section_and_marks_client_bound(doc):
    text = report.build(doc)
    for needle in ("## Parity gate", "## Targets from the issue", "## Main table", "### Go / Python",
                   "### gRPC / HTTP", "## Serving overhead", "## Seed replication", "CPU per request",
                   "1.38×", "24,795", "34,172", "CB 3/3", "noisy 1/3", "at most 20.0%", "**met**", "**not met**"):
        assert needle in text, needle
    assert "compares the servers fairly" in text
    assert "**Warning:** 4 of 60 timed runs were noisy" in text  # python, c1, repeat 2 × 2 models × 2 protocols


def test_plots_and_smoke_check(doc, tmp_path):
    os.makedirs(tmp_path / "raw")
    for r in doc["runs"]:
        src = os.path.join(FIXTURES, "hey_ok.csv" if r["tool"] == "hey" else "ghz_ok.json")
        with open(src, "rb") as fh, gzip.open(tmp_path / r["raw"], "wb") as out:
            shutil.copyfileobj(fh, out)
    with open(tmp_path / "results.json", "w") as fh:
        json.dump(doc, fh)
    report.write(str(tmp_path), doc)
    assert len(plots.write(str(tmp_path), doc)) == 3
    assert smoke_check.check(str(tmp_path)) == []
    doc["parity"]["ran"] = False
    doc["runs"][0]["requests"] = 21
    with open(tmp_path / "results.json", "w") as fh:
        json.dump(doc, fh)
    problems = smoke_check.check(str(tmp_path))
    assert "the parity gate did not run" in problems
    assert any("21" in p for p in problems)
