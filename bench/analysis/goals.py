"""Derived figures: serving overhead, the seed comparison, and the goals of scenarios.yaml.

A goal compares a metric of a subject scenario (at the reference concurrency) with a baseline:
the seed post's toy server (its timed run), another serve scenario, or the in-process inference
time of the subject's model and batch; `op` and `limit` say what "met" means. Everything reads the
aggregated scenarios, so the report, the console and results.json agree.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.analysis import stats
from bench.results import GoalResult, Inproc, Scenario
from bench.settings import Goal

IMPL_OF = {"python": "python", "go": "go"}  # server → which in-process timing is its floor
OPS = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b, ">": lambda a, b: a > b}


def reference_concurrency(rows: list[Scenario], wanted: int) -> int | None:
    """The wanted concurrency if it was measured, else the nearest one measured (the matrix's, or the
    variants' when a run has no matrix)."""
    measured = sorted({r.concurrency for r in rows if r.kind == "serve"}) or sorted(
        {r.concurrency for r in rows if r.kind == "variant" and r.concurrency is not None}
    )
    if not measured:
        return None
    return wanted if wanted in measured else min(measured, key=lambda c: (abs(c - wanted), c))


def inproc_us(inproc: Inproc, impl: str, model: str | None, batch: int | None) -> float | None:
    for t in inproc.timings:
        if (t.impl, t.model, t.batch) == (impl, model, batch):
            return t.us_per_run
    return None


def serving_overhead(rows: list[Scenario], inproc: Inproc, conc: int | None) -> list[dict]:
    """Server CPU per request ÷ in-process inference time of the same model and batch."""
    out = []
    for row in rows:
        if row.kind != "serve" or row.concurrency != conc or row.server not in IMPL_OF:
            continue
        floor = inproc_us(inproc, IMPL_OF[row.server], row.model, row.batch)
        cpu = stats.median_of(row, "server_cpu_us_per_req")
        out.append(
            {
                "server": row.server,
                "protocol": row.protocol,
                "model": row.model,
                "batch": row.batch,
                "concurrency": conc,
                "cpu_us_per_req": cpu,
                "inproc_us": floor,
                "overhead": stats.ratio(cpu, floor),
                "client_bound": row.client_bound,
            }
        )
    return out


def seed_row(rows: list[Scenario], toy: str, mode: str = "timed") -> Scenario | None:
    return stats.find(rows, kind="seed", server=toy, mode=mode)


def evaluate(goals: Iterable[Goal], rows: list[Scenario], inproc: Inproc, reference: int) -> list[GoalResult]:
    """Each goal of scenarios.yaml read from this run's scenarios."""
    conc = reference_concurrency(rows, reference)
    return [_evaluate(goal, rows, inproc, conc) for goal in goals]


def _evaluate(goal: Goal, rows: list[Scenario], inproc: Inproc, conc: int | None) -> GoalResult:
    metric, subject_where = goal.metric, {"kind": "serve", **goal.subject}
    subject = stats.find(rows, concurrency=_concurrency(rows, subject_where, conc), **subject_where)
    measured = stats.median_of(subject, metric)
    involved = [subject]
    baseline = goal.baseline
    if "seed" in baseline:
        other = seed_row(rows, baseline["seed"])
        involved.append(other)
        base, what = stats.median_of(other, metric), f"the seed's {baseline['seed']} (timed run)"
    elif "inproc" in baseline:
        base = inproc_us(inproc, baseline["inproc"], subject_where.get("model"), subject_where.get("batch"))
        what = f"in-process inference ({baseline['inproc']}, {_fmt(base)} µs)"
    else:
        where = {"kind": "serve", **baseline["serve"]}
        other = stats.find(rows, concurrency=_concurrency(rows, where, conc), **where)
        involved.append(other)
        base, what = stats.median_of(other, metric), _where(where)
    ratio = stats.ratio(measured, base)
    detail = f"{_where(subject_where)} at concurrency {conc} vs {what}"
    return GoalResult(
        key=goal.key,
        text=goal.text,
        measured_ratio=ratio,
        limit=goal.limit,
        op=goal.op,
        met=None if ratio is None else OPS[goal.op](ratio, goal.limit),
        client_bound=any(r is not None and r.client_bound for r in involved),
        detail=detail if ratio is not None else detail + " — not measured in this run",
    )


def _concurrency(rows: list[Scenario], where: dict, reference: int | None) -> int | None:
    """The reference concurrency for serve rows; for variants (a small matrix) the nearest measured."""
    if where.get("kind") != "variant":
        return reference
    measured = sorted({r.concurrency for r in rows if r.kind == "variant"})
    if not measured or reference is None:
        return measured[0] if measured else None
    return min(measured, key=lambda c: (abs(c - reference), c))


def _where(fields: dict) -> str:
    return " ".join(
        f"{v}" if k in ("server", "protocol", "model") else f"{k} {v}"
        for k, v in fields.items()
        if k != "kind" or v != "serve"
    )


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"
