"""Statistics: latency percentiles of one run, median (with its 95% interval) and min–max over
repeats, paired ratios, client-bound.

Pure functions over the results model, unit-tested, so that the report, the console and the plots
read the very same numbers.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

from bench.analysis import intervals
from bench.results import Latency, Run, Scenario, Spread

# Fields of a run aggregated over its repeats (median, min, max).
METRICS = (
    "rps",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "server_cpu_us_per_req",
    "server_rss_mb",
    "client_cpu_util",
    "foreign_cpu_share",
)
SCENARIO_KEY = ("kind", "server", "protocol", "model", "batch", "concurrency", "mode")


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least pct% of values at or below it)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(sorted_ms: list[float]) -> Latency:
    """p50, p90, p99, p99.9, max and mean (ms) of a sorted latency list (None when it is empty)."""
    return Latency(
        p50=percentile(sorted_ms, 50),
        p90=percentile(sorted_ms, 90),
        p99=percentile(sorted_ms, 99),
        p999=percentile(sorted_ms, 99.9),
        max=sorted_ms[-1] if sorted_ms else None,
        mean=statistics.fmean(sorted_ms) if sorted_ms else None,
    )


def client_util(cpu_s: float, wall_s: float, n_cpus: int) -> float | None:
    """Share of its CPUs a load generator kept busy: CPU seconds ÷ (wall seconds × CPUs)."""
    if wall_s <= 0 or n_cpus <= 0:
        return None
    return cpu_s / (wall_s * n_cpus)


def is_client_bound(util: float | None, threshold: float) -> bool:
    """A run is client-bound when its load generator used at least `threshold` of its CPUs."""
    return util is not None and util >= threshold


def per_request_us(cpu_s: float | None, requests: int) -> float | None:
    if cpu_s is None or requests <= 0:
        return None
    return cpu_s / requests * 1e6


def spread(values: Iterable[float | None]) -> Spread:
    """Median (with its bootstrap 95% interval), min and max of the known values."""
    known = [v for v in values if v is not None]
    if not known:
        return Spread()
    return Spread(
        median=statistics.median(known),
        min=min(known),
        max=max(known),
        n=len(known),
        median_ci95=intervals.median_ci(known),
    )


def metric(run: Run, name: str) -> float | None:
    """One of METRICS of a run (latency keys flattened: p50_ms, ...)."""
    if name.endswith("_ms") and name[:-3] in ("p50", "p90", "p99"):
        return getattr(run.latency_ms, name[:-3])
    return getattr(run, name)


def worker_shares(run: Run) -> list[float] | None:
    """Each worker process's share of the run's server CPU."""
    total = sum(run.worker_cpu_s or ())
    if not run.worker_cpu_s or total <= 0:
        return None
    return [cpu / total for cpu in run.worker_cpu_s]


def aggregate(runs: list[Run]) -> list[Scenario]:
    """One Scenario per (kind, server, protocol, model, batch, concurrency, mode), in first-seen order."""
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(getattr(run, k) for k in SCENARIO_KEY), []).append(run)
    out = []
    for key, members in groups.items():
        shares = [s for s in (worker_shares(m) for m in members) if s]
        out.append(
            Scenario(
                **dict(zip(SCENARIO_KEY, key)),
                tool=members[0].tool,
                repeats=len(members),
                requests=sum(m.requests for m in members),
                errors=sum(m.errors for m in members),
                client_bound=any(m.client_bound for m in members),
                client_bound_repeats=sum(m.client_bound for m in members),
                noisy_repeats=sum(m.noisy for m in members),
                no_answer_repeats=sum(m.no_answers for m in members),
                worker_cpu_share=[statistics.median(col) for col in zip(*shares)] if shares else None,
                phases_us=_phases(members),
                **{name: spread(metric(m, name) for m in members) for name in METRICS},
            )
        )
    return out


def _phases(members: list[Run]) -> dict[str, Spread] | None:
    measured = [m.phases_us for m in members if m.phases_us]
    if not measured:
        return None
    return {phase: spread(p.get(phase) for p in measured) for phase in measured[0]}


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def find(rows: list[Scenario], **where) -> Scenario | None:
    """The scenario matching every given field, or None."""
    for row in rows:
        if all(getattr(row, k) == v for k, v in where.items()):
            return row
    return None


def median_of(row: Scenario | None, name: str) -> float | None:
    return None if row is None else getattr(row, name).median


CELL = ("server", "protocol", "model", "batch", "concurrency")  # one member of one window


def by_repeat(runs: list[Run], name: str, **where) -> dict[int, float]:
    """repeat → `name` (a metric of METRICS) of the runs matching `where` (one window member)."""
    out = {}
    for run in runs:
        if all(getattr(run, k) == v for k, v in where.items()):
            value = metric(run, name)
            if value is not None:
                out[run.repeat] = value
    return out


def paired(runs: list[Run], name: str, subject: dict, baseline: dict) -> dict:
    """The ratio of `name` between two members of one window, repeat by repeat: {ratio, ratio_ci95, n}."""
    value, ci, n = intervals.ratio_summary(
        intervals.paired_ratios(by_repeat(runs, name, **subject), by_repeat(runs, name, **baseline))
    )
    return {"ratio": value, "ratio_ci95": ci, "n": n}


def pair_ratios(runs: list[Run], rows: list[Scenario], axis: str, num: str, den: str) -> list[dict]:
    """Ratios num/den of req/s and of CPU per request, repeat by repeat, pairing the scenarios (of
    the matrix and the variants) that differ only in `axis` (e.g. axis "server", a variant or "go"
    over "python", for every protocol, model, batch and concurrency measured for both: members of
    one window). A pair is client-bound if either side is."""
    out = []
    measured = [r for r in rows if r.kind in ("serve", "variant")]
    for row in measured:
        if getattr(row, axis) != num:
            continue
        match = {k: getattr(row, k) for k in CELL}
        match[axis] = den
        other = next((r for r in measured if all(getattr(r, k) == v for k, v in match.items())), None)
        if other is None:
            continue
        mine = {k: getattr(row, k) for k in CELL}
        rps = paired(runs, "rps", mine, match)
        cpu = paired(runs, "server_cpu_us_per_req", mine, match)
        out.append(
            {
                **{k: getattr(row, k) for k in CELL if k != axis},
                "rps_ratio": rps["ratio"],
                "rps_ratio_ci95": rps["ratio_ci95"],
                "cpu_per_req_ratio": cpu["ratio"],
                "cpu_per_req_ratio_ci95": cpu["ratio_ci95"],
                "n": cpu["n"],
                "client_bound": row.client_bound or other.client_bound,
            }
        )
    return out
