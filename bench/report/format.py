"""How figures are written in every printer (report.md, the console): numbers, spreads, ratios,
flags and Markdown tables."""

from __future__ import annotations

from bench.results import Scenario, Spread

CB = "CB"  # client-bound mark, same in every table and plot
SCENARIO = ("server", "protocol", "model", "batch", "concurrency")  # what names a row of bench.analysis


def num(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def spread_text(s: Spread, digits: int = 0) -> str:
    if s.median is None:
        return "n/a"
    return f"{num(s.median, digits)} ({num(s.min, digits)}–{num(s.max, digits)})"


def ratio_text(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}×"


def flags(row: Scenario) -> str:
    out = []
    if row.client_bound:
        out.append(f"{CB} {row.client_bound_repeats}/{row.repeats}")
    if row.no_answer_repeats:
        out.append(f"NO ANSWERS {row.no_answer_repeats}/{row.repeats}")
    if row.noisy_repeats:
        out.append(f"noisy {row.noisy_repeats}/{row.repeats}")
    if row.errors:
        out.append(f"errors {row.errors}")
    return ", ".join(out)


def shares_text(shares: list[float] | None) -> str:
    """Each worker process's part of the server CPU, "60% / 40%"."""
    return "n/a" if not shares else " / ".join(f"{100 * x:.0f}%" for x in shares)


def cells(row: dict, keys: tuple[str, ...] = SCENARIO) -> list[str]:
    """These columns of a derived row (bench.analysis) as text; by default the scenario's name."""
    return [str(row[k]) for k in keys]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def section(heading: str, body: list[str]) -> list[str]:
    """A section of report.md: its heading, a blank line, the body, a blank line."""
    return [f"## {heading}", "", *body, ""]
