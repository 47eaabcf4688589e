"""The goals of scenarios.yaml, each with its measured ratio and verdict."""

from __future__ import annotations

from bench.report.format import CB, ratio_text, section
from bench.results import Results


def render(results: Results, conc: int | None) -> list[str]:
    return section(f"Goals (from scenarios.yaml, at concurrency {conc})", goal_lines(results))


def goal_lines(results: Results) -> list[str]:
    out = []
    for g in results.goals:
        verdict = {True: "**met**", False: "**not met**", None: "not measured"}[g.met]
        cb = f" {CB}: a client-bound run is involved." if g.client_bound else ""
        out.append(
            f"- {g.text}: measured **{ratio_text(g.measured_ratio)}** (goal {g.op} {g.limit:g}×) → {verdict}; "
            f"{g.detail}.{cb}"
        )
    return out
