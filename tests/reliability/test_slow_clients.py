"""Attacks 1-3, slow and idle clients: 300 connections writing their request head 1 byte per
second, 100 connections trickling a body, 2,000 idle keep-alive connections, each beside the
normal HTTP JSON client; and the slow body over gRPC, 100 calls whose message trickles in, beside
the normal gRPC client."""

from __future__ import annotations

import time

import grpc
import pytest

from python_service.gen.predict.v1 import predict_pb2, predict_pb2_grpc
from tests.reliability import rawnet
from tests.reliability.conftest import finish, judge_normal
from tests.reliability.harness import grpc_attack
from tests.reliability.normal import IRIS_FEATURES, percentile
from tests.reliability.report import Verdict

pytestmark = [pytest.mark.reliability, pytest.mark.process]

SLOW_HEAD_CONNS = 300
SLOW_BODY_CONNS = 100
IDLE_CONNS = 2000
MARGIN_S = 2.0  # a deadline is met when the close comes within it + MARGIN_S (timer granularity, load)
SLOW_BODY_WINDOW_S = 10.0
# 100 calls over 10 connections, each message 1 byte a second for 6 s (an iris message is 33
# bytes: none completes); far more than either server's admission bound.
SLOW_GRPC_CONNS, SLOW_GRPC_CALLS_PER_CONN, SLOW_GRPC_WINDOW_S = 10, 10, 6.0
PREDICT_METHOD = "/predict.v1.PredictionService/Predict"
PREDICT_HEAD = (
    b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 70\r\n"
    b"X-Padding: " + b"p" * 64 + b"\r\n\r\n"
)
BODY = b'{"model": "iris-logreg", "instances": [{"features": [5.1, 3.5, 1.4, 0.2]}]}'


def _spread(values):
    """min / median / max of seconds, as text."""
    if not values:
        return "—"
    return "%.2f/%.2f/%.2f s" % (min(values), percentile(values, 50), max(values))


def _server_error(conn) -> bool:
    """A 5xx answer other than an overload refusal (503 + Retry-After, which is a correct answer)."""
    if not conn.status or conn.status < 500:
        return False
    return not (conn.status == 503 and b"\r\nretry-after:" in conn.answer.lower())


def _statuses(conns):
    out: dict[str, int] = {}
    for c in conns:
        key = str(c.status) if c.status else ("no answer" if not c.answer else "garbled")
        out[key] = out.get(key, 0) + 1
    return out


def test_slow_headers(target, normal, report):
    """Rule: every connection closed within the read-header timeout + margin; no 5xx answer."""
    deadline = target.deadlines.read_header_s
    client = normal("http", target.http)
    conns = rawnet.trickle(
        target.http, SLOW_HEAD_CONNS, PREDICT_HEAD[:1], PREDICT_HEAD[1:], window_s=deadline + MARGIN_S + 1.0
    )
    time.sleep(0.5)
    client.stop()
    summary = client.summary()
    closed = [c.closed_after for c in conns if c.closed_after is not None]
    in_time = [t for t in closed if t <= deadline + MARGIN_S]
    five_xx = [c.status for c in conns if _server_error(c)]
    v = Verdict()
    judge_normal(v, summary)
    v.check(
        len(in_time) == len(conns),
        "%d of %d slow-header connections not closed within %g s (read-header timeout %g s + %g s); "
        "closed at %s"
        % (len(conns) - len(in_time), len(conns), deadline + MARGIN_S, deadline, MARGIN_S, _spread(closed)),
    )
    v.check(not five_xx, "%d slow-header connections answered 5xx (%s)" % (len(five_xx), sorted(set(five_xx))))
    text = "%d/%d closed, after %s (min/median/max; deadline %g s); answers %s" % (
        len(closed),
        len(conns),
        _spread(closed),
        deadline,
        _statuses(conns),
    )
    figures = {
        "connections": len(conns),
        "closed": len(closed),
        "closed_in_time": len(in_time),
        "close_s": {"min": min(closed, default=None), "p50": percentile(closed, 50), "max": max(closed, default=None)},
        "answers": _statuses(conns),
        "deadline_s": deadline,
    }
    finish(report, target.kind, "1 slow headers (300 × 1 B/s)", v, text, figures, summary)


def test_slow_body(target, normal, report):
    """Rule: the normal client; never a 5xx. Figures: whether and when the server closes a
    connection whose body trickles in (Go: its read timeout; granian: no body deadline)."""
    deadline = target.deadlines.body_read_s
    client = normal("http", target.http)
    threads_before = target.threads()
    head = PREDICT_HEAD.replace(b"Content-Length: 70", b"Content-Length: 1000")
    conns = rawnet.trickle(target.http, SLOW_BODY_CONNS, head, b" " * 1000, window_s=SLOW_BODY_WINDOW_S)
    threads_during = target.threads()
    time.sleep(0.5)
    client.stop()
    summary = client.summary()
    closed = [c.closed_after for c in conns if c.closed_after is not None]
    five_xx = [c.status for c in conns if _server_error(c)]
    v = Verdict()
    judge_normal(v, summary)
    v.check(
        not five_xx,
        "%d slow-body connections answered 5xx other than 503 + Retry-After (%s)"
        % (len(five_xx), sorted(set(five_xx))),
    )
    if deadline is None:
        v.note(
            "%s: %d of %d trickling connections closed by the server within %g s (%s)"
            % (target.kind, len(closed), len(conns), SLOW_BODY_WINDOW_S, target.deadlines.body_note)
        )
    else:
        v.check(
            len([t for t in closed if t <= deadline + MARGIN_S]) == len(conns),
            "%d of %d slow-body connections not closed within %g s (%s + %g s)"
            % (
                len(conns) - len([t for t in closed if t <= deadline + MARGIN_S]),
                len(conns),
                deadline + MARGIN_S,
                target.deadlines.body_note,
                MARGIN_S,
            ),
        )
    text = "%d/%d closed within %g s, after %s (%s); answers %s; server threads %d → %d" % (
        len(closed),
        len(conns),
        SLOW_BODY_WINDOW_S,
        _spread(closed),
        target.deadlines.body_note,
        _statuses(conns),
        threads_before,
        threads_during,
    )
    figures = {
        "connections": len(conns),
        "window_s": SLOW_BODY_WINDOW_S,
        "closed": len(closed),
        "close_s": {"min": min(closed, default=None), "p50": percentile(closed, 50), "max": max(closed, default=None)},
        "answers": _statuses(conns),
        "server_threads_before": threads_before,
        "server_threads_during": threads_during,
        "body_deadline": target.deadlines.body_note,
    }
    finish(report, target.kind, "2 slow body (100 × 1 B/s)", v, text, figures, summary)


def test_slow_grpc_messages(target, normal, report):
    """The slow body over gRPC. Rule: a call whose message has not all arrived holds no admission
    place (nor anything else the server has few of), so the normal gRPC client passes meanwhile;
    the server stays alive and answers a Predict once the slow calls are gone. Figures: how the
    server ended the slow calls while they trickled."""
    grpc_attack(target)
    iris = predict_pb2.PredictRequest(model="iris-logreg", instances=[predict_pb2.Instance(features=IRIS_FEATURES)])
    client = normal("grpc", target.grpc)
    figures = rawnet.grpc_slow_messages(
        target.grpc,
        PREDICT_METHOD,
        iris.SerializeToString(),
        SLOW_GRPC_CONNS,
        SLOW_GRPC_CALLS_PER_CONN,
        SLOW_GRPC_WINDOW_S,
    )
    time.sleep(0.5)
    client.stop()
    summary = client.summary()
    with grpc.insecure_channel(target.grpc) as channel:
        try:
            predict_pb2_grpc.PredictionServiceStub(channel).Predict(iris, timeout=5)
            after = "OK"
        except grpc.RpcError as e:
            after = e.code().name
    figures["after"] = after
    v = Verdict()
    judge_normal(v, summary)
    v.check(target.alive(), "the server process died")
    v.check(after == "OK", "after the slow calls, Predict answers %s" % after)
    text = (
        "%d calls on %d connections, %s bytes of each message in %g s; ended by the server meanwhile: %s; "
        "%d connections closed by it; after: %s"
        % (
            figures["calls"],
            figures["connections"],
            figures["bytes of each message sent"],
            SLOW_GRPC_WINDOW_S,
            figures["ended by the server"] or "none",
            figures["connections closed by the server"],
            after,
        )
    )
    finish(report, target.kind, "2 slow gRPC messages (100 × 1 B/s)", v, text, figures, summary)


def test_idle_flood(target, normal, report):
    """Rule: the normal client while the connections are idle; every idle connection closed within
    the idle timeout + margin. Setting the flood up is a burst of 2,000 requests (GET /healthz as
    fast as the server answers): the normal client's figures during that burst are reported, not
    judged (bursts are the overload attack's business)."""
    deadline = target.deadlines.idle_s
    client = normal("http", target.http)
    request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    flood_start = time.time()
    conns, peak, last_answer_at = rawnet.idle_flood(
        target.http, IDLE_CONNS, request, window_s=deadline + MARGIN_S + 1.0, max_s=20
    )
    flood_end = time.time()
    time.sleep(0.5)
    client.stop()
    last_answer_at = last_answer_at or flood_end
    setup = client.summary(since=flood_start, until=last_answer_at)
    summary = client.summary(since=last_answer_at, until=flood_end)
    answered = [c for c in conns if c.status == 200]
    idle_for = [c.closed_at - c.idle_at for c in conns if c.idle_at is not None and c.closed_at is not None]
    in_time = [t for t in idle_for if t <= deadline + MARGIN_S]
    failures: dict[str, int] = {}
    for c in conns:
        if c.status != 200:
            key = c.error or "HTTP %s" % c.status
            failures[key] = failures.get(key, 0) + 1
    v = Verdict()
    judge_normal(v, summary)
    v.check(
        len(answered) == IDLE_CONNS,
        "%d of %d flood requests not answered 200: %s" % (IDLE_CONNS - len(answered), IDLE_CONNS, failures),
    )
    v.check(
        len(in_time) == len(answered),
        "%d of %d idle connections not closed within %g s (%s + %g s); idle for %s before the close"
        % (
            len(answered) - len(in_time),
            len(answered),
            deadline + MARGIN_S,
            target.deadlines.idle_note,
            MARGIN_S,
            _spread(idle_for),
        ),
    )
    text = (
        "%d/%d answered, set up in %.2f s (normal p99 meanwhile %s ms), peak %d idle at once; closed after %s "
        "idle (%s)"
        % (
            len(answered),
            IDLE_CONNS,
            last_answer_at - flood_start,
            setup.p99_ms,
            peak,
            _spread(idle_for),
            target.deadlines.idle_note,
        )
    )
    figures = {
        "connections": IDLE_CONNS,
        "answered": len(answered),
        "failures": failures,
        "peak_idle": peak,
        "idle_close_s": {
            "min": min(idle_for, default=None),
            "p50": percentile(idle_for, 50),
            "max": max(idle_for, default=None),
        },
        "closed_in_time": len(in_time),
        "deadline_s": deadline,
        "setup_s": round(last_answer_at - flood_start, 3),
        "normal_during_setup": setup.as_dict(),
    }
    finish(report, target.kind, "3 idle flood (2,000 keep-alive)", v, text, figures, summary)
