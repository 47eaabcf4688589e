"""Aggregation: latency percentiles of one run, median and min–max over repeats, ratios, client-bound.

Pure functions over plain values (the per-run dicts of results.json), so that they are unit-tested
and the report and the plots read the very same numbers.
"""
from __future__ import annotations

import math
import statistics
from typing import Iterable

PERCENTILES = (50, 90, 99)
# Fields of a run aggregated over its repeats (median, min, max).
METRICS = ("rps", "p50_ms", "p90_ms", "p99_ms", "server_cpu_us_per_req", "server_rss_mb", "client_cpu_util",
           "foreign_cpu_share")


def percentile(sorted_values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least pct% of values at or below it)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_summary(sorted_ms: list[float]) -> dict[str, float | None]:
    """{p50, p90, p99, max, mean} in ms of a sorted latency list (None values when it is empty)."""
    out = {f"p{p}": percentile(sorted_ms, p) for p in PERCENTILES}
    out["max"] = sorted_ms[-1] if sorted_ms else None
    out["mean"] = statistics.fmean(sorted_ms) if sorted_ms else None
    return out


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


def spread(values: Iterable[float | None]) -> dict[str, float | None]:
    """Median, min and max of the known values (None when none is known)."""
    known = [v for v in values if v is not None]
    if not known:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(known), "min": min(known), "max": max(known), "n": len(known)}


def flat_metrics(run: dict) -> dict[str, float | None]:
    """The METRICS of one run record, latency keys flattened (p50_ms, ...)."""
    lat = run.get("latency_ms") or {}
    return {
        "rps": run.get("rps"),
        "p50_ms": lat.get("p50"),
        "p90_ms": lat.get("p90"),
        "p99_ms": lat.get("p99"),
        "server_cpu_us_per_req": run.get("server_cpu_us_per_req"),
        "server_rss_mb": run.get("server_rss_mb"),
        "client_cpu_util": run.get("client_cpu_util"),
        "foreign_cpu_share": run.get("foreign_cpu_share"),
    }


def group_key(run: dict) -> tuple:
    return (run["kind"], run["server"], run["protocol"], run.get("model"), run.get("batch"),
            run["concurrency"], run.get("mode"))


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per scenario (kind, server, protocol, model, batch, concurrency, mode), in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault(group_key(run), []).append(run)
    rows = []
    for key, members in groups.items():
        per_metric = [flat_metrics(m) for m in members]
        row = dict(zip(("kind", "server", "protocol", "model", "batch", "concurrency", "mode"), key))
        row["tool"] = members[0]["tool"]
        row["repeats"] = len(members)
        row["requests"] = sum(m["requests"] for m in members)
        row["errors"] = sum(m["errors"] for m in members)
        row["client_bound"] = any(m["client_bound"] for m in members)
        row["client_bound_repeats"] = sum(1 for m in members if m["client_bound"])
        row["noisy_repeats"] = sum(1 for m in members if m.get("noisy"))
        row["no_answer_repeats"] = sum(1 for m in members if m.get("no_answers"))
        for metric in METRICS:
            row[metric] = spread(p[metric] for p in per_metric)
        rows.append(row)
    return rows


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def find(rows: list[dict], **where) -> dict | None:
    """The aggregated row matching every given field, or None."""
    for row in rows:
        if all(row.get(k) == v for k, v in where.items()):
            return row
    return None


def median_of(row: dict | None, metric: str) -> float | None:
    return None if row is None else row[metric]["median"]


def pair_ratios(rows: list[dict], field: str, num: str, den: str) -> list[dict]:
    """Ratios num/den of median rps and of median CPU per request, pairing serve rows that differ only in `field`.

    E.g. pair_ratios(rows, "server", "go", "python") gives Go/Python for every protocol, model,
    batch and concurrency measured for both. A pair is client-bound if either side is.
    """
    out = []
    for row in rows:
        if row["kind"] != "serve" or row[field] != num:
            continue
        match = {k: row[k] for k in ("kind", "server", "protocol", "model", "batch", "concurrency")}
        match[field] = den
        other = find(rows, **match)
        if other is None:
            continue
        out.append({
            **{k: row[k] for k in ("server", "protocol", "model", "batch", "concurrency") if k != field},
            "rps_ratio": ratio(median_of(row, "rps"), median_of(other, "rps")),
            "cpu_per_req_ratio": ratio(median_of(row, "server_cpu_us_per_req"),
                                       median_of(other, "server_cpu_us_per_req")),
            "client_bound": row["client_bound"] or other["client_bound"],
        })
    return out
