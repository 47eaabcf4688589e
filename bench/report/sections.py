"""The report's sections that explain the figures: encoding × transport, where the server's time
goes, and the Python stacks side by side (with the cost of the metrics themselves). Each reads the
Results through bench.analysis and computes nothing of its own."""

from __future__ import annotations

from bench.analysis import breakdown
from bench.report.format import CB, num, ratio_text, shares_text, table
from bench.results import Results


def ladder(results: Results, conc: int | None) -> list[str]:
    rows = breakdown.ladder(results.scenarios, conc)
    if not rows:
        return ["(not measured)"]
    lines = [
        f"At concurrency {conc}, each rung changes one thing: the encoding (JSON → protobuf, both over HTTP/1.1), "
        "then the transport (HTTP/1.1 → HTTP/2, gRPC unary), then one stream carrying many requests "
        f'({results.settings["stream_messages"]} per stream: req/s counts messages). "× previous" is the server CPU '
        "per request relative to the rung above.",
        "",
    ]
    body = [
        [
            r["server"],
            r["model"],
            str(r["batch"]),
            r["label"],
            num(r["cpu_us"]),
            ratio_text(r["vs_previous"]),
            num(r["rps"], 0),
            num(r["p99_ms"], 2),
            CB if r["client_bound"] else "",
        ]
        for r in rows
    ]
    return lines + table(
        [
            "server",
            "model",
            "batch",
            "encoding / transport",
            "server CPU µs/req",
            "× previous",
            "req/s",
            "p99 ms",
            "flags",
        ],
        body,
    )


def phases(results: Results) -> list[str]:
    rows = breakdown.phases(results.scenarios, results.inproc)
    if not rows:
        return ["(no phase metrics in this run)"]
    lines = [
        "From each server's own metrics (servebench_phase_duration_seconds, read before and after every timed run), "
        "per request, at the lowest concurrency measured (where a phase's wall time is its CPU time): decode (bytes → "
        "PredictRequest), tensor (validation and the input tensor), inference (the ONNX Runtime call alone), encode "
        "(output → PredictResponse → bytes); the remainder is the rest of the server CPU per request (HTTP or gRPC "
        "framework, transport, scheduling). Inference is cross-checked against the in-process floor of the same "
        "model and batch. Plot: breakdown.png.",
        "",
    ]
    body = [
        [
            r["server"],
            r["protocol"],
            r["model"],
            str(r["batch"]),
            str(r["concurrency"]),
            num(r["decode"]),
            num(r["tensor"]),
            num(r["inference"]),
            num(r["encode"]),
            num(r["remainder"]),
            num(r["cpu_us"]),
            num(r["inproc_us"]),
            ratio_text(r["inference_vs_inproc"]),
        ]
        for r in rows
    ]
    return lines + table(
        [
            "server",
            "protocol",
            "model",
            "batch",
            "conc",
            "decode µs",
            "tensor µs",
            "inference µs",
            "encode µs",
            "remainder µs",
            "server CPU µs/req",
            "in-process µs",
            "inference ÷ in-process",
        ],
        body,
    )


def variants(results: Results) -> list[str]:
    rows = breakdown.variants(results.scenarios)
    if not rows:
        return ["(variants not measured in this run)"]
    lines = [
        "Every stack of scenarios.yaml's `variants` up at once on the same CPU, measured interleaved on the same "
        "small matrix. \"÷ default\" is the variant's server CPU per request over its server's default stack "
        "(for the `[no-metrics]` variants this is the saving of turning metrics off; the goals above read the "
        "metrics' cost from it). Worker shares: each worker process's part of the server CPU (HTTP and gRPC "
        "workers are separate processes in the Python server).",
        "",
    ]
    body = [
        [
            r["server"],
            r["protocol"],
            r["model"],
            str(r["batch"]),
            str(r["concurrency"]),
            num(r["cpu_us"]),
            ratio_text(r["vs_default"]),
            num(r["rps"], 0),
            num(r["p99_ms"], 2),
            shares_text(r["worker_shares"]),
            _flags(r),
        ]
        for r in rows
    ]
    return lines + table(
        [
            "stack",
            "protocol",
            "model",
            "batch",
            "conc",
            "server CPU µs/req",
            "÷ default",
            "req/s",
            "p99 ms",
            "worker CPU shares",
            "flags",
        ],
        body,
    )


def _flags(row: dict) -> str:
    out = [CB] if row["client_bound"] else []
    if row["errors"]:
        out.append(f"errors {row['errors']}")
    return ", ".join(out)


def capacity(results: Results) -> list[str]:
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
