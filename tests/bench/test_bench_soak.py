"""The soak's summary: RSS growth, errors and p99 drift per endpoint, from its windows; and where it
finds the capacity it loads each endpoint to."""

import json

import pytest

from bench import soak


def window(p99, rss, errors=0, requests=1000):
    return {"p99_ms": p99, "rss_mb": rss, "errors": errors, "requests": requests}


def test_drift_growth_and_errors_are_pointed_out():
    e = ("python", "http-json")
    windows = {e: [window(2.0, 100.0), window(2.2, 101.0), window(5.0, 130.0, errors=5), window(6.0, 140.0)]}
    (got,) = soak.summarize(windows, {e: {"rate": 70.0}}).values()
    assert got["requests"] == 4000 and got["errors"] == 5
    assert got["p99_drift"] == pytest.approx(5.5 / 2.1)  # median of the second half ÷ of the first
    assert got["rss_growth"] == pytest.approx(0.4)
    assert got["attention"] == ["RSS grew 40%", "p99 of the second half 2.6× the first", "5 errors"]


def test_a_steady_endpoint_is_ok():
    e = ("go", "grpc")
    windows = {e: [window(2.0, 50.0), window(2.1, 50.5), window(1.9, 50.2)]}
    (got,) = soak.summarize(windows, {e: {"rate": 700.0}}).values()
    assert got["attention"] == []
    doc = {
        "run_id": "r",
        "capacity_from": "x",
        "minutes": 1,
        "fraction": 0.7,
        "window_s": 20,
        "cpu_share_per_server": 0.25,
        "endpoints": [{"server": "go", "protocol": "grpc", **got}],
    }
    assert "| go | grpc | 700 |" in soak.report(doc)


def test_capacity_is_taken_from_the_newest_run_with_all_four_endpoints(tmp_path):
    def write(run_id, endpoints):
        (tmp_path / run_id).mkdir()
        items = [
            {
                "server": s,
                "protocol": p,
                "model": "iris-logreg",
                "batch": 1,
                "bound_by": "server",
                "capacity_rps_per_core": 100.0,
            }
            for s, p in endpoints
        ]
        (tmp_path / run_id / "results.json").write_text(json.dumps({"capacity": items}))

    write("20260101T000000Z-capacity", soak.ENDPOINTS)
    write("20260102T000000Z-quick", [("go", "grpc")])  # newer, but not all four
    source, found = soak.find_capacity(str(tmp_path), None)
    assert source.endswith("20260101T000000Z-capacity") and set(found) == set(soak.ENDPOINTS)
    assert soak.find_capacity(str(tmp_path), str(tmp_path / "20260102T000000Z-quick")) is None
