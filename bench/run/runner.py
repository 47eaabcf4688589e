"""The run: servers up → parity gate → in-process timings → scenario matrix → seed toys → Results.

Only measuring happens here; printing is the caller's `ui` (bench.report.console), writing the
report and plots is bench.report. Everything the run needs arrives in a Plan built by __main__;
what it measured leaves as one `Results` (bench.results).
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import sys
import time
from dataclasses import dataclass, field

from bench.analysis import goals, stats
from bench.results import Inproc, InprocTiming, Results, Run, ServerInfo
from bench.run import environment, inproc, loadgen, parity, payloads, servers
from bench.run.measure import measure_run
from bench.run.procs import Supervisor

SEED_TOYS = ("toy-flask", "toy-go")
SEED_EXACT_S = 1.0  # budget guess for the post's fixed-count run (hey -n 1000 -c 10)
FIXED_S = {"servers": 8.0, "parity": 3.0, "go_build": 15.0, "report": 8.0}


@dataclass
class Plan:
    settings: dict
    profile: str
    repo: str
    run_dir: str
    models_dir: str
    server_cpus: list[int]
    client_cpus: list[int]
    tools: loadgen.Tools
    go_bin: str
    toy_go_bin: str
    run_id: str = ""
    targets: dict[str, dict[str, str]] = field(default_factory=dict)  # server → protocol → address
    server_pids: dict[str, int] = field(default_factory=dict)
    only: str | None = None  # "serve", "seed" or None for both


def estimate_s(plan: Plan) -> dict[str, float]:
    """Up-front time estimate from the matrix size and the durations (printed before the run starts)."""
    s = plan.settings
    per_run = s["warmup_s"] + s["duration_s"] + 2 * s["run_overhead_s"]
    n_runs = (
        len(s["servers"])
        * len(s["protocols"])
        * len(s["models"])
        * len(s["batch"])
        * len(s["concurrency"])
        * s["repeats"]
    )
    out = {"runs": n_runs, "matrix_s": n_runs * per_run}
    seed = s["seed"]
    if plan.only != "serve" and seed["enabled"]:
        per_toy = 2 * (s["warmup_s"] + 2 * s["run_overhead_s"]) + SEED_EXACT_S + seed["duration_s"]
        out["seed_s"] = len(SEED_TOYS) * seed["repeats"] * per_toy + FIXED_S["servers"]
    if plan.only != "seed":
        n_inproc = len(s["models"]) * len(s["batch"])
        per_model = (inproc.GO_BENCH_COUNT + 2) * _seconds(s["inproc"]["go_benchtime"]) + 6 * s["inproc"][
            "python_min_time_s"
        ]
        out["inproc_s"] = (n_inproc * per_model + FIXED_S["go_build"]) if s["inproc"]["enabled"] else 0.0
        out["setup_s"] = FIXED_S["servers"] + FIXED_S["parity"]
    else:
        out["runs"], out["matrix_s"] = 0, 0.0
    out["report_s"] = FIXED_S["report"]
    out["total_s"] = sum(v for k, v in out.items() if k.endswith("_s"))
    return out


def _seconds(go_duration: str) -> float:
    """Seconds of a Go duration ("500ms", "1m30s"); an iteration count ("100x") is guessed at 0.5 s."""
    if go_duration.endswith("x"):
        return 0.5
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", go_duration))


def service_spec(plan: Plan, name: str, protocols: tuple[str, ...]) -> servers.ServerSpec:
    n = len(plan.server_cpus)
    threads = ("--intra-op-threads", "1", "--inter-op-threads", "1")
    if name == "python":
        return servers.python_spec(protocols, plan.models_dir, *threads, workers=n)
    if name == "go":
        return servers.go_spec(protocols, plan.models_dir, *threads, gomaxprocs=n, go_bin=plan.go_bin)
    raise servers.ServerError(f"no built-in way to start server {name!r}; give its address with --target")


def start_servers(sup: Supervisor, plan: Plan, ui) -> dict[str, servers.Server]:
    s, started = plan.settings, {}
    protocols = tuple(s["protocols"])
    for name in s["servers"]:
        if name in plan.targets:
            eps = {p: a for p, a in plan.targets[name].items() if p in protocols}
            started[name] = servers.Server(name, eps, plan.server_pids.get(name), managed=False)
            started[name].wait_ready(s["startup_timeout_s"])
            ui.info(
                f"{name}: using the running server at {eps}"
                + ("" if name in plan.server_pids else " (server CPU and RSS unavailable: no --server-pid)")
            )
            continue
        spec = service_spec(plan, name, protocols)
        ui.info(f"starting {name} on CPUs {plan.server_cpus}: {' '.join(spec.argv)}")
        log = os.path.join(plan.run_dir, "logs", f"{name}.log")
        started[name] = servers.start(sup, spec, plan.server_cpus, log, s["startup_timeout_s"])
        ui.info(f"{name} ready: {started[name].endpoints}")
    return started


def in_process(sup: Supervisor, plan: Plan, ui) -> Inproc:
    s = plan.settings
    raw = os.path.join(plan.run_dir, "raw")
    all_cpus = sorted(set(plan.server_cpus) | set(plan.client_cpus))
    out = Inproc()
    if not s["inproc"]["enabled"]:
        return out
    ui.info("in-process inference time: Go core benchmark and onnxruntime from Python, pinned to the server CPUs")
    env = {"GOMAXPROCS": str(len(plan.server_cpus))}
    go, problem = inproc.go_timings(
        sup,
        os.path.join(plan.repo, "go_service"),
        s["models"],
        s["batch"],
        s["inproc"]["go_benchtime"],
        plan.server_cpus,
        all_cpus,
        env,
        raw,
    )
    py, problem_py = inproc.python_timings(
        sup, plan.models_dir, s["models"], s["batch"], s["inproc"]["python_min_time_s"], plan.server_cpus, raw
    )
    for impl, timings in (("go", go), ("python", py)):
        out.timings += [InprocTiming(impl, m, b, us) for (m, b), us in timings.items()]
    out.problems = [p for p in (problem, problem_py) if p]
    for p in out.problems:
        ui.warn(p)
    return out


def _load_argv(plan: Plan, protocol: str, address: str, conc: int, body: str):
    """(tool, duration → argv) for one endpoint and scenario."""
    s, tools, n_client = plan.settings, plan.tools, len(plan.client_cpus)
    if protocol == "http":
        return "hey", lambda d: loadgen.hey_argv(
            tools.hey,
            f"http://{address}/v1/predict",
            concurrency=conc,
            n_cpus=n_client,
            timeout_s=s["request_timeout_s"],
            duration_s=d,
            body=body,
        )
    return "ghz", lambda d: loadgen.ghz_argv(
        tools,
        address,
        concurrency=conc,
        n_cpus=n_client,
        timeout_s=s["request_timeout_s"],
        duration_s=d,
        body=body,
        connections=s["ghz_connections"],
    )


def serve_matrix(sup: Supervisor, plan: Plan, running: dict[str, servers.Server], bodies: dict, ui) -> list[Run]:
    s, runs = plan.settings, []
    scenarios = itertools.product(s["models"], s["batch"], s["concurrency"], s["protocols"])
    for model, batch, conc, protocol in scenarios:
        for repeat in range(1, s["repeats"] + 1):
            for name, server in running.items():  # implementations interleaved: A B A B …
                address = server.endpoints.get(protocol)
                if address is None:
                    continue
                tool, argv = _load_argv(plan, protocol, address, conc, bodies[(model, batch)])
                labels = {
                    "kind": "serve",
                    "server": name,
                    "protocol": protocol,
                    "model": model,
                    "batch": batch,
                    "concurrency": conc,
                    "repeat": repeat,
                    "mode": None,
                    "duration_s": s["duration_s"],
                }
                raw = os.path.join(
                    plan.run_dir,
                    "raw",
                    f"{name}-{protocol}-{model}-b{batch}-c{conc}-r{repeat}." + ("csv" if tool == "hey" else "json"),
                )
                others = [o for o in running.values() if o is not server]
                warm = argv(s["warmup_s"]) if s["warmup_s"] > 0 else None
                record = measure_run(
                    sup,
                    server,
                    others,
                    tool,
                    warm,
                    argv(s["duration_s"]),
                    raw,
                    (plan.server_cpus, plan.client_cpus),
                    s,
                    labels,
                )
                runs.append(record)
                ui.advance(record)
    return runs


def seed_runs(sup: Supervisor, plan: Plan, ui) -> tuple[list[Run], dict[str, servers.Server]]:
    """The seed post's toys: its exact command (hey -n 1000 -c 10) and a longer timed run, interleaved."""
    s, seed, runs = plan.settings, plan.settings["seed"], []
    toys = {}
    try:
        for name in SEED_TOYS:
            spec = servers.toy_spec(name, plan.toy_go_bin)
            log = os.path.join(plan.run_dir, "logs", f"{name}.log")
            toys[name] = servers.start(sup, spec, plan.server_cpus, log, s["startup_timeout_s"])
            ui.info(f"seed toy {name} ready: {toys[name].endpoints['http']}")
        for repeat, mode in itertools.product(range(1, seed["repeats"] + 1), ("exact", "timed")):
            for name, toy in toys.items():
                url = f"http://{toy.endpoints['http']}/predict"
                common = dict(
                    concurrency=seed["concurrency"], n_cpus=len(plan.client_cpus), timeout_s=s["request_timeout_s"]
                )
                warm = (
                    loadgen.hey_argv(plan.tools.hey, url, duration_s=s["warmup_s"], **common)
                    if s["warmup_s"] > 0
                    else None
                )
                if mode == "exact":
                    argv = loadgen.hey_argv(plan.tools.hey, url, requests=seed["requests"], **common)
                else:
                    argv = loadgen.hey_argv(plan.tools.hey, url, duration_s=seed["duration_s"], **common)
                labels = {
                    "kind": "seed",
                    "server": name,
                    "protocol": "http",
                    "model": None,
                    "batch": None,
                    "concurrency": seed["concurrency"],
                    "repeat": repeat,
                    "mode": mode,
                    "duration_s": seed["duration_s"] if mode == "timed" else None,
                }
                raw = os.path.join(plan.run_dir, "raw", f"seed-{name}-{mode}-r{repeat}.csv")
                others = [o for o in toys.values() if o is not toy]
                record = measure_run(
                    sup, toy, others, "hey", warm, argv, raw, (plan.server_cpus, plan.client_cpus), s, labels
                )
                runs.append(record)
                ui.advance(record)
    finally:
        for toy in toys.values():
            toy.stop(sup)
    return runs, toys


def run(plan: Plan, ui) -> Results:
    """Measure everything the plan asks for; the Results (with environment, scenarios and goals)."""
    s = plan.settings
    for sub in ("raw", "logs", "bodies"):
        os.makedirs(os.path.join(plan.run_dir, sub), exist_ok=True)
    results = Results(
        run_id=plan.run_id,
        profile=plan.profile,
        command=sys.argv,
        started_at=_now(),
        finished_at="",
        estimate=estimate_s(plan),
        environment={},
        settings=s,
    )
    started = time.monotonic()
    with Supervisor(s["stop_timeout_s"]) as sup:
        if plan.only != "seed":
            models = payloads.load_models(plan.models_dir, s["models"])
            bodies = payloads.write_bodies(os.path.join(plan.run_dir, "bodies"), models, s["batch"])
            running = start_servers(sup, plan, ui)
            endpoints = [(n, p, a) for n, r in running.items() for p, a in r.endpoints.items()]
            ui.info(f"parity gate: {len(endpoints)} endpoint(s) × {len(models)} model(s)")
            results.parity = parity.run_gate(
                endpoints, models, s["batch"], s["parity"]["rows"], s["parity"]["tolerance"]
            )
            if not results.parity.passed:
                results.servers = _describe(running, plan.run_dir)
                return _finish(results, plan, started)
            ui.info(
                f"parity gate passed: {results.parity.answers_checked} answers, max |diff| "
                f"{results.parity.max_abs_diff:.3g}"
            )
            results.inproc = in_process(sup, plan, ui)
            n_endpoints = sum(p in r.endpoints for r in running.values() for p in s["protocols"])
            n_serve = n_endpoints * len(s["models"]) * len(s["batch"]) * len(s["concurrency"]) * s["repeats"]
            ui.start_progress(n_serve + _seed_count(plan))
            results.runs += serve_matrix(sup, plan, running, bodies, ui)
            for server in running.values():
                server.stop(sup)
            results.servers.update(_describe(running, plan.run_dir))
        else:
            ui.start_progress(_seed_count(plan))
        if plan.only != "serve" and s["seed"]["enabled"]:
            seed, toys = seed_runs(sup, plan, ui)
            results.runs += seed
            results.servers.update(_describe(toys, plan.run_dir))
    ui.finish_progress()
    return _finish(results, plan, started)


def _finish(results: Results, plan: Plan, started: float) -> Results:
    s = plan.settings
    results.wall_s = time.monotonic() - started
    results.finished_at = _now()
    pinning = {
        "server_cpus": plan.server_cpus,
        "client_cpus": plan.client_cpus,
        "python_workers": len(plan.server_cpus),
        "go_gomaxprocs": len(plan.server_cpus),
        "tool_cpus": len(plan.client_cpus),
    }
    tools = {"hey": plan.tools.hey, "ghz": plan.tools.ghz}
    results.environment = environment.collect(plan.repo, tools, pinning)
    results.scenarios = stats.aggregate(results.runs)
    results.goals = goals.evaluate(s["goals"], results.scenarios, results.inproc, s["reference_concurrency"])
    return results


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _seed_count(plan: Plan) -> int:
    seed = plan.settings["seed"]
    return 0 if plan.only == "serve" or not seed["enabled"] else len(SEED_TOYS) * seed["repeats"] * 2


def _describe(started: dict[str, servers.Server], run_dir: str) -> dict[str, ServerInfo]:
    """Endpoints, pid, command line, log and exit status (after the bench stopped it) of each server."""
    return {
        n: ServerInfo(
            endpoints=r.endpoints,
            managed=r.managed,
            pid=r.pid,
            argv=r.argv,
            log=r.log_path and os.path.relpath(r.log_path, run_dir),
            exit_code=r.exit_code,
        )
        for n, r in started.items()
    }
