"""Where the server's time goes: decode, tensor, inference, encode and the rest, from its metrics."""

from __future__ import annotations

from bench.analysis import breakdown
from bench.report.format import SCENARIO_HEADER, cells, num, ratio_text, section, table
from bench.results import Results


def render(results: Results, conc: int | None) -> list[str]:
    return section("Where the server's time goes", _body(results))


def _body(results: Results) -> list[str]:
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
            *cells(r),
            *(num(r[k]) for k in (*breakdown.PHASES, "remainder", "cpu_us", "inproc_us")),
            ratio_text(r["inference_vs_inproc"]),
        ]
        for r in rows
    ]
    return lines + table(
        [
            *SCENARIO_HEADER,
            *(p + " µs" for p in breakdown.PHASES),
            "remainder µs",
            "server CPU µs/req",
            "in-process µs",
            "inference ÷ in-process",
        ],
        body,
    )
