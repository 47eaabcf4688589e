"""The plots bench.report.plots writes beside report.md."""

from __future__ import annotations

from bench.report.format import section
from bench.results import Results

PLOTS = (
    ("throughput", "throughput.png"),
    ("latency", "latency.png"),
    ("CPU per request", "cpu_per_request.png"),
    ("where the time goes", "breakdown.png"),
    ("capacity: latency against throughput", "capacity_latency.png"),
    ("capacity: server CPU against offered rate", "capacity_cpu.png"),
)


def render(results: Results, conc: int | None) -> list[str]:
    body = [line for alt, name in PLOTS for line in (f"![{alt}]({name})", "")]
    return section("Plots", body[:-1])
