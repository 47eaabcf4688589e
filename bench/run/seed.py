"""The seed post's toys (bench/toy: a Flask development server and Go net/http answering a constant
string): its exact command (hey -n 1000 -c 10) and a longer timed run, the toys interleaved."""

from __future__ import annotations

import itertools
import os

from bench.plan import SEED_MODES, SEED_TOYS, Plan
from bench.results import Run
from bench.run import loadgen, servers
from bench.run.measure import measure_run
from bench.run.procs import Supervisor


def seed_runs(sup: Supervisor, plan: Plan, ui) -> tuple[list[Run], dict[str, servers.Server]]:
    """Every repeat of both modes against both toys; (runs, the toys, stopped)."""
    s, seed, runs = plan.settings, plan.settings.seed, []
    toys = {}
    try:
        for name in SEED_TOYS:
            toys[name] = servers.start_planned(sup, plan, servers.toy_spec(name, plan.toy_go_bin), name)
            ui.info(f"seed toy {name} ready: {toys[name].endpoints['http']}")
        for repeat, mode in itertools.product(range(1, seed.repeats + 1), SEED_MODES):
            for name, toy in toys.items():
                url = f"http://{toy.endpoints['http']}/predict"
                common = dict(concurrency=seed.concurrency, n_cpus=len(plan.client_cpus), timeout_s=s.request_timeout_s)
                warm = (
                    loadgen.hey_argv(plan.tools.hey, url, duration_s=s.warmup_s, **common) if s.warmup_s > 0 else None
                )
                if mode == "exact":
                    argv = loadgen.hey_argv(plan.tools.hey, url, requests=seed.requests, **common)
                else:
                    argv = loadgen.hey_argv(plan.tools.hey, url, duration_s=seed.duration_s, **common)
                labels = {
                    "kind": "seed",
                    "server": name,
                    "protocol": "http",
                    "model": None,
                    "batch": None,
                    "concurrency": seed.concurrency,
                    "repeat": repeat,
                    "mode": mode,
                    "duration_s": seed.duration_s if mode == "timed" else None,
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
