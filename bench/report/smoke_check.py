"""Smoke check of a bench run's output (CI runs it after `make bench-quick`); never asserts speed.

    python -m bench.report.smoke_check results/latest

Checks that results.json parses and follows the schema, that the parity gate ran and passed (when
the profile measured servers), that floors and the drift sentinel's readings are there when they
are on, that every run's and every capacity point's raw output is there and parses again to the
same request count, and that report.md (the answer first) and the PNG plots exist and are readable.
"""

from __future__ import annotations

import gzip
import json
import os
import sys

from bench.analysis import parse
from bench.results import Results

ENV_KEYS = ("cpu_model", "cpu_count", "os", "pinning", "versions", "git")
VERSION_KEYS = ("python", "go", "onnxruntime", "grpcio", "grpc-go", "granian", "hey", "ghz", "vegeta")
PLOTS = ("throughput.png", "latency.png", "cpu_per_request.png")
CAPACITY_PLOTS = ("capacity_latency.png", "capacity_cpu.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check(run_dir: str) -> list[str]:
    problems: list[str] = []
    try:
        with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as fh:
            results = Results.from_json(json.load(fh))
    except (OSError, ValueError, TypeError) as exc:  # TypeError: a field missing from the schema
        return [f"results.json: {exc}"]
    env = results.environment
    problems += [f"environment lacks {k}" for k in ENV_KEYS if k not in env]
    problems += [f"environment.versions lacks {k}" for k in VERSION_KEYS if not env.get("versions", {}).get(k)]
    stages = results.settings.get("stages", ["matrix"])
    headings = ["## The answer", "## Goals"]
    plots: tuple[str, ...] = ()
    if "matrix" in stages or "capacity" in stages:
        if not results.parity.ran:
            problems.append("the parity gate did not run")
        elif not results.parity.passed:
            problems.append("the parity gate failed")
    if "matrix" in stages:
        if not any(r.kind == "serve" for r in results.runs):
            problems.append("no serve runs in results.json")
        if not results.scenarios:
            problems.append("no aggregated scenarios")
        headings += ["## Parity gate", "## Main table", "## Encoding × transport", "## Where the server's time goes"]
        if results.settings.get("floors", {}).get("enabled"):
            headings.append("## Against the framework's floor")
            if not results.floors:
                problems.append("floors are enabled and results.json has none")
        plots += PLOTS
    if "seed" in stages and results.settings.get("seed", {}).get("enabled"):
        headings.append("## Seed replication")
    for i, run in enumerate(results.runs):
        problems += _check_raw(run_dir, i, run)
    if "capacity" in stages:
        if not results.capacity:
            problems.append("the profile asks for a capacity sweep and results.json has none")
        for c in results.capacity:
            for j, point in enumerate(c.points):
                problems += _check_point_raw(run_dir, f"capacity {c.server}/{c.protocol} point {j}", point)
        headings.append("## Capacity at an SLO")
        plots += CAPACITY_PLOTS
    if results.settings.get("sentinel", {}).get("enabled") and len(results.drift.get("readings", [])) < 2:
        problems.append("the drift sentinel is on and results.json has fewer than two readings")
    if len(results.goals) != len(results.settings.get("goals", [])):
        problems.append("not every goal of the settings was evaluated")
    try:
        with open(os.path.join(run_dir, "report.md"), encoding="utf-8") as fh:
            text = fh.read()
        problems += [f"report.md lacks {h!r}" for h in headings if h not in text]
    except OSError as exc:
        problems.append(f"report.md: {exc}")
    for name in plots:
        try:
            with open(os.path.join(run_dir, name), "rb") as fh:
                if fh.read(8) != PNG_MAGIC:
                    problems.append(f"{name} is not a PNG")
        except OSError as exc:
            problems.append(f"{name}: {exc}")
    return problems


def _check_raw(run_dir: str, i: int, run) -> list[str]:
    path = os.path.join(run_dir, run.raw)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            text = fh.read()
        parsed = (parse.parse_hey_csv if run.tool == "hey" else parse.parse_ghz_json)(text)
    except (OSError, parse.ParseError) as exc:
        return [f"runs[{i}] raw {run.raw}: {exc}"]
    if parsed.requests != run.requests:
        return [f"runs[{i}] raw {run.raw}: {parsed.requests} requests, results.json says {run.requests}"]
    return []


def _check_point_raw(run_dir: str, what: str, point) -> list[str]:
    if point.raw is None:
        return [f"{what}: no raw output kept"]
    try:
        with gzip.open(os.path.join(run_dir, point.raw), "rt", encoding="utf-8") as fh:
            text = fh.read()
        tool = os.path.basename(point.command[0]) if point.command else ""
        requests = parse.parse_open_loop(tool, text, point.offered_rps).requests
    except (OSError, parse.ParseError) as exc:
        return [f"{what} raw {point.raw}: {exc}"]
    if requests != point.requests:
        return [f"{what} raw {point.raw}: {requests} requests, results.json says {point.requests}"]
    return []


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    run_dir = args[0] if args else "results/latest"
    problems = check(run_dir)
    for p in problems:
        print(f"smoke_check: {p}", file=sys.stderr)
    if not problems:
        print(f"smoke_check: {os.path.realpath(run_dir)} ok (results.json, parity gate, raw outputs, report, plots)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
