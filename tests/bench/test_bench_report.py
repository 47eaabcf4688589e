"""report.md, plots and the smoke check on a synthetic run (raw outputs are the real fixtures)."""

import gzip
import json
import os
import shutil

import pytest

from bench import config
from bench.analysis import goals, stats
from bench.report import markdown, plots, smoke_check
from bench.results import Inproc, InprocTiming, Parity, Results
from tests.bench import synthetic

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
SCENARIOS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "bench", "scenarios.yaml")
CPU = {"python": 400.0, "go": 60.0, "toy-flask": 500.0, "toy-go": 25.0}


def run(kind, server, protocol, conc, repeat, model="iris-logreg", batch=1, mode=None):
    cpu = CPU[server] * (1.5 if batch == 32 else 1) * (1 + 0.01 * repeat)
    noisy = (server, conc, repeat) == ("python", 1, 2)
    return synthetic.run(
        kind=kind,
        server=server,
        protocol=protocol,
        conc=conc,
        repeat=repeat,
        model=model,
        batch=batch,
        mode=mode,
        rps=1e6 / cpu,
        cpu=cpu,
        util=0.95 if server == "toy-go" else 0.5,
        bound=server == "toy-go",
        foreign_cpu_share=0.2 if noisy else 0.01,
        noisy=noisy,
        worker_cpu_s=[0.01] if kind == "serve" else None,
    )


@pytest.fixture()
def results():
    settings = config.load(SCENARIOS, "full")
    runs = [
        run("serve", s, p, c, r, model=m, batch=b)
        for m, b in (("iris-logreg", 1), ("breast-cancer-rf", 32))
        for c in (1, 10)
        for p in ("http", "grpc")
        for r in (1, 2, 3)
        for s in ("python", "go")
    ]
    runs += [
        run("seed", t, "http", 10, r, model=None, batch=None, mode=m)
        for r in (1, 2, 3)
        for m in ("exact", "timed")
        for t in ("toy-flask", "toy-go")
    ]
    inproc = Inproc(
        [
            InprocTiming(i, m, b, us)
            for i in ("python", "go")
            for m, b, us in (("iris-logreg", 1, 5.0), ("breast-cancer-rf", 32, 80.0))
        ]
    )
    env = {
        "cpu_model": "Test CPU",
        "cpu_count": 2,
        "os": "TestOS",
        "git": {"commit": "abc", "dirty": False},
        "pinning": {"server_cpus": [0], "client_cpus": [1]},
        "versions": dict.fromkeys(smoke_check.VERSION_KEYS, "1"),
    }
    parity = Parity(
        ran=True,
        passed=True,
        answers_checked=24,
        endpoints=["python/http"],
        models=["m"],
        reference="onnxruntime",
        max_abs_diff=0.0,
        tolerance=1e-6,
    )
    out = Results(
        run_id="test",
        profile="full",
        command=["bench"],
        started_at="t0",
        finished_at="t1",
        estimate={},
        environment=env,
        settings=settings,
        parity=parity,
        inproc=inproc,
        runs=runs,
    )
    out.scenarios = stats.aggregate(runs)
    out.goals = goals.evaluate(settings["goals"], out.scenarios, inproc, settings["reference_concurrency"])
    return out


def test_goals_are_computed_from_the_same_rows(results):
    got = {g.key: g for g in results.goals}
    # medians of repeats 1..3 are repeat 2: × 1.02
    assert got["go-grpc-vs-toy-go"].measured_ratio == pytest.approx(60 / 25)
    assert got["go-grpc-vs-toy-go"].met is False
    assert got["python-http-vs-toy-flask"].measured_ratio == pytest.approx(400 / 500)
    assert got["python-http-vs-toy-flask"].met is False  # goal: <= 0.5
    assert got["go-grpc-rf32-vs-inproc"].measured_ratio == pytest.approx(60 * 1.5 * 1.02 / 80)
    assert got["go-grpc-vs-toy-go"].client_bound  # the toy's runs are client-bound


def test_a_goal_of_the_settings_is_read_as_declared(results):
    goal = {
        "key": "k",
        "text": "t",
        "metric": "rps",
        "subject": {"server": "go", "protocol": "grpc", "model": "iris-logreg", "batch": 1},
        "baseline": {"serve": {"server": "python", "protocol": "grpc", "model": "iris-logreg", "batch": 1}},
        "op": ">=",
        "limit": 6.0,
    }
    (got,) = goals.evaluate([goal], results.scenarios, results.inproc, 10)
    assert got.measured_ratio == pytest.approx(400 / 60) and got.met is True


def test_report_has_every_section_and_marks_client_bound(results):
    text = markdown.build(results)
    for needle in (
        "## Parity gate",
        "## Goals",
        "## Main table",
        "### Go / Python",
        "### gRPC / HTTP",
        "## Serving overhead",
        "## Seed replication",
        "CPU per request",
        "1.38×",
        "24,795",
        "34,172",
        "CB 3/3",
        "noisy 1/3",
        "at most 20.0%",
        "**met**",
        "**not met**",
        "100%",
    ):
        assert needle in text, needle
    assert "compares the servers fairly" in text
    assert "**Warning:** 4 of 60 timed runs were noisy" in text  # python, c1, repeat 2 × 2 models × 2 protocols


def test_results_json_round_trips(results):
    again = Results.from_json(json.loads(json.dumps(results.to_json())))
    assert again == results


def test_plots_and_smoke_check(results, tmp_path):
    os.makedirs(tmp_path / "raw")
    for r in results.runs:
        src = os.path.join(FIXTURES, "hey_ok.csv" if r.tool == "hey" else "ghz_ok.json")
        with open(src, "rb") as fh, gzip.open(tmp_path / r.raw, "wb") as out:
            shutil.copyfileobj(fh, out)
    with open(tmp_path / "results.json", "w") as fh:
        json.dump(results.to_json(), fh)
    markdown.write(str(tmp_path), results)
    assert len(plots.write(str(tmp_path), results)) == 3
    assert smoke_check.check(str(tmp_path)) == []
    results.parity.ran = False
    results.runs[0].requests = 21
    with open(tmp_path / "results.json", "w") as fh:
        json.dump(results.to_json(), fh)
    problems = smoke_check.check(str(tmp_path))
    assert "the parity gate did not run" in problems
    assert any("21" in p for p in problems)
