"""Aggregation: percentiles, median and min–max over repeats, ratios, the client-bound flag."""

import pytest

from bench.analysis import stats
from bench.results import Latency, Spread
from tests.bench import synthetic


def run(server="go", protocol="grpc", conc=10, repeat=1, rps=100.0, cpu=50.0, util=0.5, bound=False, **kw):
    return synthetic.run(
        server=server, protocol=protocol, conc=conc, repeat=repeat, rps=rps, cpu=cpu, util=util, bound=bound, **kw
    )


def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert stats.percentile(values, 50) == 50.0
    assert stats.percentile(values, 99) == 99.0
    assert stats.percentile(values, 100) == 100.0
    assert stats.percentile([7.0], 99) == 7.0
    assert stats.percentile([], 50) is None


def test_latency_summary():
    s = stats.latency_summary([1.0, 2.0, 3.0, 10.0])
    assert s == Latency(p50=2.0, p90=10.0, p99=10.0, p999=10.0, max=10.0, mean=4.0)
    assert stats.latency_summary([]).p50 is None


def test_spread_median_min_max_ignores_unknown():
    assert stats.spread([3.0, 1.0, 2.0]) == Spread(median=2.0, min=1.0, max=3.0, n=3, median_ci95=[1.0, 3.0])
    assert stats.spread([4.0, None, 2.0]).median == 3.0
    assert stats.spread([None]).median is None


@pytest.mark.parametrize("util,bound", [(0.9, True), (0.95, True), (0.8999, False), (None, False)])
def test_client_bound_threshold(util, bound):
    assert stats.is_client_bound(util, 0.9) is bound


def test_client_util_and_per_request():
    assert stats.client_util(cpu_s=1.8, wall_s=2.0, n_cpus=1) == pytest.approx(0.9)
    assert stats.client_util(cpu_s=1.8, wall_s=2.0, n_cpus=2) == pytest.approx(0.45)
    assert stats.per_request_us(0.5, 10_000) == pytest.approx(50.0)
    assert stats.per_request_us(None, 10) is None and stats.per_request_us(1.0, 0) is None


def test_aggregate_groups_repeats_and_flags_client_bound():
    runs = [
        run(repeat=1, rps=100),
        run(repeat=2, rps=300, bound=True),
        run(repeat=3, rps=200),
        run(server="python", repeat=1, rps=50),
        run(server="python", repeat=2, rps=60),
        run(server="python", repeat=3, rps=40),
    ]
    rows = stats.aggregate(runs)
    assert len(rows) == 2
    go = stats.find(rows, server="go")
    assert go.rps == Spread(median=200, min=100, max=300, n=3, median_ci95=[100.0, 300.0])
    assert go.client_bound and go.client_bound_repeats == 1 and go.repeats == 3
    assert not stats.find(rows, server="python").client_bound


def test_aggregate_counts_noisy_and_unanswered_repeats():
    runs = [run(repeat=1, noisy=True), run(repeat=2, no_answers=True, rps=None), run(repeat=3)]
    row = stats.aggregate(runs)[0]
    assert (row.noisy_repeats, row.no_answer_repeats) == (1, 1)
    assert row.rps.median == 100.0  # a run without answers has no req/s; the others still count


def test_pair_ratios_go_over_python_and_grpc_over_http():
    runs = [
        run(server="go", protocol="grpc", rps=300, cpu=20),
        run(server="python", protocol="grpc", rps=100, cpu=80),
        run(server="go", protocol="http", rps=150, cpu=40, bound=True),
    ]
    rows = stats.aggregate(runs)
    go_py = stats.pair_ratios(runs, rows, "server", "go", "python")
    assert len(go_py) == 1  # go/http has no python/http partner
    assert go_py[0]["rps_ratio"] == pytest.approx(3.0)
    assert go_py[0]["cpu_per_req_ratio"] == pytest.approx(0.25)
    g_h = stats.pair_ratios(runs, rows, "protocol", "grpc", "http")
    assert g_h == [
        {
            "server": "go",
            "model": "iris-logreg",
            "batch": 1,
            "concurrency": 10,
            "rps_ratio": pytest.approx(2.0),
            "rps_ratio_ci95": pytest.approx([2.0, 2.0]),
            "cpu_per_req_ratio": pytest.approx(0.5),
            "cpu_per_req_ratio_ci95": pytest.approx([0.5, 0.5]),
            "n": 1,
            "client_bound": True,
        }
    ]


def test_pair_ratios_pair_the_same_repeat():
    """The machine slowed down during the window: both servers' CPU per request doubled from one
    repeat to the next. Paired repeat by repeat the ratio holds still; a ratio of the two medians
    would not know which repeat was which."""
    slow = {1: 1.0, 2: 2.0, 3: 1.5}
    runs = [run(server="go", repeat=r, cpu=20 * k) for r, k in slow.items()]
    runs += [run(server="python", repeat=r, cpu=80 * k) for r, k in slow.items()]
    (pair,) = stats.pair_ratios(runs, stats.aggregate(runs), "server", "go", "python")
    assert pair["cpu_per_req_ratio"] == pytest.approx(0.25)
    assert pair["cpu_per_req_ratio_ci95"] == pytest.approx([0.25, 0.25]) and pair["n"] == 3


def test_ratio_handles_missing():
    assert stats.ratio(None, 2.0) is None and stats.ratio(2.0, 0) is None and stats.ratio(3.0, 2.0) == 1.5


def test_worker_shares_are_medians_over_repeats():
    runs = [run(repeat=r, worker_cpu_s=[a, b]) for r, (a, b) in enumerate([(1.0, 1.0), (3.0, 1.0), (2.0, 2.0)])]
    (row,) = stats.aggregate(runs)
    assert row.worker_cpu_share == pytest.approx([0.5, 0.5])


def test_reference_concurrency_falls_back_to_the_variants_without_a_matrix():
    from types import SimpleNamespace

    from bench.analysis import goals

    serve = [SimpleNamespace(kind="serve", concurrency=c) for c in (1, 10)]
    variants = [SimpleNamespace(kind="variant", concurrency=8)]
    assert goals.reference_concurrency(serve + variants, 10) == 10
    assert goals.reference_concurrency(variants, 10) == 8  # a variants-only run (PROFILE=metrics-cost)
    assert goals.reference_concurrency([], 10) is None
