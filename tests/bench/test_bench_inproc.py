"""Parsing the Go predictor benchmarks' standard output (a real run kept in fixtures/go_bench.txt)."""

import os
import re

import pytest

from bench.run import inproc

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "go_bench.txt")


def test_parse_go_bench_ns_to_us():
    with open(FIXTURE, encoding="utf-8") as fh:
        timings = inproc.parse_go_bench(fh.read())
    cells = {("iris-logreg", 1), ("iris-logreg", 64), ("breast-cancer-rf", 1), ("breast-cancer-rf", 64)}
    assert set(timings) == {(m, b, "core") for m, b in cells}  # BenchmarkPredict: the core alone
    assert timings[("iris-logreg", 1, "core")] == pytest.approx(4.283)  # 4283 ns/op
    assert timings[("breast-cancer-rf", 64, "core")] == pytest.approx(124.377)


def test_parse_go_bench_without_gomaxprocs_suffix():
    line = "BenchmarkPredict/model=digits-mlp/batch=32   \t  1000\t  2500.5 ns/op"
    assert inproc.parse_go_bench(line) == {("digits-mlp", 32, "core"): pytest.approx(2.5005)}


def test_parse_the_wire_benchmark_by_codec():
    text = (
        "BenchmarkPredictWire/model=iris-logreg/batch=1/codec=protobuf-2   36788   5800 ns/op   712 B/op\n"
        "BenchmarkPredictWire/model=iris-logreg/batch=1/codec=json-2   20139   12149 ns/op   2344 B/op   70 allocs/op\n"
    )
    assert inproc.parse_go_bench(text) == {
        ("iris-logreg", 1, "protobuf"): pytest.approx(5.8),
        ("iris-logreg", 1, "json"): pytest.approx(12.149),
    }


def test_bench_pattern_selects_only_the_asked_sub_benchmarks():
    levels = inproc.go_bench_pattern(["iris-logreg", "breast-cancer-rf"], [1, 32]).split("/")
    assert re.search(levels[0], "BenchmarkPredict") and re.search(levels[0], "BenchmarkPredictWire")
    assert not re.search(levels[0], "BenchmarkPredictX")
    assert re.search(levels[1], "model=breast-cancer-rf") and not re.search(levels[1], "model=digits-mlp")
    assert re.search(levels[2], "batch=32") and not re.search(levels[2], "batch=320")
    assert re.search(levels[3], "codec=json") and re.search(levels[3], "codec=protobuf")
    one = inproc.go_bench_pattern(["iris-logreg"], [1], ["protobuf"]).split("/")
    assert not re.search(one[0], "BenchmarkPredict") and not re.search(one[3], "codec=json")


def test_parse_go_bench_keeps_the_fastest_of_repeated_runs():
    text = (
        "BenchmarkPredict/model=breast-cancer-rf/batch=32-2   10000   87100 ns/op\n"
        "BenchmarkPredict/model=breast-cancer-rf/batch=32-2   17046   69417 ns/op\n"
        "BenchmarkPredict/model=breast-cancer-rf/batch=32-2   12000   133700 ns/op\n"
    )
    assert inproc.parse_go_bench(text) == {("breast-cancer-rf", 32, "core"): pytest.approx(69.417)}
