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
        f"request was due), the server alone in a cgroup capped to {quota if quota is not None else 'no'} CPU "
        f"(CFS period {cal.get('cfs_period_us', 0) / 1000:g} ms). Capacity: the highest offered rate with p"
        f"{first.percentile:g} ≤ {first.slo_p99_ms:g} ms, no errors and ≥ 99% of the offered rate achieved, found by "
        "a geometric step then bisection to 5%, then measured once more. Per core = capacity ÷ quota; cross-check = "
        "1 ÷ server CPU per request at the capacity point. Floor: the same rate against the null server of the "
        "protocol, uncapped (what the generator and the machine add to any server's latency); the cap's own effect "
        "is below the table. Plots: capacity_latency.png (the hockey stick), capacity_cpu.png.",
        "",
    ]
    body = []
    for c in items:
        bound = {"server": "", "unfinished": " (a lower bound: no failing rate found)"}.get(
            c.bound_by, f" ({c.bound_by}-bound: not server capacity)"
        )
        body.append(
            [
                c.server,
                c.protocol,
                c.model or "-",
                str(c.batch or "-"),
                num(c.capacity_rps, 0) + bound,
                num(c.capacity_rps_per_core, 0),
                num(c.per_core_from_cpu, 0),
                ratio_text(c.cross_check_ratio),
                "n/a" if c.server_util_at_capacity is None else f"{100 * c.server_util_at_capacity:.0f}%",
                num(c.floor_p99_ms, 2),
                str(len(c.points)),
            ]
        )
    header = [
        "server",
        "protocol",
        "model",
        "batch",
        "capacity req/s",
        "per core",
        "1 ÷ CPU/req",
        "per core ÷ cross-check",
        "server CPU at capacity (of quota)",
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


def _capacity_ratios(items) -> list[str]:
    found = {(c.server, c.protocol, c.model, c.batch): c for c in items if c.bound_by == "server"}
    rows = []
    for (server, protocol, model, batch), c in found.items():
        if server == "go" and ("python", protocol, model, batch) in found:
            py = found[("python", protocol, model, batch)]
            rows.append(
                [f"Go ÷ Python, {protocol}", ratio_text(_div(c.capacity_rps_per_core, py.capacity_rps_per_core))]
            )
        if protocol == "grpc" and (server, "http-json", model, batch) in found:
            http = found[(server, "http-json", model, batch)]
            rows.append(
                [f"gRPC ÷ HTTP JSON, {server}", ratio_text(_div(c.capacity_rps_per_core, http.capacity_rps_per_core))]
            )
    return table(["capacity per core", "ratio"], rows) if rows else []


def _div(a, b):
    return None if a is None or not b else a / b
