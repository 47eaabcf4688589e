"""Attacks 6 and 7, abuse of the bodies: hostile JSON over HTTP, hostile gRPC (a 5 MB message,
1,025 rows, 1,000 concurrent streams on one connection, a client that never reads its answers,
garbage after the HTTP/2 preface). Each runs beside the normal client of its protocol."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time

import grpc
import pytest

from python_service.gen.predict.v1 import predict_pb2, predict_pb2_grpc
from tests.reliability import rawnet
from tests.reliability.conftest import finish, judge_normal
from tests.reliability.harness import MAX_BATCH, MAX_BODY, grpc_attack
from tests.reliability.normal import IRIS_FEATURES
from tests.reliability.report import Verdict

pytestmark = [pytest.mark.reliability, pytest.mark.process]

ANSWER_MAX_BYTES = 1024
GOOD = '{"features": [5.1, 3.5, 1.4, 0.2]}'


def _predict(model: str = '"iris-logreg"', instances: str = "[%s]" % GOOD) -> bytes:
    return ('{"model": %s, "instances": %s}' % (model, instances)).encode()


def _number_body(digits: int) -> bytes:
    """A body of about `digits` bytes, nearly all of it one number."""
    return _predict(instances='[{"features": [%s, 1, 1, 1]}]' % ("9" * digits))


JSON_CASES = {
    "deep nesting (100,000 [)": _predict(instances="[" * 100_000 + "]" * 100_000),
    "deep nesting (50,000 objects)": _predict(
        instances='[{"features": ' + '{"a": ' * 50_000 + "1" + "}" * 50_001 + "]"
    ),
    "huge number (1e999999)": _predict(instances='[{"features": [1e999999, 1, 1, 1]}]'),
    "4 MiB number": _number_body(MAX_BODY - 100),
    "huge string (1 MB feature)": _predict(instances='[{"features": ["%s", 1, 1, 1]}]' % ("7" * 1_000_000)),
    "invalid UTF-8": b'{"model": "iris-\xff\xfe", "instances": [%s]}' % GOOD.encode(),
    "lone surrogate escape": _predict(model='"\\ud800iris"'),
    "NUL byte in a string": _predict(model='"iris\x00logreg"'),
    "duplicate keys": b'{"model": "iris-logreg", "model": "iris-logreg", "instances": [%s]}' % GOOD.encode(),
    "wrong types (model 42, instances string)": b'{"model": 42, "instances": "x"}',
    "wrong types (features true/null/{}/[])": _predict(instances='[{"features": [true, null, {}, []]}]'),
    "NaN tokens": _predict(instances='[{"features": [NaN, Infinity, -Infinity, 1]}]'),
    "trailing garbage": _predict() + b" xyz",
    "1 MB model name": _predict(model='"%s"' % ("m" * 1_000_000)),
    "1 MB unknown field name": ('{"%s": 1}' % ("k" * 1_000_000)).encode(),
    "1,000,000 features": _predict(instances='[{"features": [%s]}]' % ",".join(["1"] * 1_000_000)),
    "empty body": b"",
    "not an object (array)": b"[1, 2, 3]",
    "not an object (string)": b'"iris-logreg"',
    "not an object (null)": b"null",
}


def _post(address: str, body: bytes) -> tuple[int | None, dict, bytes, str]:
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read(), ""
    except (OSError, http.client.HTTPException) as e:
        return None, {}, b"", type(e).__name__
    finally:
        conn.close()


def _error_body_problem(headers: dict, body: bytes) -> str | None:
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    if not ctype.startswith("application/json"):
        return "Content-Type %r" % ctype
    try:
        doc = json.loads(body)
    except ValueError:
        return "body is not JSON"
    if not (isinstance(doc, dict) and isinstance(doc.get("code"), int) and isinstance(doc.get("message"), str)):
        return "body is not {code, message}"
    return None


def test_json_abuse(target, normal, report):
    """Rule: every case answered 4xx with the JSON error body, never 5xx, no answer > 1 KiB."""
    assert len(JSON_CASES) >= 12
    client = normal("http", target.http)
    v = Verdict()
    parts, figures = [], {}
    for name, body in JSON_CASES.items():
        started = time.monotonic()
        status, headers, answer, error = _post(target.http, body)
        took = time.monotonic() - started
        figures[name] = {
            "request_bytes": len(body),
            "status": status,
            "answer_bytes": len(answer),
            "seconds": round(took, 3),
            "message": answer[:300].decode("utf-8", "replace"),
            "error": error,
        }
        parts.append("%s %s" % (name, status or error))
        if not v.check(status is not None and 400 <= status < 500, "%s: %s" % (name, status or error)):
            continue
        problem = _error_body_problem(headers, answer)
        v.check(problem is None, "%s: %s" % (name, problem))
        v.check(
            len(answer) <= ANSWER_MAX_BYTES, "%s: answer of %d bytes (> %d)" % (name, len(answer), ANSWER_MAX_BYTES)
        )
    time.sleep(0.5)
    client.stop()
    summary = client.summary()
    judge_normal(v, summary)
    v.check(target.alive(), "the server process died")
    largest = max(figures.values(), key=lambda f: f["answer_bytes"])
    text = "%d cases: %s; largest answer %d B; slowest %.2f s" % (
        len(JSON_CASES),
        ", ".join(parts),
        largest["answer_bytes"],
        max(f["seconds"] for f in figures.values()),
    )
    finish(report, target.kind, "6 JSON abuse", v, text, figures, summary)


def _iris(rows: int = 1) -> predict_pb2.PredictRequest:
    return predict_pb2.PredictRequest(
        model="iris-logreg", instances=[predict_pb2.Instance(features=IRIS_FEATURES)] * rows
    )


def _code(call) -> str:
    try:
        call()
        return "OK"
    except grpc.RpcError as e:
        return e.code().name


def never_reading_client(address: str, streams: int, hold_s: float) -> dict:
    """HTTP/2 by hand: preface, SETTINGS, then `streams` Predict calls (iris, 1 row) sent at once;
    the socket is then never read for `hold_s` (its receive buffer kept small), so the server's
    answers pile up behind TCP and HTTP/2 flow control."""
    message = _iris().SerializeToString()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(rawnet.split(address))
    sent = 0
    try:
        sock.sendall(rawnet.client_start())
        # The server's flow-control window for what we send is 65,535 bytes unless it grows it (we do
        # not read whether it did): stay inside it.
        per_stream = len(rawnet.grpc_request_frames(1, address, "/predict.v1.PredictionService/Predict", message))
        for i in range(streams):
            if (i + 1) * (len(message) + 5) > 60_000:
                break
            frames = rawnet.grpc_request_frames(2 * i + 1, address, "/predict.v1.PredictionService/Predict", message)
            sock.sendall(frames)
            sent += 1
        time.sleep(hold_s)
        return {"streams_sent": sent, "bytes_per_stream": per_stream}
    except OSError as e:
        return {"streams_sent": sent, "error": e.strerror or str(e)}
    finally:
        sock.close()


def garbage_after_preface(address: str) -> dict:
    sock = socket.create_connection(rawnet.split(address), timeout=5)
    try:
        sock.sendall(rawnet.H2_PREFACE + os.urandom(2048))
        closed, goaway, took = rawnet.h2_read_until_closed(sock, 3.0)
        return {"closed": closed, "goaway": goaway, "seconds": round(took, 3)}
    finally:
        sock.close()


def test_grpc_abuse(target, normal, report):
    """Rule: the normal gRPC client passes, the server stays alive and keeps serving; the 5 MB
    message is RESOURCE_EXHAUSTED, 1,025 rows INVALID_ARGUMENT, the 1,000 concurrent streams get OK
    or RESOURCE_EXHAUSTED."""
    grpc_attack(target)
    client = normal("grpc", target.grpc)
    v = Verdict()
    figures: dict = {}
    big = predict_pb2.PredictRequest(model="m" * (5 * 1000 * 1000), instances=[predict_pb2.Instance(features=[1.0])])
    with grpc.insecure_channel(target.grpc, options=[("grpc.max_send_message_length", -1)]) as channel:
        stub = predict_pb2_grpc.PredictionServiceStub(channel)
        figures["5 MB message"] = _code(lambda: stub.Predict(big, timeout=10))
        v.check(figures["5 MB message"] == "RESOURCE_EXHAUSTED", "5 MB message: %s" % figures["5 MB message"])
        figures["1,025 rows"] = _code(lambda: stub.Predict(_iris(MAX_BATCH + 1), timeout=10))
        v.check(figures["1,025 rows"] == "INVALID_ARGUMENT", "1,025 rows: %s" % figures["1,025 rows"])

    # 1,000 concurrent calls on one connection (one channel = one HTTP/2 connection).
    with grpc.insecure_channel(target.grpc) as channel:
        stub = predict_pb2_grpc.PredictionServiceStub(channel)
        grpc.channel_ready_future(channel).result(timeout=5)
        started = time.monotonic()
        futures = [stub.Predict.future(_iris(), timeout=20) for _ in range(1000)]
        codes: dict[str, int] = {}
        for f in futures:
            name = f.code().name
            codes[name] = codes.get(name, 0) + 1
        figures["1,000 streams"] = {"codes": codes, "seconds": round(time.monotonic() - started, 2)}
        bad = {k: n for k, n in codes.items() if k not in ("OK", "RESOURCE_EXHAUSTED")}
        v.check(not bad, "1,000 concurrent streams: %s" % codes)

    # A client that never reads, beside a short-lived second one, then garbage after the preface.
    holder = {}
    thread = threading.Thread(target=lambda: holder.update(never_reading_client(target.grpc, 1500, 5.0)))
    thread.start()
    time.sleep(1.0)
    with grpc.insecure_channel(target.grpc) as channel:
        stub = predict_pb2_grpc.PredictionServiceStub(channel)
        during = [_code(lambda: stub.Predict(_iris(), timeout=5)) for _ in range(20)]
    thread.join()
    figures["never-reading client"] = {**holder, "other client meanwhile": {c: during.count(c) for c in set(during)}}
    v.check(during.count("OK") == len(during), "while a client never reads: another client got %s" % during)
    figures["garbage after preface"] = garbage_after_preface(target.grpc)
    v.check(figures["garbage after preface"]["closed"], "garbage after the HTTP/2 preface: connection left open 3 s")

    time.sleep(0.5)
    with grpc.insecure_channel(target.grpc) as channel:
        after = _code(lambda: predict_pb2_grpc.PredictionServiceStub(channel).Predict(_iris(), timeout=5))
    client.stop()
    summary = client.summary()
    judge_normal(v, summary)
    v.check(target.alive(), "the server process died")
    v.check(after == "OK", "after the abuse, Predict answers %s" % after)
    g = figures["garbage after preface"]
    text = (
        "5 MB → %s; 1,025 rows → %s; 1,000 streams → %s in %.1f s; never-reader (%s streams) — other client %s; "
        "garbage after preface → %s%s; after: %s"
        % (
            figures["5 MB message"],
            figures["1,025 rows"],
            codes,
            figures["1,000 streams"]["seconds"],
            holder.get("streams_sent"),
            figures["never-reading client"]["other client meanwhile"],
            "closed in %.2f s" % g["seconds"] if g["closed"] else "left open",
            " (GOAWAY)" if g["goaway"] else "",
            after,
        )
    )
    finish(report, target.kind, "7 gRPC abuse", v, text, figures, summary)
