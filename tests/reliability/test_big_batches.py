"""Attack 9, big batches: 200 requests of 1,024 rows (breast-cancer-rf), one at a time, alternating
gRPC and HTTP protobuf (application/x-protobuf), beside the normal client (HTTP JSON). Rule: every
one answered with 1,024 predictions, and the RSS of the server's process tree grows by at most
50 MB from the 20th answer to the 200th.

Binary bodies keep the run short: a 1,024-row JSON body costs the Python server ~0.2 s of decoding
(Go ~0.04 s), which would make this attack ~40 s; the one JSON request below records that figure.
"""

from __future__ import annotations

import http.client
import json
import time

import grpc
import pytest

from python_service.gen.predict.v1 import predict_pb2, predict_pb2_grpc
from tests.reliability.conftest import finish, judge_normal
from tests.reliability.harness import MAX_BATCH
from tests.reliability.report import Verdict

pytestmark = [pytest.mark.reliability, pytest.mark.process]

REQUESTS, BASELINE_AT = 200, 20
RSS_GROWTH_MAX_MB = 50.0
MODEL, FEATURES = "breast-cancer-rf", 30


def big_request() -> predict_pb2.PredictRequest:
    rows = [[round(0.05 * ((i + 3 * j) % 40), 3) for j in range(FEATURES)] for i in range(MAX_BATCH)]
    return predict_pb2.PredictRequest(model=MODEL, instances=[predict_pb2.Instance(features=r) for r in rows])


def test_big_batches(target, normal, report):
    request = big_request()
    body = request.SerializeToString()
    json_body = json.dumps(
        {"model": MODEL, "instances": [{"features": list(i.features)} for i in request.instances]}
    ).encode()
    host, _, port = target.http.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    channel = grpc.insecure_channel(target.grpc)
    stub = predict_pb2_grpc.PredictionServiceStub(channel)
    client = normal("http", target.http)
    failures: dict[str, int] = {}
    latencies = {"grpc": [], "http": []}
    rss = {}
    started = time.monotonic()
    try:
        for i in range(1, REQUESTS + 1):
            t = time.monotonic()
            try:
                if i % 2:
                    answer = stub.Predict(request, timeout=30)
                    protocol = "grpc"
                else:
                    conn.request(
                        "POST",
                        "/v1/predict",
                        body,
                        {"Content-Type": "application/x-protobuf", "Accept": "application/x-protobuf"},
                    )
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status != 200:
                        raise RuntimeError("HTTP %d" % resp.status)
                    answer = predict_pb2.PredictResponse.FromString(data)
                    protocol = "http"
                if len(answer.predictions) != MAX_BATCH:
                    raise RuntimeError("%d predictions" % len(answer.predictions))
                latencies[protocol].append(time.monotonic() - t)
            except (grpc.RpcError, OSError, http.client.HTTPException, RuntimeError) as e:
                key = e.code().name if isinstance(e, grpc.RpcError) else str(e) or type(e).__name__
                failures[key] = failures.get(key, 0) + 1
                conn.close()
            if i in (BASELINE_AT, REQUESTS):
                rss[i] = target.rss_bytes()
        elapsed = time.monotonic() - started
        t = time.monotonic()
        conn.request("POST", "/v1/predict", json_body, {"Content-Type": "application/json"})
        json_status = conn.getresponse()
        json_status.read()
        json_s = time.monotonic() - t
    finally:
        conn.close()
        channel.close()
        time.sleep(0.3)
        client.stop()
    summary = client.summary()
    growth_mb = (rss[REQUESTS] - rss[BASELINE_AT]) / 1e6
    v = Verdict()
    judge_normal(v, summary)
    v.check(not failures, "%d of %d big requests failed: %s" % (sum(failures.values()), REQUESTS, failures))
    v.check(
        growth_mb <= RSS_GROWTH_MAX_MB,
        "server RSS grew %.1f MB from request %d to %d (> %g MB)"
        % (growth_mb, BASELINE_AT, REQUESTS, RSS_GROWTH_MAX_MB),
    )
    median = lambda xs: sorted(xs)[len(xs) // 2] * 1000 if xs else float("nan")
    text = (
        "%d/%d answered in %.1f s (median gRPC %.0f ms, HTTP protobuf %.0f ms; one JSON: %.0f ms, HTTP %d); "
        "RSS %.0f → %.0f MB (%+.1f MB from #%d to #%d)"
        % (
            REQUESTS - sum(failures.values()),
            REQUESTS,
            elapsed,
            median(latencies["grpc"]),
            median(latencies["http"]),
            json_s * 1000,
            json_status.status,
            rss[BASELINE_AT] / 1e6,
            rss[REQUESTS] / 1e6,
            growth_mb,
            BASELINE_AT,
            REQUESTS,
        )
    )
    figures = {
        "requests": REQUESTS,
        "failures": failures,
        "seconds": round(elapsed, 2),
        "median_ms": {p: round(median(x), 1) for p, x in latencies.items()},
        "json_1024_rows_ms": round(json_s * 1000, 1),
        "rss_mb": {str(k): round(b / 1e6, 1) for k, b in rss.items()},
        "rss_growth_mb": round(growth_mb, 1),
    }
    finish(report, target.kind, "9 big batches (200 × 1,024 rows)", v, text, figures, summary)
