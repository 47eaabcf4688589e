"""The stacks side by side: each variant's CPU per request against its server's default stack."""

from __future__ import annotations

from bench.analysis import breakdown
from bench.report.format import CB, cells, num, ratio_text, section, shares_text, table
from bench.results import Results


def render(results: Results, conc: int | None) -> list[str]:
    return section("Stacks side by side (variants)", _body(results))


def _body(results: Results) -> list[str]:
    rows = breakdown.variants(results.runs, results.scenarios)
    if not rows:
        return ["(variants not measured in this run)"]
    lines = [
        "Every stack of scenarios.yaml's `variants`, in the same windows as the matrix (all up at once on the same "
        "CPU, interleaved). \"÷ default\" is the variant's server CPU per request over its server's default stack "
        "(paired repeat by repeat, 95% interval in brackets) "
        "(for the `[no-metrics]` variants this is the saving of turning metrics off; the goals above read the "
        "metrics' cost from it). Worker shares: each worker process's part of the server CPU (HTTP and gRPC "
        "workers are separate processes in the Python server).",
        "",
    ]
    body = [
        [
            *cells(r),
            num(r["cpu_us"]),
            ratio_text(r["vs_default"], r["vs_default_ci95"]),
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
