"""The project's own targets (scenarios.yaml goals): each ratio with its 95% interval, how it was
paired, and a three-valued verdict."""

from __future__ import annotations

from bench.report.format import CB, num, ratio_text, section
from bench.results import Results

VERDICTS = {"met": "**met**", "not met": "**not met**", "inconclusive": "**inconclusive**"}


def render(results: Results, conc: int | None) -> list[str]:
    return section(f"Goals (from scenarios.yaml, at concurrency {conc})", goal_lines(results))


def goal_lines(results: Results) -> list[str]:
    if not results.goals:
        return ["(no goals)"]
    out = [
        "Each goal's ratio is the median of the per-repeat ratios of its subject and its baseline, both measured "
        "in the same window (interleaved), with the 95% interval of that median (bootstrap over the pairs); "
        "**inconclusive** when the interval straddles the limit.",
        "",
    ]
    for g in results.goals:
        verdict = VERDICTS.get(g.verdict, "not measured")
        cb = f" {CB}: a client-bound run is involved." if g.client_bound else ""
        absolute = g.absolute
        measured = (
            f"{num(g.measured_ratio)} µs [{num(g.ci95[0])}–{num(g.ci95[1])}]"
            if absolute and g.ci95
            else ratio_text(g.measured_ratio, g.ci95)
        )
        limit = f"{g.limit:g} µs" if absolute else f"{g.limit:g}×"
        sides = (
            f" ({num(g.subject_value)} vs {num(g.baseline_value)} µs, medians)"
            if g.baseline_value is not None and g.subject_value is not None
            else ""
        )
        paired = f"; {g.paired}, {g.n} pairs" if g.paired else ""
        out.append(
            f"- {g.text}: measured **{measured}** (goal {g.op} {limit}) → {verdict}; {g.detail}{sides}{paired}.{cb}"
        )
    return out
