"""The run: servers up → parity gate → in-process timings → scenario matrix → variants → seed toys →
capacity → across a network → Results.

Only the order of the stages is decided here; each stage is a module of bench.run (matrix, seed,
capacity, inproc, parity), and how a server is started is bench.run.servers. Printing is the
caller's `ui` (bench.report.console), writing the report and plots is bench.report. Everything the
run needs arrives in a Plan (bench.plan) built by __main__; what it measured leaves as one
`Results` (bench.results).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

from bench.analysis import goals, stats
from bench.plan import Plan, estimate_s, progress_total
from bench.results import Results
from bench.run import capacity, environment, inproc, matrix, network, parity, payloads, peers, seed, servers
from bench.run.procs import Supervisor


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
        names = sorted({m for ms, _, stage in wanted if plan.stage(stage) for m in ms})
        batches = sorted({b for _, bs, stage in wanted if plan.stage(stage) for b in bs})
        models = payloads.load_models(plan.models_dir, names) if names else {}
        bodies = payloads.write_bodies(os.path.join(plan.run_dir, "bodies"), models, batches) if names else {}
        if named_peers:  # other V2 servers (PROFILE=peers): installed? their models and settings laid out
            peers.prepare(plan, named_peers)
        ui.start_progress(progress_total(plan))
        if plan.stage("matrix"):
            running = servers.start_servers(sup, plan, ui, s.servers, s.matrix)
            results.parity = parity.gate(ui, running, {m: models[m] for m in s.models}, s.batch, s.parity)
            if not results.parity.passed:
                results.servers = servers.describe(running, plan.run_dir)
                ui.finish_progress()
                return _finish(results, plan, started)
            results.inproc = inproc.floors(sup, plan, ui)
            results.runs += matrix.serve_matrix(
                sup, plan, running, bodies, ui, kind="serve", models=s.models, batches=s.batch, matrix=s.matrix
            )
            for server in running.values():
                server.stop(sup)
            results.servers.update(servers.describe(running, plan.run_dir))
        if plan.stage("variants"):
            results.runs += matrix.run_variants(sup, plan, ui, models, bodies, results)
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
                return _finish(results, plan, started)
        if plan.stage("capacity"):
            results.capacity, results.calibration = capacity.run(sup, plan, ui, bodies)
        if plan.stage("network"):
            results.network = network.run(sup, plan, ui)
    if named_peers:
        results.peers = peers.describe(plan, named_peers)
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
    results.goals = goals.evaluate(s.goals, results.scenarios, results.inproc, s.reference_concurrency)
    return results


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
