"""Capacity sweeps: for each endpoint, a server started alone in a CPU-capped cgroup (the server,
not the load generator, must be the bottleneck), a short closed-loop probe to guess where to start,
then the search of bench.analysis.capacity over open-loop points. Each point records the server's
and the generator's CPU utilisation; the instrument's floor is the same schedule against the null
servers (the seed's Go toy over HTTP, its null gRPC server) under the same cap; the cap's own effect
is the p99 of a low rate with and without it.
"""

from __future__ import annotations

import contextlib
import os

from bench.analysis import capacity as search
from bench.analysis import stats
from bench.plan import Plan
from bench.results import Capacity, CapacityPoint
from bench.run import cgroup, openloop, servers, v2load
from bench.run.measure import tree_cpu
from bench.run.procs import Supervisor
from bench.settings import CapacitySettings

TOY_PROTOCOL = "null-http"


@contextlib.contextmanager
def capped(name: str, quota: float | None, period_us: int):
    if quota is None:
        yield None
        return
    with cgroup.CpuCap(name, quota, period_us) as cap:
        yield cap


def run(sup: Supervisor, plan: Plan, ui, bodies: dict) -> tuple[list[Capacity], dict]:
    """Every sweep of the settings' capacity section; (results, calibration)."""
    c = plan.settings.capacity
    quota = plan.cpu_quota
    out, calibration = [], {"cpu_quota": quota, "cfs_period_us": c.cfs_period_us, "floors": []}
    for model in c.models:
        for batch in c.batch:
            for name, protocol in _endpoints(c):
                out.append(_sweep(sup, plan, ui, name, protocol, model, batch, bodies))
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


def _endpoints(c: CapacitySettings) -> list[tuple[str, str]]:
    pairs = [(server, protocol) for server in c.servers for protocol in c.protocols if servers.speaks(server, protocol)]
    return pairs + [(toy, TOY_PROTOCOL) for toy in c.toys]


def _target(server: servers.Server, protocol: str, bodies: dict, model: str, batch: int) -> openloop.Target:
    if protocol == TOY_PROTOCOL:
        return openloop.Target(protocol, server.endpoints["http"], None, path="/predict")
    if protocol in v2load.PROTOCOLS:
        return v2load.open_target(protocol, server.endpoints[servers.transport(protocol)], bodies, model, batch)
    kind = "protobuf" if protocol == "http-protobuf" else "json"
    return openloop.Target(protocol, server.endpoints[servers.transport(protocol)], bodies[(model, batch, kind)])


def _sweep(sup, plan, ui, name, protocol, model, batch, bodies) -> Capacity:
    c = plan.settings.capacity
    model, batch = (None, None) if protocol == TOY_PROTOCOL else (model, batch)
    rules = search.Rules(
        slo_ms=c.slo_p99_ms, percentile=c.percentile, step=c.step, precision=c.precision, max_points=c.max_points
    )
    label = f"{name}/{protocol}" + (f" {model} b{batch}" if model else "")
    with capped(f"{name}-{protocol}", plan.cpu_quota, c.cfs_period_us) as cap:
        spec = servers.spec_for(plan, name, protocol)
        server = servers.start_planned(sup, plan, spec, f"capacity-{name}-{protocol}", cap.preexec if cap else None)
        try:
            target = _target(server, protocol, bodies, model, batch)
            start = _start_rate(sup, plan, server, target)
            ui.info(f"capacity {label}: start at {start:,.0f} req/s (SLO p{c.percentile:g} ≤ {c.slo_p99_ms:g} ms)")
            counter = iter(range(1, 1000))

            def measure(rate, confirm):
                stem = f"capacity-{name}-{protocol}-{model}-b{batch}-p{next(counter)}"
                return point(sup, plan, server, target, rate, stem, confirm)

            found, bound_by, points = search.search(
                measure, start, rules, progress=lambda p: ui.capacity_point(label, p)
            )
        finally:
            server.stop(sup)
    return _summarize(name, protocol, model, batch, found, bound_by, points, plan.cpu_quota, c)


def point_duration_s(c: CapacitySettings, rate: float) -> float:
    """Long enough for point_min_requests answers (a p99 of fewer is a handful of samples), at
    least point_duration_s, at most point_max_duration_s."""
    wanted = c.point_min_requests / max(rate, 1e-9)
    return round(min(c.point_max_duration_s, max(c.point_duration_s, wanted)), 1)


def point(sup, plan, server, target, rate, stem, confirm=False) -> CapacityPoint:
    """One open-loop point: a warm-up, then the timed period bracketed by the server's CPU. The
    generator's raw output is kept as raw/<stem>.<tool>.<format>.gz (none when stem is None)."""
    c, timeout_s = plan.settings.capacity, plan.settings.request_timeout_s
    raw_path = os.path.join(plan.run_dir, "raw", openloop.raw_name(stem, target, c)) if stem else None
    openloop.run(sup, plan.tools, target, rate, c.point_warmup_s, c, timeout_s, plan.client_cpus, None)
    cpu_before = tree_cpu(server)
    result, usage, argv = openloop.run(
        sup, plan.tools, target, rate, point_duration_s(c, rate), c, timeout_s, plan.client_cpus, raw_path
    )
    cpu_after = tree_cpu(server)
    cpu_s = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    wall = max(usage.wall_s, 1e-9)
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
        flags=["confirm"] if confirm else [],
        passed=False,
        raw=os.path.relpath(raw_path + ".gz", plan.run_dir) if raw_path else None,
        command=argv,
    )


def _start_rate(sup, plan, server, target) -> float:
    """Half the rate the cap allows by the CPU per request of a short open-loop probe."""
    probe_rps = plan.settings.capacity.probe_rps
    probe = point(sup, plan, server, target, probe_rps, None)
    cpu = probe.server_cpu_us_per_req
    if not cpu:
        return probe_rps
    quota = plan.cpu_quota or len(plan.server_cpus)
    return max(probe_rps / 2, 0.5 * quota / (cpu / 1e6))


def _summarize(name, protocol, model, batch, found, bound_by, points, quota, c: CapacitySettings) -> Capacity:
    at = [p for p in points if p.passed and found is not None and abs(p.offered_rps - found) < 1e-6]
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
        bound_by=bound_by,
        points=points,
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
        item.notes.append(
            f"at capacity the server used {item.server_util_at_capacity:.0%} of its quota (< "
            f"{c.server_util_floor:.0%}): its latency, not its CPU, set the limit"
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
        toy = servers.start_planned(sup, plan, spec, f"floor-{item.protocol}", cap.preexec if cap else None)
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
            server = servers.start_planned(sup, plan, spec, f"calibration-{label}", cap.preexec if cap else None)
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
