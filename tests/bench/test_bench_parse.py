"""bench.parse on small real outputs of hey (-o csv) and ghz (-O json), kept in fixtures/."""

import json
import os

import pytest

from bench.analysis import parse

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
        return fh.read()


def test_hey_csv_all_ok_seconds_to_ms():
    run = parse.parse_hey_csv(fixture("hey_ok.csv"))
    assert (run.ok, run.errors, run.requests) == (20, 0, 20)
    assert run.error_kinds == {}
    assert run.latencies_ms == sorted(run.latencies_ms)
    rows = [line.split(",") for line in fixture("hey_ok.csv").splitlines()[1:]]
    # seconds → ms: the first data row's response-time (0.0011 s) is 1.1 ms
    assert rows[0][0] == "0.0011" and 1.1 in [pytest.approx(x) for x in run.latencies_ms]
    assert run.latencies_ms == pytest.approx(sorted(float(r[0]) * 1000 for r in rows))
    # window: from the first offset to the latest offset + response-time
    start = min(float(r[7]) for r in rows)
    end = max(float(r[7]) + float(r[0]) for r in rows)
    assert run.elapsed_s == pytest.approx(end - start)


def test_hey_csv_non_200_counts_as_error():
    run = parse.parse_hey_csv(fixture("hey_http404.csv"))
    assert (run.ok, run.errors) == (0, 6)
    assert run.error_kinds == {"HTTP 404": 6}
    assert run.latencies_ms == []


def test_hey_csv_header_only_when_nothing_answered():
    run = parse.parse_hey_csv(fixture("hey_refused.csv"))
    assert (run.ok, run.errors, run.elapsed_s) == (0, 0, 0.0)


def test_ghz_json_ns_to_ms():
    text = fixture("ghz_ok.json")
    report = json.loads(text)
    run = parse.parse_ghz_json(text)
    assert (run.ok, run.errors) == (report["count"], 0)
    assert run.latencies_ms[0] == pytest.approx(report["fastest"] / 1e6)
    assert run.latencies_ms[-1] == pytest.approx(report["slowest"] / 1e6)
    # the window (first call start → last call end) fits inside ghz's own total
    assert 0 < run.elapsed_s <= report["total"] / 1e9


def test_ghz_json_non_ok_status_counts_as_error():
    run = parse.parse_ghz_json(fixture("ghz_notfound.json"))
    assert (run.ok, run.errors) == (0, 6)
    assert run.error_kinds == {"NotFound": 6}


@pytest.mark.parametrize("text", ["", "not,a,hey,csv\n1,2,3,4\n"])
def test_hey_csv_rejects_other_text(text):
    with pytest.raises(parse.ParseError):
        parse.parse_hey_csv(text)


@pytest.mark.parametrize("text", ["", "{}", "[1]", "Summary:\n  Count: 20\n"])
def test_ghz_json_rejects_other_text(text):
    with pytest.raises(parse.ParseError):
        parse.parse_ghz_json(text)


def test_ghz_timestamps_keep_nanoseconds():
    assert parse._timestamp_ns("1970-01-01T00:00:01.000000042Z") == 1_000_000_042
    assert parse._timestamp_ns("1970-01-01T01:00:01.5+01:00") == 1_500_000_000
