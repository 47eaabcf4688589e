"""Capacity at an SLO: the sweeps, per core and cross-checked, beside the instrument's floor and
the cap's own effect."""

from __future__ import annotations

from bench.report.format import num, ratio_text, section, table
from bench.results import Results


def render(results: Results, conc: int | None) -> list[str]:
    return section("Capacity at an SLO", _body(results))


def _body(results: Results) -> list[str]:
    items = results.capacity
    if not items:
        return ["(no capacity sweep in this run)"]
    cal = results.calibration
    quota = cal.get("cpu_quota")
    first = items[0]
    lines = [
        f"Open-loop load on a schedule (vegeta for HTTP, {_grpc_tool(results)} for gRPC; latency from when each "
        f"request was due), each server in a cgroup of its own capped to {quota if quota is not None else 'no'} CPU "
        f"(CFS period {cal.get('cfs_period_us', 0) / 1000:g} ms, burst {cal.get('cfs_burst_us', 0) / 1000:g} ms: "
        "unused quota carried over absorbs a burst of the server's threads); the endpoints of one model and batch "
        "searched in lockstep (one point each in turn), so that their ratios compare the same minutes. "
        "Capacity: the highest offered rate with p"
        f"{first.percentile:g} ≤ {first.slo_p99_ms:g} ms, no errors and ≥ 99% of the offered rate achieved, found by "
        "a geometric step then bisection to 5%, then measured once more. Per core = capacity ÷ quota; cross-check = "
        "1 ÷ server CPU per request at the capacity point; normalised = per core × the drift sentinel's toy CPU per "
        "request ÷ its reference (per core on a machine whose toy costs that much: runs on one machine side by "
        "side). Bound by: server only when it used ≥ 80% of its quota at capacity; else what stopped it — "
        "latency (it rose with CPU to spare), throttling (the cap stalled it: cpu.stat nr_throttled ≥ 5% of "
        "periods), admission (refusals), noise (other processes on the server CPUs at every failing point). "
        "Throttled: the largest share of CFS periods throttled at or just above "
        "the capacity. Floor: the same rate against the null server of the "
        "protocol, uncapped (what the generator and the machine add to any server's latency); the cap's own effect "
        "is below the table. Plots: capacity_latency.png (the hockey stick), capacity_cpu.png.",
        "",
    ]
    body = []
    for c in items:
        bound = {"unfinished": " (a lower bound: no failing rate found)", "generator": " (not server capacity)"}.get(
            c.bound_by, ""
        )
        bracket = (
            f" [{num(c.capacity_rps_bracket[0], 0)}–{num(c.capacity_rps_bracket[1], 0)}]"
            if c.capacity_rps_bracket
            else ""
        )
        body.append(
            [
                c.server,
                c.protocol,
                c.model or "-",
                str(c.batch or "-"),
                num(c.capacity_rps, 0) + bracket + bound,
                num(c.capacity_rps_per_core, 0),
                num(c.capacity_rps_per_core_normalised, 0),
                num(c.per_core_from_cpu, 0),
                ratio_text(c.cross_check_ratio),
                "n/a" if c.server_util_at_capacity is None else f"{100 * c.server_util_at_capacity:.0f}%",
                _throttled(c),
                c.bound_by,
                num(c.floor_p99_ms, 2),
                str(len(c.points)),
            ]
        )
    header = [
        "server",
        "protocol",
        "model",
        "batch",
        "capacity req/s [pass–fail]",
        "per core",
        "per core, normalised",
        "1 ÷ CPU/req",
        "per core ÷ cross-check",
        "server CPU at capacity (of quota)",
        "throttled",
        "bound by",
        "floor p99 ms",
        "points",
    ]
    lines += table(header, body)
    lines += ["", *_capacity_ratios(items), ""]
    notes = [f"- {c.server}/{c.protocol}: {note}" for c in items for note in c.notes]
    if notes:
        lines += ["Notes:", "", *notes, ""]
    effect = cal.get("cap_effect")
    if effect:
        lines.append(
            f"The cap's own effect ({effect['server']}/{effect['protocol']} at {effect['rate']:g} req/s): p50 "
            f"{num(effect.get('capped_p50_ms'), 2)} ms / p99 {num(effect.get('capped_p99_ms'), 2)} ms capped, p50 "
            f"{num(effect.get('uncapped_p50_ms'), 2)} ms / p99 {num(effect.get('uncapped_p99_ms'), 2)} ms uncapped."
        )
    return lines


def _grpc_tool(results: Results) -> str:
    tool = results.settings.get("capacity", {}).get("grpc_generator", "ghz")
    return "go_service/cmd/openloop" if tool == "openloop" else "ghz --rps"


def _throttled(c) -> str:
    """The largest share of periods throttled at the capacity point and the failing points above it."""
    near = [p for p in c.points if p.nr_periods and (c.capacity_rps is None or p.offered_rps >= c.capacity_rps)]
    shares = [p.nr_throttled / p.nr_periods for p in near if p.nr_throttled is not None]
    return f"{100 * max(shares):.0f}%" if shares else "n/a"


def _capacity_ratios(items) -> list[str]:
    """Go ÷ Python and gRPC ÷ HTTP JSON per core, each pair searched in lockstep; in brackets what
    the two searches' brackets allow."""
    found = {
        (c.server, c.protocol, c.model, c.batch): c
        for c in items
        if c.capacity_rps_per_core and c.bound_by not in ("generator", "none")
    }
    rows = []
    for (server, protocol, model, batch), c in found.items():
        pairs = []
        if server == "go" and ("python", protocol, model, batch) in found:
            pairs.append((f"Go ÷ Python, {protocol}", found[("python", protocol, model, batch)]))
        if protocol == "grpc" and (server, "http-json", model, batch) in found:
            pairs.append((f"gRPC ÷ HTTP JSON, {server}", found[(server, "http-json", model, batch)]))
        for label, other in pairs:
            value = c.capacity_rps_per_core / other.capacity_rps_per_core
            rows.append(
                [label, f"{model} b{batch}", ratio_text(value, _bracket(c, other)), f"{c.bound_by} ÷ {other.bound_by}"]
            )
    if not rows:
        return []
    return table(["capacity per core", "model", "ratio [from the brackets]", "bound by"], rows)


def _bracket(a, b) -> list[float] | None:
    """The ratio's range when each capacity lies anywhere in its [pass, fail] bracket."""
    if not a.capacity_rps_bracket or not b.capacity_rps_bracket:
        return None
    (a_lo, a_hi), (b_lo, b_hi) = a.capacity_rps_bracket, b.capacity_rps_bracket
    return [a_lo / b_hi, a_hi / b_lo]
