"""Attack 8, kill -9 under load, beside the normal clients (HTTP JSON and gRPC at once).

Python: kill -9 the granian HTTP worker (granian's master starts another), then the gRPC worker (the
supervisor starts another). Go: kill -9 the process and start it again through the harness on the
same ports. Rule: the endpoint answers correctly again within 5 s of the kill (a probe sends a
normal request every 10 ms from the kill on: recovery = from the kill to its first correct answer);
the normal client's rule holds outside [kill, kill + recovery + 1 s] (the second: its own reconnect).
"""

from __future__ import annotations

import os
import signal
import threading
import time

import grpc
import pytest

from tests.reliability import harness
from tests.reliability.conftest import finish, judge_normal
from tests.reliability.report import Verdict
from tests.reliability.test_overload import recover_grpc, recover_http

pytestmark = [pytest.mark.reliability, pytest.mark.process]

RECOVERY_MAX_S = 5.0
STEADY_S = 2.0
CLIENT_GRACE_S = 1.0  # after the recovery, for the normal client's own reconnect (gRPC backoff ≤ 0.5 s)


def _probe_grpc(address: str, max_s: float) -> float | None:
    from python_service.gen.predict.v1 import predict_pb2_grpc

    options = [
        ("grpc.initial_reconnect_backoff_ms", 50),
        ("grpc.min_reconnect_backoff_ms", 50),
        ("grpc.max_reconnect_backoff_ms", 200),
    ]
    with grpc.insecure_channel(address, options=options) as channel:
        return recover_grpc(predict_pb2_grpc.PredictionServiceStub(channel), max_s)


def _probe(protocol: str, address: str, out: dict) -> threading.Thread:
    def run():
        out[protocol] = recover_http(address, 10.0) if protocol == "http" else _probe_grpc(address, 10.0)

    thread = threading.Thread(target=run, name="probe-" + protocol)
    thread.start()
    return thread


def _kill(proc) -> int:
    pid = proc.pid
    os.kill(pid, signal.SIGKILL)
    return pid


def _row(report, target, what, protocol, client, killed_at, recovery, extra, v):
    until = killed_at + (recovery + CLIENT_GRACE_S if recovery is not None else 10.0)
    outside = [r for r in client.records if not (killed_at <= r[0] < until)]
    from tests.reliability.normal import summarise

    summary = summarise(outside, client.retries)
    inside = client.summary(since=killed_at, until=until)
    judge_normal(v, summary)
    v.check(
        recovery is not None and recovery <= RECOVERY_MAX_S,
        "%s: no correct answer within %g s of the kill%s"
        % (protocol, RECOVERY_MAX_S, "" if recovery is None else " (%.2f s)" % recovery),
    )
    text = "recovered in %s; normal requests sent meanwhile: %d, %d failed; %s" % (
        "—" if recovery is None else "%.2f s" % recovery,
        inside.sent,
        inside.sent - inside.ok,
        extra,
    )
    figures = {"recovery_s": recovery, "normal_during": inside.as_dict(), "detail": extra}
    finish(report, target.kind, "8 kill -9 %s" % what, v, text, figures, summary)


def test_kill_9(target, normal, report):
    http_client = normal("http", target.http)
    grpc_client = normal("grpc", target.grpc)
    time.sleep(STEADY_S)
    results: dict = {}
    rows = []
    if target.kind == "python":
        (http_host,) = harness.python_children(target, "python_service.server.process.http_host")
        workers = http_host.children()
        assert workers, "granian has no worker process"
        killed_at = time.time()
        pid = _kill(workers[0])
        _probe("http", target.http, results).join()
        new = [p.pid for p in http_host.children()]
        rows.append(
            (
                "(HTTP worker)",
                "http",
                killed_at,
                results.get("http"),
                "granian worker pid %d killed, now %s" % (pid, new),
            )
        )
        time.sleep(STEADY_S)
        (grpc_worker,) = harness.python_children(target, "python_service.server.process.grpc_host")
        killed_at = time.time()
        pid = _kill(grpc_worker)
        _probe("grpc", target.grpc, results).join()
        new = [p.pid for p in harness.python_children(target, "python_service.server.process.grpc_host")]
        rows.append(
            ("(gRPC worker)", "grpc", killed_at, results.get("grpc"), "gRPC worker pid %d killed, now %s" % (pid, new))
        )
    else:
        old = target.server
        killed_at = time.time()
        pid = _kill(old.proc)
        probes = [_probe("http", old.endpoints["http"], results), _probe("grpc", old.endpoints["grpc"], results)]
        old.proc.wait()
        target.sup.stop(old.proc)
        started = time.monotonic()
        restarted = harness.start(
            target.sup,
            "go",
            old.log_path + ".restart",
            harness.MODELS,
            "--http-addr",
            old.endpoints["http"],
            "--grpc-addr",
            old.endpoints["grpc"],
        )
        restart_s = time.monotonic() - started
        target.server = restarted.server
        for t in probes:
            t.join()
        detail = "pid %d killed, restarted as %d on the same ports (harness start %.2f s)" % (
            pid,
            restarted.pid,
            restart_s,
        )
        rows.append(("+ restart (HTTP)", "http", killed_at, results.get("http"), detail))
        rows.append(("+ restart (gRPC)", "grpc", killed_at, results.get("grpc"), detail))
    time.sleep(STEADY_S)
    http_client.stop()
    grpc_client.stop()
    failures = []
    for what, protocol, killed_at, recovery, extra in rows:
        client = http_client if protocol == "http" else grpc_client
        try:
            _row(report, target, what, protocol, client, killed_at, recovery, extra, Verdict())
        except pytest.fail.Exception as e:
            failures.append(str(e))
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
