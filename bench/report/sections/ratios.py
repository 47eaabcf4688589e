"""Go ÷ Python, gRPC ÷ HTTP and the other pairs, scenario by scenario: each a paired ratio of two
members of one window, with its 95% interval."""

from __future__ import annotations

from bench.analysis import pairs
from bench.report.format import CB, ratio_text, section, table
from bench.results import Results


def render(results: Results, conc: int | None) -> list[str]:
    return section("Ratios", ratio_tables(results))


def ratio_tables(results: Results) -> list[str]:
    out: list[str] = [
        f"Each ratio: {pairs.PAIRING}; the median of the per-repeat ratios with its 95% interval in brackets. "
        "Below 1× the numerator is cheaper (CPU per request) or slower (req/s).",
    ]
    for name, axis, num, den in pairs.PAIRS:
        rows = [r for r in results.ratios if r["ratio"] == name]
        if not rows:
            continue
        first = "server" if axis == "protocol" else "protocol"
        body = [
            [
                str(r[first]),
                str(r["model"]),
                str(r["batch"]),
                str(r["concurrency"]),
                ratio_text(r["cpu_per_req_ratio"], r["cpu_per_req_ratio_ci95"]),
                ratio_text(r["rps_ratio"], r["rps_ratio_ci95"]),
                CB if r["client_bound"] else "",
            ]
            for r in rows
        ]
        header = [first, "model", "batch", "conc", f"CPU/req {num}÷{den}", f"req/s {num}÷{den}", "flags"]
        out += ["", f"### {name}", "", *table(header, body)]
    return out
