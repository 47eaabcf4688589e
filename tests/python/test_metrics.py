"""The Python server's Prometheus metrics against proto/predict/v1/metrics.json (names, types,
labels, buckets), and their sums across worker processes."""

import json
import time

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from python_service import contract
from python_service.gen.predict.v1 import predict_pb2_grpc
from python_service.server.core import metrics
from tests.python.pyservice_harness import SETOSA, http_call, post_predict, predict_request

SPEC = contract.load("metrics.json")


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def _samples(body):
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families(body.decode()).values() for s in f.samples
    }


def test_batched_histograms_count_what_observe_would():
    """The recorder queues phase and duration observations and writes them in aggregate: the
    exposed buckets (cumulative), count and sum are those of one observe() per value."""
    recorder = metrics.for_protocol("grpc")
    values = [0.00004, 0.003, 0.003, 0.0031, 2.5, 10.0, 1e9]
    bounds = [float(b) for b in SPEC["buckets"]["seconds"]] + [float("inf")]
    before = _phase_samples("tensor")
    for v in values:
        recorder.phase("tensor", v)
    after = _phase_samples("tensor")
    assert after["count"] - before["count"] == len(values)
    assert abs((after["sum"] - before["sum"]) - sum(values)) < 1e-6
    for le in bounds:
        expected = sum(1 for v in values if v <= le)
        assert after[le] - before[le] == expected, le


def _phase_samples(phase):
    out = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            if sample.labels.get("phase") != phase or sample.labels.get("protocol") != "grpc":
                continue
            if sample.name.endswith("_bucket"):
                out[float(sample.labels["le"])] = sample.value
            elif sample.name.endswith("_count"):
                out["count"] = sample.value
            elif sample.name.endswith("_sum"):
                out["sum"] = sample.value
    return out


def test_exposition_follows_the_contract():
    recorder = metrics.for_protocol("http")
    recorder.request("Predict", "OK", 0.001)
    recorder.phase("inference", 0.0001)
    recorder.shed()
    recorder.inflight(1)
    recorder.inflight(-1)
    exposed = families(metrics.exposition().decode())
    buckets = [float(b) for b in SPEC["buckets"]["seconds"]] + [float("inf")]
    for metric in SPEC["metrics"]:
        name = metric["name"].removesuffix("_total") if metric["type"] == "counter" else metric["name"]
        family = exposed.get(name)
        assert family is not None, "%s not exposed" % metric["name"]
        assert family.type == metric["type"], metric["name"]
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                assert set(sample.labels) == set(metric["labels"]) | {"le"}, sample
            else:
                assert set(sample.labels) == set(metric["labels"]), sample
            for label, value in sample.labels.items():
                if label in SPEC["label_values"]:
                    assert value in SPEC["label_values"][label], sample
        if metric["type"] == "histogram":
            les = sorted({float(s.labels["le"]) for s in family.samples if s.name.endswith("_bucket")})
            assert les == buckets, metric["name"]
    assert exposed["servebench_requests"].samples[0].name == "servebench_requests_total"


@pytest.mark.parametrize("workers", [1, 2])
def test_counters_add_up_across_workers(start_server, workers):
    server = start_server("--workers", str(workers))
    n_http, n_grpc = 12, 9
    for _ in range(n_http):  # each on a new connection: spread over the HTTP workers
        assert post_predict(server.http, {"model": "iris-logreg", "instances": [{"features": SETOSA}]})[0] == 200
    assert post_predict(server.http, {"model": "nope", "instances": [{"features": SETOSA}]})[0] == 404
    for i in range(n_grpc):  # new channels: spread over the gRPC workers
        with grpc.insecure_channel(server.grpc, options=[("grpc.channel_id", i)]) as channel:
            predict_pb2_grpc.PredictionServiceStub(channel).Predict(predict_request("iris-logreg", [SETOSA]))
    status, _, body = http_call(server.http, "GET", "/metrics")
    assert status == 200
    samples = _samples(body)

    def requests(protocol, code):
        return samples[("servebench_requests_total", (("code", code), ("method", "Predict"), ("protocol", protocol)))]

    # the request counter is written at once: a scrape right after the answers counts them all
    assert requests("http", "OK") == n_http and requests("http", "NOT_FOUND") == 1
    assert requests("grpc", "OK") == n_grpc
    # histograms are written every metrics.FLUSH_S: within that (and a margin), every phase is there
    time.sleep(3 * metrics.FLUSH_S)
    samples = _samples(http_call(server.http, "GET", "/metrics")[2])
    decode = samples[("servebench_phase_duration_seconds_count", (("phase", "decode"), ("protocol", "http")))]
    assert decode == n_http  # phases of answered requests only
    for protocol, n in (("http", n_http + 1), ("grpc", n_grpc)):
        key = ("servebench_request_duration_seconds_count", (("method", "Predict"), ("protocol", protocol)))
        assert samples[key] == n
    assert server.stop() == 0, server.log()


def test_metrics_false_turns_them_off(start_server):
    server = start_server("--metrics=false")
    assert http_call(server.http, "GET", "/metrics")[0] == 404
    assert json.loads(http_call(server.http, "GET", "/readyz")[2])["status"] == "ready"
    assert server.stop() == 0, server.log()


def test_metrics_addr_without_metrics_is_refused(capsys):
    from python_service.__main__ import main

    assert main(["serve", "--metrics=false", "--metrics-addr", "127.0.0.1:0"]) == 1
    assert "--metrics-addr needs --metrics" in capsys.readouterr().err
