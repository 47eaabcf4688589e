"""The drift sentinel: a fixed reference workload measured at the start, the middle and the end of a
run, so that the report can say how much the machine's own speed moved while it measured.

Two readings each time, both on the server CPUs, neither depending on the code under test:
- the seed's Go toy (bench/toy/go: net/http answering a constant string) under hey -c 10 for
  `toy_duration_s`: its server CPU per request (ns-precise, bench.run.procs.tree_cpu_s);
- onnxruntime's session.run of one model and batch, from Python (bench.run.inproc_child, work
  "inference"): CPU µs per run, the best of three repeats.
Drift = the largest max ÷ min − 1 of either over the readings; a run whose drift exceeds the
threshold is marked (results.json `drift`, the report's answer). Capacity per core is also given
normalised by the toy's reading: × (toy µs per request ÷ `reference_toy_us`), i.e. on a machine
whose toy costs that much, so that runs on one machine can be set side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.plan import Plan
from bench.run import loadgen, servers
from bench.run.measure import tree_cpu
from bench.run.procs import Supervisor


class Sentinel:
    def __init__(self, sup: Supervisor, plan: Plan, ui):
        self.sup, self.plan, self.ui = sup, plan, ui
        self.started = time.monotonic()
        self.readings: list[dict] = []
        self._child: subprocess.Popen | None = None

    def read(self, at: str) -> dict | None:
        """One reading ("start", "middle", "end"), kept and returned (None when turned off)."""
        s = self.plan.settings.sentinel
        if not s.enabled:
            return None
        reading = {
            "at": at,
            "elapsed_s": round(time.monotonic() - self.started, 1),
            "toy_cpu_us_per_req": self._toy(at),
            "inproc_us": self._inproc(),
        }
        self.readings.append(reading)
        self.ui.info(
            f"sentinel ({at}): toy-go {reading['toy_cpu_us_per_req'] or 0:.1f} µs CPU/request, "
            f"{s.model} b{s.batch} session.run {reading['inproc_us'] or 0:.1f} µs"
        )
        return reading

    def _toy(self, at: str) -> float | None:
        p, s = self.plan, self.plan.settings
        log = f"sentinel-{at}"
        toy = servers.start_planned(self.sup, p, servers.toy_spec("toy-go", p.toy_go_bin), log)
        try:
            url = f"http://{toy.endpoints['http']}/predict"
            common = dict(concurrency=10, n_cpus=len(p.client_cpus), timeout_s=s.request_timeout_s)
            raw = os.path.join(p.run_dir, "raw", f"sentinel-{at}.csv")
            loadgen.measure(self.sup, "hey", loadgen.hey_argv(p.tools.hey, url, duration_s=0.3, **common),
                            p.client_cpus, raw + ".warm", keep=False)  # fmt: skip
            before = tree_cpu(toy)
            argv = loadgen.hey_argv(p.tools.hey, url, duration_s=s.sentinel.toy_duration_s, **common)
            result, _ = loadgen.measure(self.sup, "hey", argv, p.client_cpus, raw)
            after = tree_cpu(toy)
        finally:
            toy.stop(self.sup)
        if before is None or after is None or result.ok <= 0:
            return None
        return (after - before) / result.ok * 1e6

    def _inproc(self) -> float | None:
        p, s = self.plan, self.plan.settings.sentinel
        if self._child is None:
            argv = [sys.executable, "-m", "bench.run.inproc_child", "--models", p.models_dir, "--bodies",
                    os.path.join(p.run_dir, "bodies"), "--serve"]  # fmt: skip
            self._child = self.sup.spawn(
                argv, p.server_cpus, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
        ask = {"model": s.model, "batch": s.batch, "work": "inference", "min_time": s.inproc_min_time_s}
        try:
            self._child.stdin.write((json.dumps(ask) + "\n").encode())
            self._child.stdin.flush()
            return json.loads(self._child.stdout.readline() or b"{}").get("us_per_run")
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        if self._child is not None:
            self._child.stdin.close()
            self.sup.stop(self._child)
            self._child = None


def summary(readings: list[dict], threshold: float, reference_toy_us: float) -> dict:
    """results.json `drift`: the readings, each measure's max ÷ min over them, the drift (the
    larger, less one), whether it exceeds the threshold."""
    out: dict = {"readings": readings, "threshold": threshold, "reference_toy_us": reference_toy_us}
    worst = None
    for key in ("toy_cpu_us_per_req", "inproc_us"):
        values = [r[key] for r in readings if r.get(key)]
        ratio = max(values) / min(values) if len(values) >= 2 else None
        out[f"{key}_ratio"] = ratio
        if ratio is not None:
            worst = max(worst or 0.0, ratio - 1)
    out["drift"] = worst
    out["flagged"] = worst is not None and worst > threshold
    return out


def toy_us_during(drift: dict, stages: tuple[str, ...]) -> float | None:
    """The toy's CPU per request over the readings taken around some stages (their geometric
    mean): what normalising a figure of those stages divides by."""
    readings = [r for r in drift.get("readings", []) if r["at"] in stages]
    values = [r["toy_cpu_us_per_req"] for r in readings if r.get("toy_cpu_us_per_req")]
    if not values:
        return None
    product = 1.0
    for v in values:
        product *= v
    return product ** (1 / len(values))
