"""Every ratio the report divides, each from two members of one window (bench.run.windows), paired
repeat by repeat, with its 95% interval (results.json `ratios`). The goals (bench.analysis.goals),
the floors (bench.analysis.floors) and the variants (bench.analysis.breakdown) pair theirs the same
way; capacity ratios come from sweeps run in lockstep (bench.run.capacity).
"""

from __future__ import annotations

from bench.analysis import stats
from bench.results import Run, Scenario

# (name, the axis that differs, numerator, denominator)
PAIRS = (
    ("Go ÷ Python", "server", "go", "python"),
    ("Go ÷ Python (lean adapter)", "server", "go", "python[rsgi]"),
    ("Flask ÷ lean adapter (Python)", "server", "python", "python[rsgi]"),
    ("gRPC ÷ HTTP JSON", "protocol", "grpc", "http-json"),
    ("protobuf ÷ JSON over HTTP/1.1", "protocol", "http-protobuf", "http-json"),
    ("gRPC unary ÷ HTTP protobuf", "protocol", "grpc", "http-protobuf"),
    ("gRPC stream ÷ unary", "protocol", "grpc-stream", "grpc"),
)
PAIRING = "two members of one window (same model, batch, concurrency), repeat by repeat"


def every_ratio(runs: list[Run], rows: list[Scenario]) -> list[dict]:
    out = []
    for name, axis, num, den in PAIRS:
        for r in stats.pair_ratios(runs, rows, axis, num, den):
            out.append({"ratio": name, "axis": axis, "numerator": num, "denominator": den, **r, "paired": PAIRING})
    return out
