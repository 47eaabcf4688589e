"""Derived figures: serving overhead, the seed comparison, and the goals of scenarios.yaml.

A goal compares a metric of a subject (a server on a protocol, model and batch, at the reference
concurrency unless it names one) with a baseline measured in the same window (bench.run.windows),
repeat by repeat: the seed's toy answering its own GET, the subject's floor (its null server),
another server or variant, the in-process time of the subject's work, or nothing (an absolute
limit). The measured ratio is the median of the per-repeat ratios, with its 95% interval; the
verdict is met, not met, or inconclusive when the interval straddles the limit. A baseline measured
outside the window (an in-process time from the stage before the windows, when none was taken in
it) is used, and said so.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.analysis import intervals, stats
from bench.results import GoalResult, Inproc, Run, Scenario
from bench.settings import Goal

IMPL_OF = {"python": "python", "go": "go"}  # server → which in-process timing is its floor
WORK_OF = {"http-json": "json", "http-protobuf": "protobuf", "grpc": "protobuf", "grpc-stream": "protobuf"}
OWN_PHASES = ("decode", "tensor", "encode")  # serving_phases_us: the server's work around the inference


def reference_concurrency(rows: list[Scenario], wanted: int) -> int | None:
    """The wanted concurrency if it was measured, else the nearest one measured."""
    measured = sorted({r.concurrency for r in rows if r.kind in ("serve", "variant") and r.concurrency is not None})
    if not measured:
        return None
    return wanted if wanted in measured else min(measured, key=lambda c: (abs(c - wanted), c))


def inproc_us(inproc: Inproc, impl: str, model: str | None, batch: int | None, work: str) -> float | None:
    """The stage's in-process time (not a window's) of one work."""
    for t in inproc.timings:
        if (t.impl, t.model, t.batch, t.work) == (impl, model, batch, work) and t.repeat is None:
            return t.us_per_run
    return None


def inproc_by_repeat(inproc: Inproc, impl: str, model, batch, work: str, conc) -> dict[int, float]:
    """repeat → the in-process time of one work taken inside the window (model, batch, conc)."""
    return {
        t.repeat: t.us_per_run
        for t in inproc.timings
        if t.repeat is not None
        and (t.impl, t.model, t.batch, t.work, t.concurrency) == (impl, model, batch, work, conc)
    }


def floor_server(floors_of: dict, server: str, protocol: str) -> str | None:
    return floors_of.get(server, {}).get(protocol.split("-")[0])


def serving_overhead(rows: list[Scenario], inproc: Inproc, conc: int | None, floors_of: dict) -> list[dict]:
    """Server CPU per request ÷ the in-process time of the same work (model, batch, encoding), and
    what is above the floor ÷ the same."""
    out = []
    for row in rows:
        if row.kind not in ("serve", "variant") or row.concurrency != conc:
            continue
        impl = IMPL_OF.get(row.server.split("[")[0])
        work = WORK_OF.get(row.protocol)
        floor_us = inproc_us(inproc, impl or "", row.model, row.batch, work or "")
        cpu = stats.median_of(row, "server_cpu_us_per_req")
        null = floor_server(floors_of, row.server, row.protocol)
        cell = {"protocol": row.protocol, "model": row.model, "batch": row.batch, "concurrency": conc}
        null_row = stats.find(rows, kind="floor", server=null, **cell) if null else None
        null_cpu = stats.median_of(null_row, "server_cpu_us_per_req")
        above = cpu - null_cpu if cpu is not None and null_cpu is not None else None
        out.append(
            {
                "server": row.server,
                "protocol": row.protocol,
                "model": row.model,
                "batch": row.batch,
                "concurrency": conc,
                "cpu_us_per_req": cpu,
                "work": work,
                "inproc_us": floor_us,
                "overhead": stats.ratio(cpu, floor_us),
                "floor_us": null_cpu,
                "above_floor_overhead": stats.ratio(above, floor_us),
                "client_bound": row.client_bound,
            }
        )
    return out


def seed_row(rows: list[Scenario], toy: str, mode: str = "timed") -> Scenario | None:
    return stats.find(rows, kind="seed", server=toy, mode=mode)


def evaluate(
    goals: Iterable[Goal], runs: list[Run], rows: list[Scenario], inproc: Inproc, reference: int, floors_of: dict
) -> list[GoalResult]:
    """Each goal of scenarios.yaml read from this run's windows."""
    conc = reference_concurrency(rows, reference)
    return [_evaluate(goal, runs, rows, inproc, conc, floors_of) for goal in goals]


def _subject_values(goal: Goal, runs: list[Run], where: dict, floors_of: dict) -> dict[int, float]:
    """repeat → the goal's metric of its subject."""
    if goal.metric == "serving_phases_us":
        out = {}
        for run in runs:
            if all(getattr(run, k) == v for k, v in where.items()) and run.phases_us:
                parts = [run.phases_us.get(p) for p in OWN_PHASES]
                if all(v is not None for v in parts):
                    out[run.repeat] = sum(parts)
        return out
    if goal.metric == "server_cpu_above_floor_us_per_req":
        own = stats.by_repeat(runs, "server_cpu_us_per_req", **where)
        null = floor_server(floors_of, where["server"], where["protocol"])
        floor = stats.by_repeat(runs, "server_cpu_us_per_req", **{**where, "server": null}) if null else {}
        return {r: own[r] - floor[r] for r in own if r in floor}
    return stats.by_repeat(runs, goal.metric, **where)


def _evaluate(
    goal: Goal, runs: list[Run], rows: list[Scenario], inproc: Inproc, conc: int | None, floors_of: dict
) -> GoalResult:
    subject = {k: v for k, v in goal.subject.items() if k != "kind"}
    where = {"concurrency": conc, **subject}
    values = _subject_values(goal, runs, where, floors_of)
    involved = [stats.find(rows, **where)]
    baseline, paired = (
        goal.baseline,
        f"window {where['model']} b{where['batch']} c{where['concurrency']}, repeat by repeat",
    )
    base_metric = "server_cpu_us_per_req" if goal.metric.startswith("server_cpu") else goal.metric
    if "absolute" in baseline:
        base, what = dict.fromkeys(values, 1.0), "the limit itself (µs)"
    elif "seed" in baseline:
        toy = {**where, "server": baseline["seed"], "protocol": "http"}
        base, what = stats.by_repeat(runs, base_metric, **toy), f"the seed's {baseline['seed']} (its GET /predict)"
        involved.append(stats.find(rows, kind="seed", **toy))
    elif "floor" in baseline:
        null = floor_server(floors_of, where["server"], where["protocol"])
        base = stats.by_repeat(runs, base_metric, **{**where, "server": null}) if null else {}
        what = f"its floor, {null or 'none declared'}"
        involved.append(stats.find(rows, kind="floor", **{**where, "server": null}))
    elif "inproc" in baseline:
        impl, work = baseline["inproc"], WORK_OF.get(where["protocol"], "protobuf")
        base = inproc_by_repeat(inproc, impl, where["model"], where["batch"], work, where["concurrency"])
        what = f"the in-process time of the same work ({impl}, {work}: decode, predict, encode)"
        if not base:
            stage_us = inproc_us(inproc, impl, where["model"], where["batch"], work)
            base = dict.fromkeys(values, stage_us) if stage_us is not None else {}
            paired = "not paired: the in-process time of the stage before the windows"
    else:
        other = {"concurrency": where["concurrency"], **{k: v for k, v in baseline["serve"].items() if k != "kind"}}
        base, what = stats.by_repeat(runs, base_metric, **other), _where(other)
        involved.append(stats.find(rows, **other))
    value, ci, n = intervals.ratio_summary(intervals.paired_ratios(values, base))
    verdict = intervals.verdict(value, ci, goal.op, goal.limit)
    detail = f"{_where(subject)} at concurrency {where['concurrency']} vs {what}"
    return GoalResult(
        key=goal.key,
        text=goal.text,
        measured_ratio=value,
        ci95=ci,
        limit=goal.limit,
        op=goal.op,
        met={"met": True, "not met": False}.get(verdict),
        verdict=verdict,
        paired=paired if n else "",
        n=n,
        subject_value=_median(values.values()),
        baseline_value=None if "absolute" in baseline else _median(base.values()),
        absolute="absolute" in baseline,
        client_bound=any(r is not None and r.client_bound for r in involved),
        detail=detail if value is not None else detail + " — not measured in this run",
    )


def _median(values) -> float | None:
    known = [v for v in values if v is not None]
    return stats.spread(known).median if known else None


def _where(fields: dict) -> str:
    return " ".join(
        f"{v}" if k in ("server", "protocol", "model") else f"{k} {v}"
        for k, v in fields.items()
        if k not in ("kind", "concurrency")
    )
