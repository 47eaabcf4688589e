"""report.md, plots and the smoke check on a synthetic run (raw outputs are the real fixtures)."""

import gzip
import json
import os
import shutil

import pytest

from bench import config
from bench.analysis import floors, goals, pairs, stats
from bench.report import markdown, plots, smoke_check
from bench.results import Capacity, CapacityPoint, Inproc, InprocTiming, Latency, Parity, Results
from bench.run import sentinel
from bench.settings import Goal, Settings
from tests.bench import synthetic

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
SCENARIOS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "bench", "scenarios.yaml")
CPU = {"python": 400.0, "go": 60.0, "toy-flask": 500.0, "toy-go": 25.0, "null-grpcio": 150.0, "null-granian": 300.0}


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
        for p in ("http-json", "grpc")
        for r in (1, 2, 3)
        for s in ("python", "go")
    ]
    runs += [  # the floors, in the windows at concurrency 10
        run("floor", s, p, 10, r, model=m, batch=b)
        for m, b in (("iris-logreg", 1), ("breast-cancer-rf", 32))
        for p, nulls in (("http-json", ("null-granian", "toy-go")), ("grpc", ("null-grpcio", "toy-go")))
        for s in nulls
        for r in (1, 2, 3)
    ]
    runs += [run("seed", "toy-flask", "http", 10, r) for r in (1, 2, 3)]  # the goals' toy, in its window
    runs += [
        run("seed", t, "http", 10, r, model=None, batch=None, mode=m)
        for r in (1, 2, 3)
        for m in ("exact", "timed")
        for t in ("toy-flask", "toy-go")
    ]
    inproc = Inproc(
        [
            InprocTiming(i, m, b, us, work=w)
            for i in ("python", "go")
            for m, b, us in (("iris-logreg", 1, 5.0), ("breast-cancer-rf", 32, 80.0))
            for w in ("protobuf", "json", "inference" if i == "python" else "core")
        ]
        + [
            InprocTiming(i, "breast-cancer-rf", 32, 40.0, "protobuf", r, 10)
            for i in ("python", "go")
            for r in (1, 2, 3)
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
    typed = Settings.from_json(settings)
    floors_of = settings["floors"]["of"]
    out.goals = goals.evaluate(typed.goals, runs, out.scenarios, inproc, typed.reference_concurrency, floors_of)
    out.floors = floors.floors(out.scenarios, floors_of)
    out.ratios = pairs.every_ratio(runs, out.scenarios)
    readings = [{"at": at, "toy_cpu_us_per_req": us, "inproc_us": 200.0} for at, us in (("start", 20.0), ("end", 21.0))]
    out.drift = sentinel.summary(readings, 0.1, 20.0)
    return out


def test_goals_are_computed_from_the_same_window(results):
    got = {g.key: g for g in results.goals}
    # every figure of repeat r is × (1 + 0.01 r) for both sides: the per-repeat ratios are exact
    assert got["python-http-vs-toy-flask"].measured_ratio == pytest.approx(400 / 500)
    assert got["python-http-vs-toy-flask"].verdict == "not met"  # goal: <= 0.75
    assert got["python-http-vs-toy-flask"].ci95 == pytest.approx([0.8, 0.8])
    assert got["python-grpc-vs-floor"].measured_ratio == pytest.approx(400 / 150)
    assert got["go-grpc-vs-floor"].measured_ratio == pytest.approx(60 / 25)
    assert got["go-grpc-vs-floor"].client_bound  # the toy's runs are client-bound
    # (server CPU − its floor) ÷ the in-process time taken in the window, repeat by repeat
    rf = got["go-grpc-rf32-above-floor-vs-inproc"]
    assert rf.measured_ratio == pytest.approx((60 - 25) * 1.5 * 1.02 / 40)
    assert rf.ci95 == pytest.approx([(60 - 25) * 1.5 * 1.01 / 40, (60 - 25) * 1.5 * 1.03 / 40])
    assert rf.verdict == "met" and rf.met is True and rf.n == 3 and "repeat by repeat" in rf.paired
    assert got["python-rsgi-http-vs-toy-flask"].verdict == "not measured"  # no variants in this run
    assert got["python-http-phases"].verdict == "not measured"  # no phase metrics in this run


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
    (got,) = goals.evaluate([Goal(**goal)], results.runs, results.scenarios, results.inproc, 10, {})
    assert got.measured_ratio == pytest.approx(400 / 60) and got.met is True and got.verdict == "met"


def test_report_has_every_section_and_marks_client_bound(results):
    text = markdown.build(results)
    for needle in (
        "## Parity gate",
        "## Goals",
        "## Main table",
        "### Go ÷ Python",
        "### gRPC ÷ HTTP JSON",
        "## Against the framework's floor",
        "null-grpcio",
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
    assert "**Warning:** 4 of 87 timed runs were noisy" in text  # python, c1, repeat 2 × 2 models × 2 protocols


def test_results_json_round_trips(results):
    again = Results.from_json(json.loads(json.dumps(results.to_json())))
    assert again == results


def test_plots_and_smoke_check(results, tmp_path):
    results.settings["stages"] = ["matrix", "variants", "seed"]  # this synthetic run has no capacity sweep
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


PHASES = {"decode": 20.0, "tensor": 10.0, "inference": 8.0, "encode": 12.0}


@pytest.fixture()
def explained(results):
    """The synthetic run plus the two new ways in, phase metrics, stack variants and a capacity sweep."""
    for protocol, scale in (("http-protobuf", 0.8), ("grpc-stream", 0.3)):
        for server in ("python", "go"):
            for r in (1, 2, 3):
                cpu = CPU[server] * scale * (1 + 0.01 * r)  # as the fixture's other runs
                results.runs.append(
                    synthetic.run(
                        server=server, protocol=protocol, conc=10, repeat=r, cpu=cpu, rps=1e6 / cpu, worker_cpu_s=[0.01]
                    )
                )
    for r in results.runs:
        if r.kind == "serve" and r.concurrency == 1:
            r.phases_us = dict(PHASES)
    for server, cpu in (("python", 400.0), ("python[gunicorn]", 600.0), ("python[no-metrics]", 390.0)):
        for r in (1, 2, 3):
            results.runs.append(
                synthetic.run(
                    kind="variant",
                    server=server,
                    protocol="http-json",
                    conc=10,
                    repeat=r,
                    cpu=cpu,
                    rps=1e6 / cpu,
                    worker_cpu_s=[0.006, 0.004],
                )
            )
    results.scenarios = stats.aggregate(results.runs)

    def point(rate, p99, passed, util):
        lat = Latency(p50=p99 / 4, p90=p99 / 2, p99=p99, p999=p99 * 1.2, max=p99 * 1.5, mean=p99 / 3)
        return CapacityPoint(
            offered_rps=rate,
            achieved_rps=rate,
            requests=int(rate * 3),
            errors=0,
            latency_ms=lat,
            server_cpu_util=util,
            client_cpu_util=0.3,
            server_cpu_us_per_req=400.0,
            schedule_lag_p99_ms=0.5,
            flags=[] if passed else ["slo"],
            passed=passed,
            raw="raw/capacity-x.csv.gz",
            command=["/x/.tools/bin/vegeta", "attack"],
        )

    for server, protocol, cap in (
        ("python", "http-json", 600.0),
        ("go", "http-json", 3000.0),
        ("python", "grpc", 900.0),
        ("go", "grpc", 4500.0),
    ):
        per_core = cap / 0.25
        results.capacity.append(
            Capacity(
                server=server,
                protocol=protocol,
                model="iris-logreg",
                batch=1,
                slo_p99_ms=10.0,
                percentile=99.0,
                cpu_quota=0.25,
                capacity_rps=cap,
                capacity_rps_per_core=per_core,
                bound_by="server",
                points=[point(cap / 2, 2.0, True, 0.5), point(cap, 8.0, True, 0.9), point(cap * 1.5, 40.0, False, 1.0)],
                server_util_at_capacity=0.9,
                cpu_us_per_req=1e6 / (per_core * 1.1),
                per_core_from_cpu=per_core * 1.1,
                cross_check_ratio=1 / 1.1,
                floor_p99_ms=1.5,
            )
        )
    results.capacity.append(
        Capacity(
            server="toy-go",
            protocol="null-http",
            model=None,
            batch=None,
            slo_p99_ms=10.0,
            percentile=99.0,
            cpu_quota=0.25,
            capacity_rps=None,
            capacity_rps_per_core=None,
            bound_by="generator",
            points=[point(8000, 3.0, False, 0.4)],
        )
    )
    results.calibration = {
        "cpu_quota": 0.25,
        "cfs_period_us": 10000,
        "floors": [],
        "cap_effect": {
            "server": "go",
            "protocol": "grpc",
            "rate": 200,
            "capped_p50_ms": 0.9,
            "capped_p99_ms": 4.2,
            "uncapped_p50_ms": 0.8,
            "uncapped_p99_ms": 2.1,
        },
    }
    return results


def test_sections_that_explain_the_figures(explained):
    text = markdown.build(explained)
    ladder = text[text.index("## Encoding × transport") : text.index("## Where the server's time goes")]
    assert "JSON / HTTP/1.1" in ladder and "protobuf / HTTP/2 stream" in ladder
    assert "0.80×" in ladder  # protobuf over HTTP/1.1 against JSON: the encoding alone
    assert "1.25×" in ladder  # gRPC unary (the fixture's 1.0) against protobuf over HTTP/1.1 (0.8)
    assert "0.30×" in ladder  # one stream against unary calls
    phases = text[text.index("## Where the server's time goes") : text.index("## Capacity at an SLO")]
    # python at concurrency 1: 400 × 1.01..1.03 µs, median 408; phases sum to 50 µs: remainder 358
    assert "| 358.0 |" in phases and "| 8.0 |" in phases
    capacity = text[text.index("## Capacity at an SLO") : text.index("## Stacks side by side")]
    assert "2,400" in capacity  # python http-json per core: 600 ÷ 0.25
    assert "5.00×" in capacity  # Go ÷ Python per core, both protocols
    assert "n/a (not server capacity) | n/a | n/a | n/a | n/a | n/a | n/a | generator" in capacity
    assert "p99 4.20 ms capped" in capacity
    variants = text[text.index("## Stacks side by side") : text.index("## Serving overhead")]
    assert "1.50×" in variants  # gunicorn against the default
    assert "60% / 40%" in variants  # each worker's share of the CPU


def test_new_plots_and_capacity_smoke_check(explained, tmp_path):
    os.makedirs(tmp_path / "raw")
    for r in explained.runs:
        src = os.path.join(FIXTURES, "hey_ok.csv" if r.tool == "hey" else "ghz_ok.json")
        with open(src, "rb") as fh, gzip.open(tmp_path / r.raw, "wb") as out:
            shutil.copyfileobj(fh, out)
    with (
        open(os.path.join(FIXTURES, "vegeta_ok.csv"), "rb") as fh,
        gzip.open(tmp_path / "raw/capacity-x.csv.gz", "wb") as out,
    ):
        shutil.copyfileobj(fh, out)
    for c in explained.capacity:
        for p in c.points:
            p.requests = 100  # the recorded sample's count
    with open(tmp_path / "results.json", "w") as fh:
        json.dump(explained.to_json(), fh)
    markdown.write(str(tmp_path), explained)
    names = {os.path.basename(p) for p in plots.write(str(tmp_path), explained)}
    assert {"breakdown.png", "capacity_latency.png", "capacity_cpu.png"} <= names
    assert smoke_check.check(str(tmp_path)) == []
    explained.capacity[0].points[0].requests = 99
    with open(tmp_path / "results.json", "w") as fh:
        json.dump(explained.to_json(), fh)
    (problem,) = smoke_check.check(str(tmp_path))
    assert "100 requests, results.json says 99" in problem
