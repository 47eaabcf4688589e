"""Go ÷ Python and gRPC ÷ HTTP JSON, scenario by scenario."""

from __future__ import annotations

from bench.analysis import stats
from bench.report.format import CB, cells, ratio_text, section, table
from bench.results import Results, Scenario

# (title, the axis compared, its two values, the first column, the ratio's label)
PAIRS = (
    ("Go / Python (same protocol, model, batch, concurrency)", "server", "go", "python", "protocol", "Go÷Python"),
    (
        "gRPC / HTTP JSON (same server, model, batch, concurrency)",
        "protocol",
        "grpc",
        "http-json",
        "server",
        "gRPC÷HTTP",
    ),
)


def render(results: Results, conc: int | None) -> list[str]:
    return section("Ratios", ratio_tables(results.scenarios))


def ratio_tables(rows: list[Scenario]) -> list[str]:
    out: list[str] = []
    for title, axis, a, b, first, label in PAIRS:
        body = [
            [
                *cells(r, (first, "model", "batch", "concurrency")),
                ratio_text(r["rps_ratio"]),
                ratio_text(r["cpu_per_req_ratio"]),
                CB if r["client_bound"] else "",
            ]
            for r in stats.pair_ratios(rows, axis, a, b)
        ]
        header = [first, "model", "batch", "conc", f"req/s {label}", f"CPU/req {label}", "flags"]
        out += [*([""] if out else []), f"### {title}", "", *table(header, body)]
    return out
