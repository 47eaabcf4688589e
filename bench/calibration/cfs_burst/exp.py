"""One question, measured: does a CFS burst change what a 0.5-CPU cap does to a server's p99?

For each configuration (CFS period : burst, in µs; "cpuset" = no quota, the whole server CPU) and
each offered rate: the server alone in its cgroup, open-loop load for 3 s after a 0.5 s warm-up,
then p50/p99 from the due time, the server's CPU as a share of the quota, the share of CFS periods
throttled and the seconds throttled (cpu.stat), other processes' share of the server CPU, the
generator's CPU. One JSON line per point on stdout (results.jsonl here).

    .venv/bin/python bench/calibration/cfs_burst/exp.py go/http-json 10000:0,10000:5000 5000,6000,7000 \\
        >> bench/calibration/cfs_burst/results.jsonl

Run from the repo root with the bench built (make build bench-toys models). The Go server is given
--max-inflight 100000 so that its admission does not refuse before its CPU is used (the question is
the cap, not admission). Not part of `make`.
"""

import json
import os
import sys
import tempfile
import time

from bench import config
from bench.analysis import stats
from bench.plan import Plan
from bench.run import cgroup, openloop, payloads, servers
from bench.run.loadgen import Tools
from bench.run.measure import busy_s, tree_cpu
from bench.run.procs import Supervisor
from bench.settings import Settings

REPO = os.getcwd()
QUOTA = 0.5


def plan_for(run_dir: str) -> Plan:
    s = Settings.from_json(config.load(os.path.join(REPO, "bench", "scenarios.yaml"), "capacity-iris"))
    for d in ("raw", "logs", "bodies"):
        os.makedirs(os.path.join(run_dir, d), exist_ok=True)
    tools = Tools.installed(REPO, os.path.join(REPO, ".tools", "bin"), os.path.join(REPO, "go_service", "bin"))
    return Plan(
        settings=s, profile="calibration", repo=REPO, run_dir=run_dir, models_dir=os.path.join(REPO, "models"),
        server_cpus=[0], client_cpus=[1], tools=tools, go_bin=os.path.join(REPO, "go_service", "bin", "go_service"),
        toy_go_bin=os.path.join(REPO, "bench", "toy", "go", "bin", "toy"), cpu_quota=QUOTA,
    )  # fmt: skip


def measure(sup, plan, server, target, rate, cap, duration_s=3.0) -> dict:
    c = plan.settings.capacity
    openloop.run(sup, plan.tools, target, rate, 0.5, c, 10, plan.client_cpus, None)
    before_t, before_cpu, before_busy = cap.throttling() if cap else {}, tree_cpu(server), busy_s(plan.server_cpus)
    result, usage, _ = openloop.run(sup, plan.tools, target, rate, duration_s, c, 10, plan.client_cpus, None)
    after_t, after_cpu, after_busy = cap.throttling() if cap else {}, tree_cpu(server), busy_s(plan.server_cpus)
    quota = cap.quota if cap else len(plan.server_cpus)
    cpu = after_cpu - before_cpu
    d = {k: after_t[k] - before_t.get(k, 0.0) for k in after_t}
    lat = stats.latency_summary(result.latencies_ms)
    return {
        "rate": rate, "ok": result.ok, "errors": result.errors, "p50_ms": lat.p50, "p99_ms": lat.p99,
        "server_util": cpu / (usage.wall_s * quota),
        "throttled_share": d["throttled"] / d["periods"] if d.get("periods") else None,
        "throttled_s": d.get("throttled_s"),
        "foreign_share": max(0.0, after_busy - before_busy - cpu) / usage.wall_s,
        "generator_util": usage.cpu_s / usage.wall_s,
    }  # fmt: skip


def main(argv: list[str]) -> int:
    endpoint, configs, rates = argv[0], argv[1].split(","), [float(r) for r in argv[2].split(",")]
    name, protocol = endpoint.split("/")
    plan = plan_for(tempfile.mkdtemp(prefix="cfs-burst-"))
    bodies = payloads.write_bodies(
        os.path.join(plan.run_dir, "bodies"), payloads.load_models(plan.models_dir, ["iris-logreg"]), [1]
    )
    with Supervisor(15) as sup:
        for conf in configs:
            cap = None
            if conf != "cpuset":
                period, burst = (int(x) for x in conf.split(":"))
                cap = cgroup.CpuCap(f"calibration-{period}-{burst}", QUOTA, period, burst)
            spec = servers.spec_for(plan, name, protocol)
            if name == "go":
                spec.argv += ["--max-inflight", "100000"]
            server = servers.start_planned(sup, plan, spec, f"cfs-{conf}", cap)
            try:
                address = server.endpoints[servers.transport(protocol)]
                target = openloop.Target(protocol, address, bodies[("iris-logreg", 1, "json")])
                for rate in rates:
                    point = measure(sup, plan, server, target, rate, cap)
                    point.update(endpoint=endpoint, config=conf, at=time.strftime("%Y-%m-%dT%H:%M:%S"))
                    print(json.dumps(point), flush=True)
            finally:
                server.stop(sup)
                if cap is not None:
                    cap.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
