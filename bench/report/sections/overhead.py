"""Serving overhead: server CPU per request ÷ the in-process inference time of the same model and batch."""

from __future__ import annotations

from bench.analysis import goals
from bench.report.format import CB, num, section, table
from bench.results import Results, Scenario


def render(results: Results, conc: int | None) -> list[str]:
    return section(
        f"Serving overhead (server CPU per request ÷ in-process inference time, concurrency {conc})",
        [
            "In-process time: Go's BenchmarkPredict (its core Predict: validate, tensor, ORT run, shape) for the Go "
            "server; onnxruntime session.run alone from Python for the Python server; same model file and batch, "
            "1 intra-op and 1 inter-op thread, pinned to the server CPU.",
            "",
            *overhead_table(results.scenarios, results.inproc, conc),
            *[f"\nNote: {p}." for p in results.inproc.problems],
        ],
    )


def overhead_table(rows: list[Scenario], inproc, conc: int | None) -> list[str]:
    data = goals.serving_overhead(rows, inproc, conc)
    header = ["server", "protocol", "model", "batch", "server CPU µs/req", "in-process µs", "overhead ×", "flags"]
    return table(
        header,
        [
            [
                d["server"],
                d["protocol"],
                d["model"],
                str(d["batch"]),
                num(d["cpu_us_per_req"]),
                num(d["inproc_us"]),
                num(d["overhead"]),
                CB if d["client_bound"] else "",
            ]
            for d in data
        ],
    )
