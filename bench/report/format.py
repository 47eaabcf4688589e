"""How figures are written in every printer (report.md, the console): numbers, spreads, ratios,
flags and Markdown tables."""

from __future__ import annotations

from bench.results import Scenario, Spread

CB = "CB"  # client-bound mark, same in every table and plot
SCENARIO = ("server", "protocol", "model", "batch", "concurrency")  # what names a row of bench.analysis
SCENARIO_HEADER = ["server", "protocol", "model", "batch", "conc"]  # SCENARIO's columns in a table


def num(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def spread_text(s: Spread, digits: int = 0) -> str:
    """The median with its 95% interval (bootstrap over the repeats)."""
    return ci_text(s.median, s.median_ci95, digits)


def ratio_text(v: float | None, ci: list[float] | None = None) -> str:
    """1.23×, and with an interval 1.23× [1.10–1.35]."""
    if v is None:
        return "n/a"
    return f"{v:.2f}×" + (f" [{ci[0]:.2f}–{ci[1]:.2f}]" if ci else "")


def ci_text(v: float | None, ci: list[float] | None, digits: int = 1) -> str:
    """A median with its 95% interval: 123.4 [118.0–130.2]."""
    if v is None:
        return "n/a"
    return num(v, digits) + (f" [{num(ci[0], digits)}–{num(ci[1], digits)}]" if ci else "")


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
