"""Uncertainty: 95% intervals of medians and of paired ratios, three-valued verdicts, and the
two-sample test `bench compare` uses. Pure numpy, deterministic (a fixed seed), unit-tested on
synthetic data.

- A median's interval: the percentile bootstrap over the repeats (resample the repeats with
  replacement, take the median, keep the 2.5th and 97.5th percentiles). With few repeats it is
  wide, as it should be: with 3 or 5 it spans the smallest to the largest value.
- A ratio's interval: the same over the per-pair ratios (subject ÷ baseline of the same repeat of
  the same window), so that what moved both sides together (the machine) cancels.
- A change between two runs (compare): the bootstrap of the ratio of the two medians, resampling
  each run's repeats; its two-sided p-value is twice the share of bootstrap ratios on the other
  side of 1 (Mann–Whitney U, which benchstat uses, cannot reach p < 0.05 with three repeats a
  side: its smallest two-sided p is 0.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

LEVEL = 0.95
RESAMPLES = 4000
SEED = 20240611


def _known(values: Iterable[float | None]) -> np.ndarray:
    return np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)


def _medians(rng: np.random.Generator, values: np.ndarray, resamples: int) -> np.ndarray:
    picks = rng.integers(0, len(values), size=(resamples, len(values)))
    return np.median(values[picks], axis=1)


def median_ci(values: Iterable[float | None], level: float = LEVEL) -> list[float] | None:
    """The median's bootstrap interval [lo, hi] (None without values; [v, v] with one)."""
    known = _known(values)
    if len(known) == 0:
        return None
    if len(known) == 1:
        return [float(known[0])] * 2
    boot = _medians(np.random.default_rng(SEED), known, RESAMPLES)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(boot, [tail, 100 - tail])
    return [float(lo), float(hi)]


def paired_ratios(subject: dict, baseline: dict) -> list[float]:
    """subject[k] ÷ baseline[k] for every key (a repeat) both have, with a positive baseline."""
    return [
        subject[k] / baseline[k]
        for k in sorted(set(subject) & set(baseline))
        if subject[k] is not None and baseline[k] not in (None, 0)
    ]


def ratio_summary(ratios: Sequence[float]) -> tuple[float | None, list[float] | None, int]:
    """(median, its interval, n) of per-pair ratios."""
    known = _known(ratios)
    if len(known) == 0:
        return None, None, 0
    return float(np.median(known)), median_ci(known), len(known)


OPS = {"<=": np.less_equal, "<": np.less, ">=": np.greater_equal, ">": np.greater}


def verdict(value: float | None, ci: list[float] | None, op: str, limit: float) -> str:
    """ "met" when the whole interval satisfies `op limit`, "not met" when none of it does,
    "inconclusive" when it straddles the limit; "not measured" without a value."""
    if value is None:
        return "not measured"
    lo, hi = ci if ci else (value, value)
    holds = [bool(OPS[op](x, limit)) for x in (lo, hi)]
    if all(holds):
        return "met"
    if not any(holds):
        return "not met"
    return "inconclusive"


def half_width(value: float | None, ci: list[float] | None) -> float | None:
    """The interval's larger distance from the value, relative to it (0.05 = ±5%)."""
    if value in (None, 0) or not ci:
        return None
    return max(value - ci[0], ci[1] - value) / abs(value)


def change(a: Iterable[float | None], b: Iterable[float | None], level: float = LEVEL) -> dict | None:
    """B against A: the ratio of medians − 1 (0.2 = B is 20% higher), its bootstrap interval
    (resampling each side's repeats) and a two-sided bootstrap p-value; None without values."""
    xa, xb = _known(a), _known(b)
    if len(xa) == 0 or len(xb) == 0 or np.median(xa) == 0:
        return None
    rng = np.random.default_rng(SEED)
    ma, mb = _medians(rng, xa, RESAMPLES), _medians(rng, xb, RESAMPLES)
    ok = ma != 0
    ratios = mb[ok] / ma[ok]
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(ratios, [tail, 100 - tail])
    p = 2 * min(np.mean(ratios <= 1), np.mean(ratios >= 1))
    return {
        "change": float(np.median(xb) / np.median(xa) - 1),
        "ci95": [float(lo - 1), float(hi - 1)],
        "p_value": float(min(1.0, p)),
    }
