"""Capacity sweeps: for each model and batch, every endpoint's server started in a CPU-capped cgroup
of its own (the server, not the load generator, must be the bottleneck), an open-loop probe to guess
where each starts, then the searches of bench.analysis.capacity in lockstep — one point of each
endpoint in turn — so that a ratio of two capacities compares the same minutes. Each point records
the server's and the generator's CPU utilisation and the cgroup's throttling (cpu.stat); what bounds
a capacity is checked (bench.analysis.capacity.bound_by): the server's CPU only when it used at least
server_util_floor of its quota there. The instrument's floor is the same schedule against the null
servers (the seed's Go toy over HTTP, its null gRPC server), uncapped; the cap's own effect is the
p99 of a low rate with and without it.
"""

from __future__ import annotations

import contextlib
import os

from bench.analysis import capacity as search
from bench.analysis import stats
from bench.plan import Plan
from bench.results import Capacity, CapacityPoint
from bench.run import cgroup, openloop, servers, v2load
from bench.run.measure import busy_s, tree_cpu
from bench.run.procs import Supervisor
from bench.run.sentinel import toy_us_during as sentinel_toy_us
from bench.settings import CapacitySettings

TOY_PROTOCOL = "null-http"


@contextlib.contextmanager
def capped(name: str, quota: float | None, period_us: int, burst_us: int = 0):
    if quota is None:
        yield None
        return
    with cgroup.CpuCap(name, quota, period_us, burst_us) as cap:
        yield cap


def run(sup: Supervisor, plan: Plan, ui, bodies: dict, checkpoint=None) -> tuple[list[Capacity], dict]:
    """Every sweep of the settings' capacity section, each model × batch's endpoints in lockstep (the
    seed's toys with the first); (results, calibration). `checkpoint()` is called once, when about
    half the points expected are measured (the drift sentinel's middle reading)."""
    c = plan.settings.capacity
    quota = plan.cpu_quota
    burst = _burst_us(plan)
    calibration = {"cpu_quota": quota, "cfs_period_us": c.cfs_period_us, "cfs_burst_us": burst, "floors": []}
    groups = [(m, b) for m in c.models for b in c.batch]
    expected = sum(len(_endpoints(c, i == 0)) for i in range(len(groups))) * min(c.max_points, 10)
    done = [0]

    def after_round(points):
        if checkpoint is not None and done[0] + points >= expected / 2 > done[0]:
            checkpoint()
            done[0] = expected  # once

    out = []
    for i, (model, batch) in enumerate(groups):
        items = _lockstep(sup, plan, ui, _endpoints(c, i == 0), model, batch, bodies, after_round)
        if done[0] < expected:
            done[0] += sum(len(item.points) for item in items)
        out += items
    for item in out:
        floor = _floor(sup, plan, ui, item)
        if floor is not None:
            item.floor_p99_ms = floor
            calibration["floors"].append({"protocol": item.protocol, "rate": item.capacity_rps, "p99_ms": floor})
            if item.capacity_rps and floor * c.floor_margin >= item.slo_p99_ms:
                item.notes.append(
                    f"SLO {item.slo_p99_ms:g} ms is within {c.floor_margin:g}× of the instrument's floor "
                    f"(p99 {floor:.1f} ms against the null server at this rate): this capacity says as much about "
                    "the generator and the cap as about the server"
                )
    if c.calibrate_cap and quota is not None:
        calibration["cap_effect"] = _cap_effect(sup, plan, ui, bodies)
    return out, calibration


def _endpoints(c: CapacitySettings, with_toys: bool = True) -> list[tuple[str, str]]:
    pairs = [(server, protocol) for server in c.servers for protocol in c.protocols if servers.speaks(server, protocol)]
    return pairs + ([(toy, TOY_PROTOCOL) for toy in c.toys] if with_toys else [])


def _burst_us(plan: Plan) -> int:
    """The CFS burst: cfs_burst_periods × the quota of one period (0: none)."""
    c = plan.settings.capacity
    if plan.cpu_quota is None:
        return 0
    return round(c.cfs_burst_periods * plan.cpu_quota * c.cfs_period_us)


def normalise(items: list[Capacity], drift: dict) -> None:
    """Capacity per core × the sentinel toy's CPU per request around the sweeps ÷ its reference:
    per core on a machine whose toy costs the reference (bench.run.sentinel)."""
    toy_us = sentinel_toy_us(drift, ("middle", "end"))
    reference = drift.get("reference_toy_us")
    for item in items:
        if item.capacity_rps_per_core is not None and toy_us and reference:
            item.capacity_rps_per_core_normalised = item.capacity_rps_per_core * toy_us / reference


def _target(server: servers.Server, protocol: str, bodies: dict, model: str, batch: int) -> openloop.Target:
    if protocol == TOY_PROTOCOL:
        return openloop.Target(protocol, server.endpoints["http"], None, path="/predict")
    if protocol in v2load.PROTOCOLS:
        return v2load.open_target(protocol, server.endpoints[servers.transport(protocol)], bodies, model, batch)
    kind = "protobuf" if protocol == "http-protobuf" else "json"
    return openloop.Target(protocol, server.endpoints[servers.transport(protocol)], bodies[(model, batch, kind)])


def _lockstep(sup, plan, ui, endpoints, model, batch, bodies, after_round) -> list[Capacity]:
    """One model and batch: every endpoint's server up in a capped cgroup of its own, a probe each,
    then their searches one point each in turn."""
    c = plan.settings.capacity
    rules = search.Rules(
        slo_ms=c.slo_p99_ms,
        percentile=c.percentile,
        step=c.step,
        precision=c.precision,
        max_points=c.max_points,
        server_util_floor=c.server_util_floor,
    )
    with contextlib.ExitStack() as stack:
        searches, labels, limits = [], [], []
        for name, protocol in endpoints:
            m, b = (None, None) if protocol == TOY_PROTOCOL else (model, batch)
            label = f"{name}/{protocol}" + (f" {m} b{b}" if m else "")
            cap = stack.enter_context(capped(f"{name}-{protocol}", plan.cpu_quota, c.cfs_period_us, _burst_us(plan)))
            spec = servers.spec_for(plan, name, protocol)
            server = servers.start_planned(sup, plan, spec, f"capacity-{name}-{protocol}", cap)
            stack.callback(server.stop, sup)
            target = _target(server, protocol, bodies, m, b)
            start = _start_rate(sup, plan, server, target, cap)
            ui.info(f"capacity {label}: start at {start:,.0f} req/s (SLO p{c.percentile:g} ≤ {c.slo_p99_ms:g} ms)")
            stem = f"capacity-{servers.file_name(name)}-{protocol}-{m}-b{b}-p"
            measure = _measurer(sup, plan, server, target, cap, stem)
            progress = lambda p, lb=label: ui.capacity_point(lb, p)
            searches.append((search.steps(start, rules, progress), measure))
            labels.append((name, protocol, m, b))
            limits.append(cap.describe() if cap else f"CPUs {plan.server_cpus}, no quota")
        found = search.lockstep(searches, after_round)
    return [
        _summarize(*label, capacity, bound, points, plan.cpu_quota, c, rules, limit)
        for label, (capacity, bound, points), limit in zip(labels, found, limits)
    ]


def _measurer(sup, plan, server, target, cap, stem):
    counter = iter(range(1, 1000))
    return lambda rate, confirm: point(sup, plan, server, target, rate, f"{stem}{next(counter)}", confirm, cap)


def point_duration_s(c: CapacitySettings, rate: float) -> float:
    """Long enough for point_min_requests answers (a p99 of fewer is a handful of samples), at
    least point_duration_s, at most point_max_duration_s."""
    wanted = c.point_min_requests / max(rate, 1e-9)
    return round(min(c.point_max_duration_s, max(c.point_duration_s, wanted)), 1)


def point(sup, plan, server, target, rate, stem, confirm=False, cap=None) -> CapacityPoint:
    """One open-loop point: a warm-up, then the timed period bracketed by the server's CPU and its
    cgroup's throttling counters. The generator's raw output is kept as raw/<stem>.<tool>.<format>.gz
    (none when stem is None)."""
    c, timeout_s = plan.settings.capacity, plan.settings.request_timeout_s
    raw_path = os.path.join(plan.run_dir, "raw", openloop.raw_name(stem, target, c)) if stem else None
    openloop.run(sup, plan.tools, target, rate, c.point_warmup_s, c, timeout_s, plan.client_cpus, None)
    throttled_before = cap.throttling() if cap else {}
    cpu_before, busy_before = tree_cpu(server), busy_s(plan.server_cpus)
    result, usage, argv = openloop.run(
        sup, plan.tools, target, rate, point_duration_s(c, rate), c, timeout_s, plan.client_cpus, raw_path
    )
    cpu_after, busy_after = tree_cpu(server), busy_s(plan.server_cpus)
    throttled = {k: v - throttled_before.get(k, 0.0) for k, v in (cap.throttling() if cap else {}).items()}
    cpu_s = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    wall = max(usage.wall_s, 1e-9)
    foreign = None if cpu_s is None else max(0.0, busy_after - busy_before - cpu_s) / (wall * len(plan.server_cpus))
    quota = plan.cpu_quota or len(plan.server_cpus)
    lat = stats.latency_summary(result.latencies_ms)
    return CapacityPoint(
        offered_rps=rate,
        achieved_rps=result.ok / result.elapsed_s if result.elapsed_s > 0 else None,
        requests=result.requests,
        errors=result.errors,
        latency_ms=lat,
        server_cpu_util=None if cpu_s is None else cpu_s / (wall * quota),
        client_cpu_util=stats.client_util(usage.cpu_s, usage.wall_s, len(plan.client_cpus)),
        server_cpu_us_per_req=stats.per_request_us(cpu_s, result.ok),
        schedule_lag_p99_ms=stats.percentile(result.lateness_ms, 99) if result.lateness_ms else None,
        flags=(["confirm"] if confirm else [])
        + (["noisy"] if foreign and foreign >= plan.settings.noise_threshold else []),
        foreign_cpu_share=foreign,
        passed=False,
        raw=os.path.relpath(raw_path + ".gz", plan.run_dir) if raw_path else None,
        command=argv,
        nr_periods=int(throttled["periods"]) if "periods" in throttled else None,
        nr_throttled=int(throttled["throttled"]) if "throttled" in throttled else None,
        throttled_time=throttled.get("throttled_s"),
    )


def _start_rate(sup, plan, server, target, cap=None) -> float:
    """Half the rate the cap allows by the CPU per request of a short open-loop probe."""
    probe_rps = plan.settings.capacity.probe_rps
    probe = point(sup, plan, server, target, probe_rps, None, cap=cap)
    cpu = probe.server_cpu_us_per_req
    if not cpu:
        return probe_rps
    quota = plan.cpu_quota or len(plan.server_cpus)
    return max(probe_rps / 2, 0.5 * quota / (cpu / 1e6))


def _summarize(
    name, protocol, model, batch, found, bound, points, quota, c: CapacitySettings, rules, limit: str
) -> Capacity:
    at = [p for p in points if p.passed and found is not None and abs(p.offered_rps - found) < 1e-6]
    failed_above = [p.offered_rps for p in points if not p.passed and found is not None and p.offered_rps > found]
    best = at[-1] if at else None
    per_core = found / quota if found is not None and quota else None
    cpu = best.server_cpu_us_per_req if best else None
    from_cpu = 1e6 / cpu if cpu else None
    item = Capacity(
        server=name,
        protocol=protocol,
        model=model,
        batch=batch,
        slo_p99_ms=c.slo_p99_ms,
        percentile=c.percentile,
        cpu_quota=quota,
        capacity_rps=found,
        capacity_rps_per_core=per_core,
        bound_by=search.bound_by(found, bound, points, rules),
        points=points,
        capacity_rps_bracket=[found, min(failed_above)] if found is not None and failed_above else None,
        cpu_limit=limit,
        server_util_at_capacity=best.server_cpu_util if best else None,
        cpu_us_per_req=cpu,
        per_core_from_cpu=from_cpu,
        cross_check_ratio=stats.ratio(per_core, from_cpu),
    )
    if found is not None and not any("confirm" in p.flags and p.passed for p in at):
        item.notes.append(
            f"the search ran out of points ({len(points)}) before this rate passed a second time: unconfirmed"
        )
    if item.server_util_at_capacity is not None and item.server_util_at_capacity < c.server_util_floor:
        why = {
            "admission": "its admission refused requests above it (errors)",
            "noise": "other processes used the server CPUs at every failing point above it",
            "throttling": "the CFS cap throttled it (cpu.stat nr_throttled), not its CPU",
            "latency": "its latency, not its CPU, set the limit",
        }.get(item.bound_by, "")
        item.notes.append(
            f"at capacity the server used {item.server_util_at_capacity:.0%} of its quota (< "
            f"{c.server_util_floor:.0%}): bound by {item.bound_by}" + (f" — {why}" if why else "")
        )
    if item.cross_check_ratio is not None and abs(item.cross_check_ratio - 1) > c.cross_check_tolerance:
        item.notes.append(
            f"capacity per core differs from 1 ÷ CPU per request by {abs(item.cross_check_ratio - 1):.0%} "
            f"(> {c.cross_check_tolerance:.0%})"
        )
    return item


def _floor(sup, plan, ui, item: Capacity) -> float | None:
    """p99 of the null server of the item's protocol at the capacity rate, uncapped: what the
    generator, the kernel and the machine add to any server's latency (the cap's own effect is
    measured apart, by _cap_effect)."""
    c = plan.settings.capacity
    if not c.floor or not item.capacity_rps or item.protocol == TOY_PROTOCOL:
        return None
    grpc = servers.transport(item.protocol) == "grpc"
    with capped(f"floor-{item.protocol}", None, c.cfs_period_us) as cap:
        spec = servers.toy_spec("toy-go", plan.toy_go_bin, grpc=grpc)
        toy = servers.start_planned(sup, plan, spec, f"floor-{item.protocol}", cap)
        try:
            target = (
                openloop.Target("grpc", toy.endpoints["grpc"], _any_json_body(plan))
                if grpc
                else openloop.Target(TOY_PROTOCOL, toy.endpoints["http"], None, path="/predict")
            )
            p = point(sup, plan, toy, target, item.capacity_rps, f"floor-{item.protocol}")
        finally:
            toy.stop(sup)
    value = search.latency_at(p, c.percentile)
    ui.info(f"floor {item.protocol} at {item.capacity_rps:,.0f} req/s: p{c.percentile:g} {value or 0:.2f} ms")
    return value


def _any_json_body(plan) -> str:
    bodies = os.path.join(plan.run_dir, "bodies")
    return os.path.join(bodies, sorted(f for f in os.listdir(bodies) if f.endswith(".json"))[0])


def _cap_effect(sup, plan, ui, bodies) -> dict:
    """p99 of Go gRPC at a low rate with and without the cap: what the cap itself adds."""
    c = plan.settings.capacity
    out = {"rate": c.calibration_rps, "server": "go", "protocol": "grpc"}
    for label, quota in (("capped", plan.cpu_quota), ("uncapped", None)):
        with capped("calibration", quota, c.cfs_period_us) as cap:
            spec = servers.spec_for(plan, "go", "grpc")
            server = servers.start_planned(sup, plan, spec, f"calibration-{label}", cap)
            try:
                target = _target(server, "grpc", bodies, c.models[0], c.batch[0])
                p = point(sup, plan, server, target, c.calibration_rps, f"calibration-{label}")
                if cap is not None:
                    out["throttling"] = cap.throttling()
            finally:
                server.stop(sup)
        out[f"{label}_p50_ms"], out[f"{label}_p99_ms"] = p.latency_ms.p50, p.latency_ms.p99
    ui.info(
        f"the cap's own effect at {out['rate']} req/s (go/grpc): p99 {out['capped_p99_ms'] or 0:.2f} ms capped, "
        f"{out['uncapped_p99_ms'] or 0:.2f} ms uncapped"
    )
    return out
