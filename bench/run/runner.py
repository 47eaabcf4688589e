"""The run: servers up → parity gate → in-process timings → the windows (the scenario matrix, the
variants and the floors, interleaved) → seed toys → capacity → across a network → Results.

Only the order of the stages is decided here; each stage is a module of bench.run (windows and
matrix, seed, capacity, inproc, parity), and how a server is started is bench.run.servers. Printing is the
caller's `ui` (bench.report.console), writing the report and plots is bench.report. Everything the
run needs arrives in a Plan (bench.plan) built by __main__; what it measured leaves as one
`Results` (bench.results).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

from bench.analysis import floors, goals, pairs, stats
from bench.plan import Plan, estimate_s, plan_windows, progress_total
from bench.results import Results
from bench.run import capacity, environment, inproc, matrix, network, parity, payloads, peers, seed, servers, windows
from bench.run.procs import Supervisor
from bench.run.sentinel import Sentinel, summary
from bench.settings import NULLS, TOYS


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
        settings=s.to_json(),
    )
    started = time.monotonic()
    variants, c = s.variants, s.capacity
    named = [*(s.servers if plan.stage("matrix") else ()), *(c.servers if plan.stage("capacity") else ())]
    named_peers = sorted({n for n in named if peers.is_peer(n)})
    with Supervisor(s.stop_timeout_s) as sup:
        wanted = [
            (s.models, s.batch, "matrix"),
            (variants.models, variants.batch, "variants"),
            (c.models, c.batch, "capacity"),
        ]
        if s.sentinel.enabled:  # the sentinel's session.run reads its rows from the run's bodies
            wanted.append(((s.sentinel.model,), (s.sentinel.batch,), "sentinel"))
        names = sorted({m for ms, _, stage in wanted if stage == "sentinel" or plan.stage(stage) for m in ms})
        batches = sorted({b for _, bs, stage in wanted if stage == "sentinel" or plan.stage(stage) for b in bs})
        models = payloads.load_models(plan.models_dir, names) if names else {}
        bodies = payloads.write_bodies(os.path.join(plan.run_dir, "bodies"), models, batches) if names else {}
        if named_peers:  # other V2 servers (PROFILE=peers): installed? their models and settings laid out
            peers.prepare(plan, named_peers)
        ui.start_progress(progress_total(plan))
        sentinel = Sentinel(sup, plan, ui)
        try:
            sentinel.read("start")
            wins = plan_windows(plan)
            if wins and not _windows(sup, plan, ui, results, wins, models, bodies):
                ui.finish_progress()
                return _finish(results, plan, started, sentinel)
            if wins and (plan.seed_stage() or plan.stage("capacity")):
                sentinel.read("middle")
            if plan.seed_stage():
                seed_runs, toys = seed.seed_runs(sup, plan, ui)
                results.runs += seed_runs
                results.servers.update(servers.describe(toys, plan.run_dir))
            ui.finish_progress()
            if plan.stage("capacity") and not plan.stage("matrix"):  # a capacity-only run is gated too
                running = servers.start_servers(sup, plan, ui, c.servers, {p: [1] for p in c.protocols})
                try:
                    results.parity = parity.gate(ui, running, {m: models[m] for m in c.models}, c.batch, s.parity)
                finally:
                    for server in running.values():
                        server.stop(sup)
                if not results.parity.passed:
                    return _finish(results, plan, started, sentinel)
            if plan.stage("capacity"):
                middle = None if wins else (lambda: sentinel.read("middle"))  # a capacity-only run's middle
                results.capacity, results.calibration = capacity.run(sup, plan, ui, bodies, middle)
            if plan.stage("network"):
                results.network = network.run(sup, plan, ui)
            sentinel.read("end")
        finally:
            sentinel.close()
    if named_peers:
        results.peers = peers.describe(plan, named_peers)
    return _finish(results, plan, started, sentinel)


def _windows(sup, plan: Plan, ui, results: Results, wins, models, bodies) -> bool:
    """The windows' servers up, gated, the in-process stage, every window measured; False when the
    parity gate failed (nothing measured)."""
    s = plan.settings
    running = servers.start_window_servers(sup, plan, ui, windows.transports_of(wins))
    timer = None
    try:
        gated = {n: srv for n, srv in running.items() if n not in NULLS and n not in TOYS}
        wanted = {m: models[m] for m in sorted({w.model for w in wins})}
        results.parity = parity.gate(ui, gated, wanted, sorted({w.batch for w in wins}), s.parity)
        if not results.parity.passed:
            return False
        if plan.stage("matrix"):
            results.inproc, timer = inproc.stage(sup, plan, ui, os.path.join(plan.run_dir, "bodies"))
        runs, timings, problems = matrix.measure_windows(sup, plan, running, wins, bodies, ui, timer)
        results.runs += runs
        results.inproc.timings += timings
        results.inproc.problems += problems
        return True
    finally:
        for server in running.values():
            server.stop(sup)
        if timer is not None:
            timer.close()
        results.servers.update(servers.describe(running, plan.run_dir))


def _finish(results: Results, plan: Plan, started: float, sentinel: Sentinel | None = None) -> Results:
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
    tools = {"hey": plan.tools.hey, "ghz": plan.tools.ghz, "vegeta": plan.tools.vegeta}
    results.environment = environment.collect(plan.repo, tools, pinning)
    results.scenarios = stats.aggregate(results.runs)
    floors_of = s.floors.of
    results.goals = goals.evaluate(
        s.goals, results.runs, results.scenarios, results.inproc, s.reference_concurrency, floors_of
    )
    results.floors = floors.floors(results.scenarios, floors_of)
    if sentinel is not None:
        results.drift = summary(sentinel.readings, s.sentinel.drift_threshold, s.sentinel.reference_toy_us)
        capacity.normalise(results.capacity, results.drift)
    results.ratios = pairs.every_ratio(results.runs, results.scenarios)
    return results


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
