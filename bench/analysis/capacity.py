"""Capacity at an SLO: the highest offered rate whose latency percentile stays within the SLO, with
no errors and an achieved rate within `schedule_tolerance` of the offered one, found by search.

`search(measure, start)` steps the offered rate up geometrically (× step) from `start` while points
pass, steps down (÷ step) while they fail if the first did, then bisects between the highest
passing and the lowest failing rate until they are within `precision` of each other; the capacity
found is measured once more (a noisy pass is not believed: on a failed confirmation the search goes
on below it). A point the load generator could not carry (its own CPU saturated, or it could not
keep the schedule while the server had CPU to spare) stops the search: what was found is then
bound by the generator, never reported as the server's capacity. Pure: `measure(rate, confirm)`
does the measuring, so the search is tested on synthetic latency curves.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

from bench.results import CapacityPoint


@dataclass
class Rules:
    slo_ms: float
    percentile: float = 99.0
    schedule_tolerance: float = 0.01  # achieved ≥ (1 − this) × offered
    generator_util_limit: float = 0.8  # generator CPU at or above: it, not the server, may be the limit
    server_util_floor: float = 0.8  # at capacity the server should use at least this much of its quota
    throttled_share: float = 0.05  # periods throttled at or above this share: the cap, not the CPU, set the limit
    step: float = 1.5
    precision: float = 0.05
    max_points: int = 16
    min_rps: float = 1.0


def latency_at(point: CapacityPoint, percentile: float) -> float | None:
    key = {50.0: "p50", 90.0: "p90", 99.0: "p99", 99.9: "p999"}.get(float(percentile), "p99")
    return getattr(point.latency_ms, key)


def judge(point: CapacityPoint, rules: Rules) -> CapacityPoint:
    """Set the point's flags and whether it passes."""
    flags = [f for f in point.flags if f in ("confirm", "noisy")]
    latency = latency_at(point, rules.percentile)
    if latency is None or latency > rules.slo_ms:
        flags.append("slo")
    if point.errors:
        flags.append("errors")
    behind = point.achieved_rps is None or point.achieved_rps < (1 - rules.schedule_tolerance) * point.offered_rps
    if behind:
        flags.append("behind")
    saturated = point.client_cpu_util is not None and point.client_cpu_util >= rules.generator_util_limit
    server_spare = point.server_cpu_util is not None and point.server_cpu_util < rules.server_util_floor
    if saturated or (behind and server_spare and not point.errors):
        flags.append("generator-bound")
    point.flags = flags
    point.passed = not {"slo", "errors", "behind", "generator-bound"} & set(flags)
    return point


Steps = Generator[tuple[float, bool], CapacityPoint, tuple[float | None, str, list[CapacityPoint]]]


def steps(start: float, rules: Rules, progress: Callable[[CapacityPoint], None] = lambda p: None) -> Steps:
    """The search as a generator: it yields (rate, confirm) for each point it wants measured, is
    sent the measured point, and returns (capacity rps or None, bound_by, every point measured) —
    so that several searches can take turns, one point each (`lockstep`).

    The capacity is the highest passing rate below the lowest failing one (a noisy pass above a
    failure is not believed), once it is within `precision` of that failure and has passed a
    second time. When max_points run out first, the best such rate so far is returned unconfirmed
    (its points show no "confirm"): bound by the server when a failing rate was found above it,
    "unfinished" (a lower bound only) when none was."""
    points: list[CapacityPoint] = []
    passes: set[float] = set()
    fails: set[float] = set()
    rate = start

    def probe(r: float, confirm: bool = False):
        point = judge((yield (r, confirm)), rules)
        points.append(point)
        progress(point)
        (passes if point.passed else fails).add(r)
        if confirm and not point.passed:
            passes.discard(r)
        return point

    def bracket() -> tuple[float | None, float | None]:
        worst = min(fails) if fails else None
        below = [r for r in passes if worst is None or r < worst]
        return (max(below) if below else None), worst

    while len(points) < rules.max_points:
        point = yield from probe(rate)
        if "generator-bound" in point.flags:
            return bracket()[0], "generator", points
        best, worst = bracket()
        while best is not None and worst is not None and (worst - best) / best <= rules.precision:
            if len(points) >= rules.max_points:
                return best, "server", points
            confirmation = yield from probe(best, confirm=True)
            if "generator-bound" in confirmation.flags:
                return best, "generator", points
            if confirmation.passed:
                return best, "server", points
            best, worst = bracket()  # noise: the capacity lies below; search on under it
        if worst is None:
            rate = (best or rate) * rules.step
        elif best is None:
            rate = worst / rules.step
            if rate < rules.min_rps:
                return None, "none", points
        else:
            rate = (best + worst) / 2
    best, worst = bracket()
    if best is None:
        return None, "none", points
    return best, ("server" if worst is not None else "unfinished"), points  # no failure yet: a lower bound


def search(
    measure: Callable[[float, bool], CapacityPoint],
    start: float,
    rules: Rules,
    progress: Callable[[CapacityPoint], None] = lambda p: None,
) -> tuple[float | None, str, list[CapacityPoint]]:
    """(capacity rps or None, bound_by "server" | "generator" | "none" | "unfinished", every
    point measured): `steps` driven by `measure(rate, confirm)`."""
    return lockstep([(steps(start, rules, progress), measure)])[0]


def lockstep(
    searches: list[tuple[Steps, Callable[[float, bool], CapacityPoint]]],
    after_round: Callable[[int], None] = lambda points: None,
) -> list[tuple]:
    """Several searches in turn, one point each, round robin until every one is done: the points of
    different endpoints are measured minutes apart at most, so that a ratio of their capacities
    is not a ratio of two moments of a drifting machine. Each search's result, in order;
    `after_round(points measured so far)` is called after every round."""
    results: list = [None] * len(searches)
    measured = 0
    asks = {}
    for i, (gen, _) in enumerate(searches):
        try:
            asks[i] = next(gen)
        except StopIteration as done:
            results[i] = done.value
    while asks:
        for i in list(asks):
            gen, measure = searches[i]
            measured += 1
            try:
                asks[i] = gen.send(measure(*asks[i]))
            except StopIteration as done:
                results[i] = done.value
                del asks[i]
        after_round(measured)
    return results


def bound_by(found: float | None, bound: str, points: list[CapacityPoint], rules: Rules) -> str:
    """What the search's "server" means, checked: the server's CPU, only when at the capacity it
    used at least `server_util_floor` of its quota; otherwise what stopped the rate above it —
    "admission" (the failing points were refused: errors), "noise" (other processes used the
    server CPUs during every failing point), "throttling" (the CFS cap stalled the server in at least
    `throttled_share` of its periods there), or "latency" (its latency rose with CPU to spare:
    queueing, scheduling, the runtime)."""
    if bound != "server" or found is None:
        return bound
    at = [p for p in points if p.passed and abs(p.offered_rps - found) < 1e-6]
    util = at[-1].server_cpu_util if at else None
    if util is None or util >= rules.server_util_floor:
        return "server"
    above = [p for p in points if not p.passed and p.offered_rps > found]
    if above and all("errors" in p.flags for p in above):
        return "admission"
    if above and all("noisy" in p.flags for p in above):
        return "noise"
    shares = [p.nr_throttled / p.nr_periods for p in (*at, *above) if p.nr_periods]
    if shares and max(shares) >= rules.throttled_share:
        return "throttling"
    return "latency"
