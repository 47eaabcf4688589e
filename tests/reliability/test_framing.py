"""Attack 5, malformed HTTP/1.1 framing on raw sockets, beside the normal client (HTTP JSON).

Each case is sent REPEATS times, each on a fresh connection, WAVE at a time (one: this attack is
about framing, not load, so that a case a server may answer correctly is never refused as overload;
it was half the old count bound of 2 per CPU on the one server CPU). Rule for every case: an
answer of 400 or 431 (the contract's malformed_framing / headers_too_large) and the connection
closed within 2 s; never 5xx; the normal client unaffected. Two cases may also be answered
correctly: both Content-Length and Transfer-Encoding (RFC 9112 §6.3 lets a server reject it, or
process it as chunked and close the connection; granian does the latter), and 200 headers whose
head is under the header-byte cap (the contract caps bytes, not the number of headers).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.reliability import rawnet
from tests.reliability.conftest import finish, judge_normal
from tests.reliability.normal import IRIS_BODY, iris_answer_ok
from tests.reliability.report import Verdict

pytestmark = [pytest.mark.reliability, pytest.mark.process]

REPEATS = 10
WAVE = 1
CLOSE_WITHIN_S = 2.0
HEAD = b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


def chunked(body: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


CASES = {
    # name: (request bytes, may it be answered 200 with the right prediction)
    "CL + TE": (
        HEAD
        + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(chunked(IRIS_BODY))
        + chunked(IRIS_BODY),
        True,
    ),
    "non-hex chunk size": (HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + IRIS_BODY + b"\r\n0\r\n\r\n", False),
    "23-digit chunk size": (
        HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 23 + b"\r\n" + IRIS_BODY + b"\r\n0\r\n\r\n",
        False,
    ),
    "100 KB header line": (
        HEAD + b"Content-Length: %d\r\nX-Big: %s\r\n\r\n" % (len(IRIS_BODY), b"a" * 100_000) + IRIS_BODY,
        False,
    ),
    "200 headers": (
        HEAD
        + b"Content-Length: %d\r\n" % len(IRIS_BODY)
        + b"".join(b"X-H%03d: v\r\n" % i for i in range(200))
        + b"\r\n"
        + IRIS_BODY,
        True,
    ),
    "bad Content-Length": (HEAD + b"Content-Length: 12abc\r\n\r\n" + IRIS_BODY, False),
    "two Content-Lengths": (
        HEAD + b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n" % len(IRIS_BODY) + IRIS_BODY,
        False,
    ),
}


def _correct(ex: rawnet.Exchange) -> bool:
    try:
        return ex.status == 200 and iris_answer_ok(json.loads(ex.body))
    except ValueError:
        return False


def _judge(name: str, may_answer: bool, results: list[rawnet.Exchange], v: Verdict) -> str:
    statuses: dict[str, int] = {}
    for ex in results:
        key = str(ex.status) if ex.status else "closed, no answer" if ex.closed else "no answer"
        statuses[key] = statuses.get(key, 0) + 1
    refused = [ex for ex in results if ex.status in (400, 431)]
    answered = [ex for ex in results if _correct(ex)]
    closed_late = [
        ex
        for ex in refused + (answered if name == "CL + TE" else [])
        if not ex.closed or (ex.closed_after_answer or 0) > CLOSE_WITHIN_S
    ]
    five_xx = [ex.status for ex in results if ex.status and ex.status >= 500]
    other = len(results) - len(refused) - (len(answered) if may_answer else 0)
    v.check(not five_xx, "%s: answered %s" % (name, sorted(set(five_xx))))
    v.check(
        other == 0,
        "%s: %d of %d not answered 400/431%s: %s"
        % (name, other, len(results), " or correctly" if may_answer else "", statuses),
    )
    v.check(
        not closed_late,
        "%s: %d connections not closed within %g s of the answer" % (name, len(closed_late), CLOSE_WITHIN_S),
    )
    if answered and may_answer:
        v.note(
            "%s: answered with a correct prediction (%d of %d)%s"
            % (name, len(answered), len(results), ", then closed" if name == "CL + TE" else "")
        )
    waits = [ex.closed_after_answer for ex in results if ex.closed_after_answer is not None]
    close = "closed ≤ %.2f s after" % max(waits) if waits and all(ex.closed for ex in results) else "some left open"
    return "%s → %s, %s" % (name, ", ".join("%s×%d" % kv for kv in sorted(statuses.items())), close)


def test_malformed_framing(target, normal, report):
    client = normal("http", target.http)
    v = Verdict()
    parts, figures = [], {}
    with ThreadPoolExecutor(max_workers=WAVE) as pool:
        for name, (payload, may_answer) in CASES.items():
            results = list(pool.map(rawnet.exchange, [target.http] * REPEATS, [payload] * REPEATS))
            parts.append(_judge(name, may_answer, results, v))
            figures[name] = [
                {
                    "status": ex.status,
                    "closed": ex.closed,
                    "closed_after_answer_s": ex.closed_after_answer,
                    "how": ex.how,
                    "send_error": ex.send_error,
                    "body": ex.body[:200].decode("utf-8", "replace"),
                }
                for ex in results[:2]
            ]
    time.sleep(1.0)
    client.stop()
    summary = client.summary()
    judge_normal(v, summary)
    v.check(target.alive(), "the server process died")
    finish(report, target.kind, "5 malformed framing", v, "; ".join(parts), figures, summary)
