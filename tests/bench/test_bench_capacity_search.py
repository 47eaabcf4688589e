"""The capacity search on synthetic latency curves: it finds the knee within its precision, confirms
it, steps down from a start above it, and never calls a generator-bound figure server capacity."""

import math

import pytest

from bench.analysis import capacity
from bench.results import CapacityPoint, Latency


def curve(knee, base_ms=1.0, generator_limit=math.inf, noisy_pass_at=None):
    """measure(rate, confirm) of a server whose p99 rises as 1/(1 − rate/knee) (an M/M/1 queue's
    shape) and a generator that saturates above `generator_limit` req/s."""
    calls = []

    def measure(rate, confirm):
        calls.append((rate, confirm))
        load = rate / knee
        p99 = base_ms / (1 - load) if load < 1 else 10_000.0
        if noisy_pass_at is not None and not confirm and abs(rate - noisy_pass_at) < 1e-9:
            p99 = base_ms  # a lucky run at an overloaded rate
        generator = min(1.0, rate / generator_limit) if generator_limit < math.inf else 0.3
        achieved = rate if load < 1 else knee
        return CapacityPoint(
            offered_rps=rate,
            achieved_rps=achieved,
            requests=int(rate),
            errors=0,
            latency_ms=Latency(p50=base_ms, p90=p99 / 2, p99=p99, p999=p99, max=p99),
            server_cpu_util=min(1.0, load),
            client_cpu_util=generator,
            server_cpu_us_per_req=None,
            schedule_lag_p99_ms=0.1,
            flags=["confirm"] if confirm else [],
            passed=False,
        )

    measure.calls = calls
    return measure


def true_capacity(knee, base_ms, slo_ms):
    """The rate where base/(1 − r/knee) = slo."""
    return knee * (1 - base_ms / slo_ms)


@pytest.mark.parametrize("start", [50.0, 400.0, 900.0, 3000.0])
def test_finds_the_knee_within_its_precision(start):
    rules = capacity.Rules(slo_ms=10.0)
    measure = curve(knee=1000.0)
    found, bound_by, points = capacity.search(measure, start, rules)
    want = true_capacity(1000.0, 1.0, 10.0)
    assert bound_by == "server"
    assert want * (1 - rules.precision) <= found <= want
    assert points[-1].flags == ["confirm"] and points[-1].passed  # the capacity was measured twice
    assert len(points) <= rules.max_points


def test_a_lucky_pass_is_not_believed():
    rules = capacity.Rules(slo_ms=10.0, step=2.0)
    measure = curve(knee=1000.0, noisy_pass_at=800.0 * 1.0)
    found, bound_by, _ = capacity.search(measure, 100.0, rules)
    assert bound_by == "server" and found <= true_capacity(1000.0, 1.0, 10.0)


def test_a_saturated_generator_is_never_server_capacity():
    rules = capacity.Rules(slo_ms=10.0)
    found, bound_by, points = capacity.search(curve(knee=10_000.0, generator_limit=2000.0), 500.0, rules)
    assert bound_by == "generator"
    assert "generator-bound" in points[-1].flags
    assert found is None or found < 2000.0


def test_nothing_passes():
    rules = capacity.Rules(slo_ms=0.5)  # below the curve's base latency
    found, bound_by, _ = capacity.search(curve(knee=1000.0), 100.0, rules)
    assert (found, bound_by) == (None, "none")


@pytest.mark.parametrize(
    "changes, flag",
    [
        ({"errors": 3}, "errors"),
        ({"achieved_rps": 95.0}, "behind"),
        ({"latency_ms": Latency(p99=20.0)}, "slo"),
        ({"client_cpu_util": 0.95}, "generator-bound"),
        ({"achieved_rps": 90.0, "server_cpu_util": 0.3}, "generator-bound"),
    ],
)
def test_judge_flags(changes, flag):
    point = CapacityPoint(
        offered_rps=100.0,
        achieved_rps=100.0,
        requests=100,
        errors=0,
        latency_ms=Latency(p99=2.0),
        server_cpu_util=0.9,
        client_cpu_util=0.2,
        server_cpu_us_per_req=None,
        schedule_lag_p99_ms=None,
        flags=[],
        passed=False,
    )
    for key, value in changes.items():
        setattr(point, key, value)
    judged = capacity.judge(point, capacity.Rules(slo_ms=10.0))
    assert flag in judged.flags and not judged.passed


def test_a_failed_confirmation_falls_back_to_the_pass_below():
    rules = capacity.Rules(slo_ms=10.0)
    inner = curve(knee=1000.0)
    failed_once = []

    def measure(rate, confirm):
        point = inner(rate, confirm)
        if confirm and not failed_once:  # the first confirmation is unlucky
            failed_once.append(rate)
            point.latency_ms = Latency(p50=1.0, p99=50.0)
        return point

    found, bound_by, points = capacity.search(measure, 100.0, rules)
    assert bound_by == "server" and found < failed_once[0]
    assert points[-1].flags == ["confirm"] and points[-1].passed


def test_out_of_points():
    found, bound_by, points = capacity.search(curve(knee=1000.0), 100.0, capacity.Rules(slo_ms=10.0, max_points=3))
    assert (found, bound_by) == (225.0, "unfinished")  # 100, 150, 225 all passed: a lower bound only
    found, bound_by, points = capacity.search(curve(knee=1000.0), 100.0, capacity.Rules(slo_ms=10.0, max_points=8))
    assert bound_by == "server" and not any("confirm" in p.flags for p in points)
    assert found == max(p.offered_rps for p in points if p.passed)


def test_lockstep_takes_turns_and_finds_each_capacity():
    """Two endpoints searched in turn, one point each, find what each finds alone."""
    calls = []

    def recording(name, measure):
        def wrapped(rate, confirm):
            calls.append(name)
            return measure(rate, confirm)

        return wrapped

    rules = capacity.Rules(slo_ms=10.0)
    fast, slow = curve(knee=4000.0), curve(knee=1000.0)
    (found_fast, _, _), (found_slow, _, _) = capacity.lockstep(
        [
            (capacity.steps(500.0, rules), recording("fast", fast)),
            (capacity.steps(500.0, rules), recording("slow", slow)),
        ]
    )
    assert found_fast == capacity.search(curve(knee=4000.0), 500.0, rules)[0]
    assert found_slow == capacity.search(curve(knee=1000.0), 500.0, rules)[0]
    both = min(calls.count("fast"), calls.count("slow"))
    assert calls[: 2 * both] == ["fast", "slow"] * both  # alternating while both search


def _point(rate, passed, util, flags=(), periods=None, throttled=None):
    return CapacityPoint(
        offered_rps=rate,
        achieved_rps=rate,
        requests=100,
        errors=1 if "errors" in flags else 0,
        latency_ms=Latency(p99=5.0 if passed else 20.0),
        server_cpu_util=util,
        client_cpu_util=0.2,
        server_cpu_us_per_req=None,
        schedule_lag_p99_ms=0.1,
        flags=list(flags),
        passed=passed,
        nr_periods=periods,
        nr_throttled=throttled,
    )


@pytest.mark.parametrize(
    "above,util,expected",
    [
        (_point(1100, False, 0.95, ["slo"]), 0.85, "server"),  # its CPU: ≥ 80% of the quota used
        (_point(1100, False, 0.7, ["errors"]), 0.6, "admission"),  # refused with CPU to spare
        (_point(1100, False, 0.7, ["slo"], periods=300, throttled=60), 0.6, "throttling"),  # stalled by the cap
        (_point(1100, False, 0.7, ["slo"], periods=300, throttled=3), 0.6, "latency"),  # neither
        (_point(1100, False, 0.7, ["slo", "noisy"]), 0.6, "noise"),  # other processes took the CPU
    ],
)
def test_bound_by_says_server_only_when_its_cpu_is_the_limit(above, util, expected):
    rules = capacity.Rules(slo_ms=10.0)
    points = [_point(1000, True, util), above, _point(1000, True, util, ["confirm"])]
    assert capacity.bound_by(1000.0, "server", points, rules) == expected
    assert capacity.bound_by(1000.0, "generator", points, rules) == "generator"
